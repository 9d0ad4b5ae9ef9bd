/**
 * RetryBudget: a cap on retry amplification.
 *
 * Per-request retry limits (`maxAttempts`) do not stop a fleet of callers from
 * tripling the load on a provider that is already failing. A retry budget
 * looks at all calls for a key together and lets retries through only while
 * they stay a small share of the traffic. Two classic kinds:
 *
 * - `tokenBucket` (gRPC's retry throttling): the bucket starts full at
 *   `maxTokens`; every transient failure costs 1 token, every success earns
 *   `tokenRatio`; a retry is allowed only while more than half the tokens
 *   remain. During an outage retries stop after about `maxTokens / 2`
 *   failures and resume as successes refill the bucket.
 * - `ratio` (Finagle's `RetryBudget`, Envoy): over a sliding window, retries
 *   may be at most `ratio` of the requests, plus `minRetriesPerSecond` so that
 *   a quiet service can still retry. This is the `Resilience` pipeline's
 *   default (30 % of the last 10 s of requests, plus 1 a second).
 *
 * A budget is used by `Retry` (option `budget`): when it says no, retrying
 * stops with the last error, a `BudgetExhausted` event and the stop reason
 * `BudgetExhausted`. Its state lives in the `StateStore`, so processes can
 * share one budget per provider.
 *
 * Details:
 *
 * - a ratio budget is told of every logical request (`Retry` records it when
 *   the call starts) and counts each retry when it grants it; requests and
 *   retries are counted in 10 slices of the window (as Finagle's
 *   `WindowedAdder` does), so each counts until its slice leaves the window:
 *   between `window × 0.9` and `window` after it happened. A key's state is 10
 *   slices whatever the traffic;
 * - the allowance is `floor(ratio × requests + minRetriesPerSecond × window)`
 *   minus the retries granted, over the window;
 * - a retry that never reaches the provider costs nothing: when the breaker,
 *   the bulkhead or a local rate limit refuses it, or its caller gives up while
 *   waiting for it, `Retry` gives it back (`reserve` / `refund`); a token bucket
 *   counts only failures that came from the provider.
 *
 * Gotchas:
 *
 * - which to pick: a token bucket (10 tokens, 0.1 per success) lets through
 *   about one retry per 10 successes, so a steady 20 % error rate loses about
 *   18 % of requests (the simulator's scenario 3: 79–80 % success); a ratio
 *   budget of 30 % absorbs it (0.25 retries per request at 20 % errors, 99.9 %
 *   success). During a full outage a ratio budget alone still lets `ratio` of
 *   the requests retry (1.24 calls per request in scenario 1, without a
 *   breaker): the circuit breaker is what stops sending (0.47 with it);
 * - the floor is per key and per store: with a shared store (Redis) it is the
 *   whole fleet's floor, not each process's;
 * - `level` is what is left in the window now, so it rises as requests and
 *   retries age out, without any call.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as metrics from "./internal/metrics.js"
import * as check from "./internal/validate.js"
import { Issues } from "./internal/validate.js"
import { InvalidPolicyError } from "./PolicyError.js"
import * as StateStore from "./StateStore.js"

/**
 * A retry budget for one key, bound to a store.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget: RetryBudget.RetryBudget = yield* RetryBudget.tokenBucket({ key: "openai" })
 *   return budget.settings
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget {
  readonly key: string
  readonly settings: StateStore.BudgetSettings
  readonly store: StateStore.BudgetStore
}

/**
 * Options of a gRPC-style token-bucket budget.
 *
 * @example
 * ```ts
 * import type { RetryBudget } from "@effect-resilience/core"
 *
 * const options: RetryBudget.TokenBucketOptions = { maxTokens: 10, tokenRatio: 0.1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenBucketOptions {
  /** The bucket's size; it starts full. Default 10 (gRPC's example). */
  readonly maxTokens?: number | undefined
  /** Tokens a success earns back (> 0, ≤ maxTokens). Default 0.1. */
  readonly tokenRatio?: number | undefined
  /** Default `"default"`. */
  readonly key?: string | undefined
}

