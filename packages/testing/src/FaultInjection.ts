/**
 * FaultInjection: chaos for any effect, in virtual time and reproducible.
 *
 * In the spirit of Polly's Simmy: an `Injector` stands between a caller and
 * any effect and decides, call by call, whether the call reaches the effect
 * or gets a provider failure instead, and how long the answer takes:
 *
 * 1. an outage window answers every call that arrives inside it ("503 from
 *    t = 10 s to t = 70 s", counted from the injector's `start`);
 * 2. a token bucket answers 429 with the Retry-After of the next token when
 *    it is empty, like a provider's rate limit;
 * 3. error rates per kind (`{ overloaded: 0.1, serverError: 0.05 }`) fail a
 *    share of the remaining calls with the kind's `ProviderError`;
 * 4. a latency distribution (fixed, uniform, exponential) delays every
 *    answer, failures included.
 *
 * Time is read and spent through effect's `Clock`, and every draw comes from
 * effect's `Random` (or from the injector's own generator when `seed` is set),
 * so under `TestClock` and a seeded `Random` (`SeededRandom.withSeed`) the
 * same seed gives the same faults at the same instants, every run.
 *
 * @since 0.1.0
 */
import type { PolicyError, ProviderError } from "@effect-resilience/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as internal from "./internal/faultInjection.js"

/**
 * The kinds of failure an injector can answer with, each as a provider sends it:
 *
 * - transient: `rateLimited` (429), `overloaded` (529), `serverError` (500),
 *   `unavailable` (503), `timeout` (504), `network` (no status: the
 *   connection dropped);
 * - permanent: `unauthorized` (401), `quotaExhausted` (429),
 *   `invalidRequest` (400), `contextLengthExceeded` (400).
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * const kind: FaultInjection.ErrorKind = "overloaded"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorKind =
  | "rateLimited"
  | "overloaded"
  | "serverError"
  | "unavailable"
  | "timeout"
  | "network"
  | "unauthorized"
  | "quotaExhausted"
  | "invalidRequest"
  | "contextLengthExceeded"

/**
 * How long each answer takes: `fixed`, `uniform` between `min` and `max`, or
 * `exponential` with a `mean` (capped at `max` when given). Drawn values are
 * rounded to whole milliseconds. `rate` (default 1) is the share of calls
 * delayed; the others are answered at once.
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * const steady: FaultInjection.Latency = { kind: "fixed", duration: "200 millis" }
 * const spread: FaultInjection.Latency = { kind: "uniform", min: "100 millis", max: "300 millis" }
 * const tail: FaultInjection.Latency = { kind: "exponential", mean: "400 millis", max: "30 seconds", rate: 0.1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Latency =
  | { readonly kind: "fixed"; readonly duration: Duration.DurationInput; readonly rate?: number | undefined }
  | {
    readonly kind: "uniform"
    readonly min: Duration.DurationInput
    readonly max: Duration.DurationInput
    readonly rate?: number | undefined
  }
  | {
    readonly kind: "exponential"
    readonly mean: Duration.DurationInput
    readonly max?: Duration.DurationInput | undefined
    readonly rate?: number | undefined
  }

/**
 * A window in which every call fails: from `from` (included) to `to`
 * (excluded), both counted from the injector's `start`. The failure is
 * `error` (default `"unavailable"`, a 503), with `retryAfter` when given.
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * // 503 from t = 10 s to t = 70 s
 * const outage: FaultInjection.Outage = { from: "10 seconds", to: "70 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Outage {
  readonly from: Duration.DurationInput
  readonly to: Duration.DurationInput
  readonly error?: ErrorKind | undefined
  readonly retryAfter?: Duration.DurationInput | undefined
}

/**
 * A provider's rate limit as a token bucket: at most `limit` calls at once
 * (the bucket starts full), refilled continuously at `limit` per `window`.
 * A call that finds it empty gets a 429 whose Retry-After is the time until
 * the next token, rounded up to a whole millisecond.
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * // 600 requests per minute: a burst of 600, then one every 100 ms
 * const rateLimit: FaultInjection.RateLimit = { limit: 600, window: "1 minute" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit {
  readonly limit: number
  readonly window: Duration.DurationInput
}

/**
 * The faults to inject. Every field is optional; an empty config injects
 * nothing and lets every call through at once.
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * const config: FaultInjection.Config = {
 *   provider: "openai",
 *   errors: { overloaded: 0.1, serverError: 0.05, rateLimited: { rate: 0.02, retryAfter: "2 seconds" } },
 *   latency: { kind: "uniform", min: "100 millis", max: "300 millis" },
 *   outages: [{ from: "10 seconds", to: "70 seconds" }],
 *   rateLimit: { limit: 60, window: "1 minute" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** The name the injected errors carry. Default `"fault-injection"`. */
  readonly provider?: string | undefined
  /**
   * The share of calls (from 0 to 1; all together at most 1) that fail with
   * each kind, drawn once per call among the calls that pass the outage
   * windows and the rate limit.
   */
  readonly errors?:
    | {
      readonly [K in ErrorKind]?:
        | number
        | { readonly rate: number; readonly retryAfter?: Duration.DurationInput | undefined }
        | undefined
    }
    | undefined
  readonly latency?: Latency | undefined
  readonly outages?: ReadonlyArray<Outage> | undefined
  readonly rateLimit?: RateLimit | undefined
  /** The `Clock` instant (milliseconds) outage windows count from. Default: when `make` runs. */
  readonly start?: number | undefined
  /**
   * When set, faults are drawn from the injector's own generator seeded with
   * this, so they do not shift when other code (e.g. a policy's jitter) draws
   * from `Random`. Default: draw from the `Random` service of each call.
   */
  readonly seed?: unknown
}