/**
 * Options of a Finagle/Envoy-style ratio budget.
 *
 * @example
 * ```ts
 * import type { RetryBudget } from "@effect-resilience/core"
 *
 * const options: RetryBudget.RatioOptions = { ratio: 0.2, minRetriesPerSecond: 10, window: "10 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RatioOptions {
  /** Retries allowed per request, 0..1. Default 0.2 (Finagle's and Envoy's 20 %). */
  readonly ratio?: number | undefined
  /** Retries always allowed per second, whatever the traffic. Default 10 (Finagle). */
  readonly minRetriesPerSecond?: number | undefined
  /** The sliding window. Default 10 s (Finagle). */
  readonly window?: Duration.DurationInput | undefined
  /** Default `"default"`. */
  readonly key?: string | undefined
}

const validateKey = (issues: Issues, key: unknown): string => {
  if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
  return key as string
}

/**
 * Checks token-bucket options and gives the store settings, or every problem found.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 *
 * RetryBudget.validateTokenBucket({ maxTokens: 0 }) // Left(InvalidPolicyError)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validateTokenBucket = (
  options: TokenBucketOptions = {}
): Either.Either<{ readonly key: string; readonly settings: StateStore.BudgetSettings }, InvalidPolicyError> => {
  const issues = new Issues()
  const maxTokens = options.maxTokens ?? 10
  const tokenRatio = options.tokenRatio ?? 0.1
  issues.check("maxTokens", check.finiteNumber(maxTokens, "> 0"))
  issues.check("tokenRatio", check.tokenRatio(tokenRatio, maxTokens))
  const key = validateKey(issues, options.key ?? "default")
  return issues.list.length > 0
    ? Either.left(new InvalidPolicyError({ policy: "retry budget", issues: issues.list }))
    : Either.right({ key, settings: { _tag: "TokenBucket", maxTokens, tokenRatio } })
}

/**
 * Checks ratio options and gives the store settings, or every problem found.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 *
 * RetryBudget.validateRatio({ ratio: 1.5 }) // Left(InvalidPolicyError)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validateRatio = (
  options: RatioOptions = {}
): Either.Either<{ readonly key: string; readonly settings: StateStore.BudgetSettings }, InvalidPolicyError> => {
  const issues = new Issues()
  const ratio = options.ratio ?? 0.2
  const minRetriesPerSecond = options.minRetriesPerSecond ?? 10
  issues.numberInRange("ratio", ratio, 0, 1)
  issues.check("minRetriesPerSecond", check.finiteNumber(minRetriesPerSecond, "≥ 0"))
  const window = issues.duration("window", options.window ?? "10 seconds", { positive: true })
  const key = validateKey(issues, options.key ?? "default")
  return issues.list.length > 0 || window === undefined
    ? Either.left(new InvalidPolicyError({ policy: "retry budget", issues: issues.list }))
    : Either.right({
      key,
      settings: { _tag: "Ratio", ratio, minRetriesPerSecond, windowMillis: Duration.toMillis(window) }
    })
}

const bind = (
  validated: Either.Either<{ readonly key: string; readonly settings: StateStore.BudgetSettings }, InvalidPolicyError>
): Effect.Effect<RetryBudget, InvalidPolicyError> =>
  Either.match(validated, {
    onLeft: Effect.fail,
    onRight: ({ key, settings }) => Effect.map(StateStore.current, (store) => ({ key, settings, store: store.budget }))
  })

/**
 * A gRPC-style token-bucket budget on the `StateStore` in context (or a fresh
 * in-memory one).
 *
 * @example
 * ```ts
 * import { Retry, RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.tokenBucket({ maxTokens: 10, tokenRatio: 0.1, key: "openai" })
 *   const policy = Retry.policy({ budget })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokenBucket = (options?: TokenBucketOptions): Effect.Effect<RetryBudget, InvalidPolicyError> =>
  bind(validateTokenBucket(options))

/**
 * A Finagle/Envoy-style ratio budget on the `StateStore` in context (or a
 * fresh in-memory one).
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 *
 * const budget = RetryBudget.ratio({ ratio: 0.1, minRetriesPerSecond: 5, window: "10 seconds", key: "anthropic" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ratio = (options?: RatioOptions): Effect.Effect<RetryBudget, InvalidPolicyError> =>
  bind(validateRatio(options))

/**
 * The same budget policy and store, for another key: how one budget
 * configuration serves every provider key.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const perModel = Effect.map(RetryBudget.tokenBucket(), (budget) => RetryBudget.withKey(budget, "openai/gpt-4o"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withKey: {
  (key: string): (self: RetryBudget) => RetryBudget
  (self: RetryBudget, key: string): RetryBudget
} = dual(2, (self: RetryBudget, key: string): RetryBudget => self.key === key ? self : { ...self, key })

/**
 * Records one event: a logical request, or the outcome of one call (only
 * transient failures are `Failure`). `Retry` does this for you.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.ratio()
 *   yield* RetryBudget.record(budget, "Request")
 * })
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const record = (self: RetryBudget, event: "Request" | "Success" | "Failure"): Effect.Effect<void> => {
  if (self.settings._tag === "Ratio") {
    return Effect.flatMap(currentMillis, (now) => self.store.record(self.key, now, self.settings, event))
  }
  // A token bucket ignores requests and time: skip the store call on the happy path, and the clock read.
  return event === "Request" ? Effect.void : self.store.record(self.key, 0, self.settings, event)
}

/**
 * A retry the budget allowed, counted when it was granted (`at`, epoch
 * milliseconds of the `Clock`). If the retry never reaches the provider (a
 * breaker or bulkhead refuses it, or its caller gives up while waiting),
 * `refund` gives it back. `Retry` does both for you.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.ratio()
 *   const reservation: RetryBudget.Reservation | undefined = yield* RetryBudget.reserve(budget)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reservation {
  readonly budget: RetryBudget
  readonly at: number
}

/**
 * Asks for one retry: a `Reservation` when the budget allows it (the retry is
 * then counted), `undefined` when it does not.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.ratio({ ratio: 0.2, minRetriesPerSecond: 1 })
 *   const reservation = yield* RetryBudget.reserve(budget)
 *   // ... the retry was refused locally, before reaching the provider:
 *   if (reservation !== undefined) yield* RetryBudget.refund(reservation)
 * })
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const reserve = (self: RetryBudget): Effect.Effect<Reservation | undefined> =>
  Effect.flatMap(currentMillis, (now) =>
    Effect.flatMap(self.store.withdraw(self.key, now, self.settings), (allowed) =>
      // Retry decisions are rare next to calls: the gauge is brought up to date at each one.
      Effect.as(
        Effect.flatMap(
          self.store.level(self.key, now, self.settings),
          // Only for keys with series of their own (see internal/metrics.ts).
          (level) => Effect.sync(() => metrics.bindKeyGauge(levelGauge, { "resilience.key": self.key })(level))
        ),
        allowed ? { budget: self, at: now } : undefined
      )))

/**
 * Gives back a reserved retry that never reached the provider: a ratio budget
 * stops counting it (a token bucket counts nothing when it grants a retry, so
 * there is nothing to give back).
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.ratio({ ratio: 0, minRetriesPerSecond: 0.1, window: "10 seconds" })
 *   const reservation = yield* RetryBudget.reserve(budget) // the window's only retry
 *   if (reservation !== undefined) yield* RetryBudget.refund(reservation)
 *   return yield* RetryBudget.level(budget) // 1 again
 * })
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const refund = (reservation: Reservation): Effect.Effect<void> => {
  const budget = reservation.budget
  return budget.settings._tag === "TokenBucket"
    ? Effect.void
    : Effect.flatMap(currentMillis, (now) => budget.store.refund(budget.key, now, budget.settings, reservation.at))
}

/**
 * Asks for one retry: `true` when the budget allows it (it is then counted).
 * `reserve` does the same and can give the retry back.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const allowed = Effect.flatMap(RetryBudget.tokenBucket(), RetryBudget.withdraw)
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const withdraw = (self: RetryBudget): Effect.Effect<boolean> =>
  Effect.map(reserve(self), (reservation) => reservation !== undefined)

/**
 * The level of each retry budget (tokens left, or retries still allowed in the
 * window), tagged with `resilience.key`, as of its last retry decision.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const level = Metric.value(RetryBudget.levelGauge.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const levelGauge: Metric.Metric.Gauge<number> = Metric.gauge("resilience.budget.level", {
  description: "Retry budget level at the last retry decision: tokens left, or retries still allowed in the window"
})

/**
 * The budget's level: tokens left (token bucket) or retries still allowed in
 * the window (ratio).
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const tokens = Effect.flatMap(RetryBudget.tokenBucket({ maxTokens: 10 }), RetryBudget.level) // 10
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const level = (self: RetryBudget): Effect.Effect<number> =>
  Effect.flatMap(currentMillis, (now) => self.store.level(self.key, now, self.settings))

const currentMillis = Effect.clockWith((clock) => clock.currentTimeMillis)