/**
 * What the injector did with one call: let it through, or answered it with
 * an outage, the rate limit, or an injected error; and after what latency.
 *
 * @example
 * ```ts
 * import type { FaultInjection } from "@effect-resilience/testing"
 *
 * const describe = (decision: FaultInjection.Decision): string =>
 *   decision._tag === "Injected" ? decision.kind : decision._tag
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Passed"; readonly at: number; readonly latency: Duration.Duration }
  | {
    readonly _tag: "Outage"
    readonly at: number
    readonly latency: Duration.Duration
    readonly error: ProviderError.ProviderError
  }
  | {
    readonly _tag: "RateLimited"
    readonly at: number
    readonly latency: Duration.Duration
    readonly error: ProviderError.ProviderError
  }
  | {
    readonly _tag: "Injected"
    readonly at: number
    readonly latency: Duration.Duration
    readonly kind: ErrorKind
    readonly error: ProviderError.ProviderError
  }

/**
 * A fault injector: its state (the token bucket, the start instant, the
 * decisions so far) is shared by every effect it wraps.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const injector: FaultInjection.Injector = yield* FaultInjection.make({ errors: { overloaded: 0.5 } })
 *   yield* Effect.succeed("hello").pipe(FaultInjection.inject(injector), Effect.ignore)
 *   const decisions = yield* injector.decisions
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Injector {
  /** The `Clock` instant (milliseconds) outage windows count from. */
  readonly start: number
  /** Wraps an effect; see `FaultInjection.inject`. */
  readonly inject: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ProviderError.ProviderError, R>
  /** What the injector did with every call so far, in order (one record per call, kept for the injector's life). */
  readonly decisions: Effect.Effect<ReadonlyArray<Decision>>
}

/**
 * Makes an injector from a config, checked once: an invalid one fails with
 * an `InvalidPolicyError` that lists every problem.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "@effect-resilience/core"
 * import { FaultInjection } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const injector = yield* FaultInjection.make({
 *     errors: { overloaded: 0.1, serverError: 0.05 },
 *     outages: [{ from: "10 seconds", to: "70 seconds" }]
 *   })
 *   for (let i = 0; i < 100; i++) {
 *     yield* Effect.succeed(i).pipe(FaultInjection.inject(injector), Effect.ignore)
 *   }
 *   return yield* injector.decisions
 * }).pipe(SeededRandom.withSeed(42)) // the same 100 decisions on every run
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (config?: Config) => Effect.Effect<Injector, PolicyError.InvalidPolicyError> = internal.make

/**
 * Runs an effect through an injector: the call may fail with an injected
 * `ProviderError` instead of running, and its answer may be delayed.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { FaultInjection } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string>
 *
 * const program = Effect.gen(function*() {
 *   const injector = yield* FaultInjection.make({ rateLimit: { limit: 10, window: "1 minute" } })
 *   // data-last
 *   const a = yield* complete.pipe(FaultInjection.inject(injector), Retry.retry(Retry.standard))
 *   // data-first
 *   const b = yield* FaultInjection.inject(complete, injector)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const inject: {
  (injector: Injector): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ProviderError.ProviderError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, injector: Injector): Effect.Effect<A, E | ProviderError.ProviderError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, injector: Injector): Effect.Effect<A, E | ProviderError.ProviderError, R> =>
    injector.inject(self)
)
