/**
 * Resilience: every policy composed, in the right order, into one pipeline.
 *
 * One logical call passes, outside in:
 *
 * 1. deadline (the total time allowed, visible to everything inside)
 * 2. retry (backoff, Retry-After, retry budget)
 * 3. admission, for *every attempt* (the rate limiter: learned from the
 *    provider by default, a configured rate as a ceiling; requests and tokens
 *    per minute; waits in a queue per key)
 * 4. circuit breaker (one per key)
 * 5. bulkhead (concurrency limit and bounded queue per key)
 * 6. attempt timeout
 * 7. the provider call
 *
 * The order is what makes the policies work together: a retry spends the
 * provider's quota like any call, so each attempt is admitted, not only the
 * first; a call waiting for admission holds no bulkhead slot and spends none
 * of its attempt timeout, but it does spend its deadline (the deadline is the
 * caller's total time: a call that cannot be admitted in time fails with
 * `DeadlineExceededError`, activity "waiting for admission"); a retry asks
 * the breaker again before each call, so it stops calling a provider that
 * went down; a call refused by the breaker, the bulkhead or a local limiter
 * never reached the provider, so it costs the retry budget nothing and never
 * counts against the provider's health.
 *
 * **Defaults: learned admission.** With no `rateLimiter` given, each key
 * (e.g. `"openai/gpt-4o"`) learns the provider's limits from what it says:
 *
 * - Cold start: a new key admits at most 10 attempts in flight, one more per
 *   success (TCP slow start: doubling every round trip while all succeed),
 *   until the first limit signal. A burst of any size costs about one round
 *   trip before the provider has said what its limits are.
 * - Headers (`observe`, fed automatically by `ResilientHttpClient` and the
 *   `@effect/ai` layers): `limitRequests` / `limitTokens` set the rate to
 *   `limit / 60 s` (a bucket of one second's worth of requests, a minute's
 *   worth of tokens); `remaining` lowers what is left. With no limit known,
 *   `remaining: 0` and a reset hold the key until the reset. Headers take
 *   precedence over a rate learned from 429s: the first ones set the level
 *   to their `remaining` (up to the bucket's size).
 * - 429s alone (a provider with no such headers): every caller of the key is
 *   held until the Retry-After has passed (one pause for all), and the rate
 *   drops to 0.7 × the success rate measured since the previous 429 (at least
 *   1 a second), then grows back as CUBIC does while no 429 comes (back to
 *   that rate after `∛(rate · 0.3 / 0.4)` seconds, above it after). Other
 *   failures (5xx, timeouts) never slow a key.
 * - `rateLimiter: { requestsPerMinute, tokensPerMinute }` is a ceiling the
 *   learned rates never exceed (and no cold-start window: the configured
 *   burst bounds a first burst already); `learn: false` keeps only the
 *   configured limiter; `rateLimiter: false` turns admission off.
 * - Each `LimitLearned` event (and the `resilience.ratelimiter.learned`
 *   counter) says what was learned, from headers or from throttling.
 *
 * **Gotchas.**
 *
 * - Learning is per pipeline and per process, in memory: build the pipeline
 *   once for the application (`Resilience.layer`, provided once), so that
 *   every caller of a key shares what it learned. Two pipelines learn twice.
 * - Under learned admission the breaker does not count 429s (a burst's 429s
 *   are the limiter's business, not a sign of a failing provider).
 * - Keys are kept for the 10,000 most recently used; a key's state (timeout,
 *   limiter, admission) is made at its first call in one synchronous step.
 *
 * A pipeline is built from plain data (`Resilience.Config`, validated once
 * with every problem listed), so it can come from a file or from effect's
 * `Config`. Every policy has a default; `false` turns one off; a section
 * given in part is merged with the default section field by field.
 *
 * @since 0.1.0
 */
import type * as EffectConfig from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Bulkhead from "./Bulkhead.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import type * as Classify from "./Classify.js"
import * as Deadline from "./Deadline.js"
import * as internal from "./internal/resilience.js"
import type * as configInternal from "./internal/resilienceConfig.js"
import type * as PolicyError from "./PolicyError.js"
import * as RateLimiter from "./RateLimiter.js"
import * as Timeout from "./Timeout.js"

/**
 * A pipeline's configuration as plain data. Every field is optional;
 * `false` turns a policy off.
 *
 * - Durations are typed as effect's `Duration.DurationInput`: a number of
 *   milliseconds, text such as `"500 millis"` or `"2 seconds"`, or a
 *   `Duration`. A misspelt unit (`attemptTimeout: "a while"`) is a compile
 *   error in code, as it is for effect's own APIs; data whose type the
 *   compiler cannot know (a JSON file, the environment) is checked the same
 *   way at run time by `Resilience.validate`, `Resilience.make` and
 *   `Resilience.layerConfig` (which takes a `Config` of any shape).
 * - A section given in part is merged with the default section field by
 *   field, at every depth: `retry: { backoff: { base: "1 second" } }` keeps
 *   the default backoff's `factor`, `max` and `jitter`. A `budget` or a
 *   `trip` of another `kind` than the default's replaces it whole.
 * - A backoff's `jitter` is `"none"`, `"full"`, `"equal"`, `"decorrelated"`
 *   or `"proportional"` (±`jitterRatio`, 0.25 when omitted). A retry backoff
 *   without one uses full jitter; a `breakDuration` is never randomised
 *   unless its `jitter` says so.
 * - Every problem is listed in one `InvalidPolicyError`, each with its path
 *   and the value received, worded as the policies' own constructors word it
 *   (`retry.maxAttempts: must be a whole number ≥ 1, got 0`).
 *
 * @example
 * ```ts
 * import type { Resilience } from "@effect-resilience/core"
 *
 * const config: Resilience.Config = {
 *   retry: { maxAttempts: 4, backoff: { base: "500 millis", max: "30 seconds", jitter: "full" } },
 *   budget: { kind: "tokenBucket", maxTokens: 10, tokenRatio: 0.1 },
 *   circuitBreaker: { trip: { kind: "ratio", ratio: 0.5, window: "30 seconds", minimumThroughput: 10 } },
 *   bulkhead: { maxConcurrent: 32, maxQueue: 256 },
 *   rateLimiter: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
 *   attemptTimeout: "2 minutes",
 *   deadline: false
 * }
 *
 * // Delays within ±10 % of 1 s, 2 s, 4 s ...
 * const proportional: Resilience.Config = {
 *   retry: { backoff: { base: "1 second", max: "8 seconds", jitter: "proportional", jitterRatio: 0.1 } }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Config = configInternal.ConfigInput

/**
 * The errors a pipeline adds to the call's own: each one means the call was
 * refused or cut short by a policy, not failed by the provider.
 *
 * @example
 * ```ts
 * import type { Resilience } from "@effect-resilience/core"
 *
 * const describe = (error: Resilience.PolicyRejection): string => error._tag
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type PolicyRejection =
  | CircuitBreaker.CircuitOpenError
  | Bulkhead.BulkheadRejectedError
  | RateLimiter.RateLimitedLocallyError
  | Timeout.AttemptTimeoutError
  | Deadline.DeadlineExceededError

/**
 * Tells whether an error is one of the policies' own refusals (open circuit,
 * full bulkhead, local rate limit, attempt timeout, deadline), as opposed to
 * a failure of the call itself.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 *
 * Resilience.isPolicyRejection(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPolicyRejection = (u: unknown): u is PolicyRejection =>
  CircuitBreaker.isCircuitOpenError(u) || Bulkhead.isBulkheadRejectedError(u) ||
  RateLimiter.isRateLimitedLocallyError(u) || Timeout.isAttemptTimeoutError(u) || Deadline.isDeadlineExceededError(u)

/**
 * What one call declares to the pipeline.
 *
 * @example
 * ```ts
 * import type { Resilience } from "@effect-resilience/core"
 *
 * const options: Resilience.RunOptions = { key: "openai/gpt-4o", tokens: 1_200 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /**
   * What is protected: breakers, bulkheads, budgets and limiters are kept per
   * key, e.g. `"openai/gpt-4o"`. Default `"default"`.
   */
  readonly key?: string | undefined
  /**
   * The tokens the call will cost, for the tokens per minute (learned or
   * configured); each attempt is charged it. Default 0.
   */
  readonly tokens?: number | undefined
  /**
   * `false` makes this call once, without retrying, while every other policy
   * still applies: for a call that cannot be repeated (a request whose body
   * is a stream). Default `true`.
   */
  readonly retry?: boolean | undefined
}

/**
 * What is not plain data: how to classify the call's own errors.
 *
 * @example
 * ```ts
 * import { Classify, type Resilience } from "@effect-resilience/core"
 *
 * const options: Resilience.Options = { classify: Classify.standard }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Classifies the call's own errors (the policies' errors carry their
   * verdict). Default `Classify.standard`.
   */
  readonly classify?: Classify.Classifier<any> | undefined
}

/**
 * A built pipeline.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const resilience: Resilience.Service = yield* Resilience.make()
 *   return yield* resilience.run(Effect.succeed("hello"), { key: "openai/gpt-4o" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The decoded configuration, defaults filled in. */
  readonly config: configInternal.Config
  /** Runs one call through the pipeline. */
  readonly run: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: RunOptions
  ) => Effect.Effect<A, E | PolicyRejection, R>
  /** The breaker of a key, to read its state, isolate or reset it. */
  readonly breaker: (key: string) => CircuitBreaker.CircuitBreaker | undefined
  /**
   * Feeds the admission of a key what the provider reported: its limits per
   * minute, what remains of them, their resets, a Retry-After (e.g.
   * `RateLimitHeaders.toObservation` of a response's headers, after every
   * response, successes included). Learned admission learns from it; a
   * configured limiter only ever gets stricter.
   */
  readonly observe: (key: string, observation: RateLimiter.Observation) => Effect.Effect<void>
  /**
   * Corrects the tokens charged to the rate limiter of a key once the real
   * cost is known (the usage a response reported minus the estimate the call
   * was admitted with): positive charges more, negative gives tokens back.
   */
  readonly adjust: (key: string, tokens: number) => Effect.Effect<void>
}

/**
 * The pipeline as a service, for programs that build it once in a `Layer`.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.Resilience
 *   return yield* resilience.run(Effect.succeed(1), { key: "anthropic/claude" })
 * }).pipe(Effect.provide(Resilience.layer({ retry: { maxAttempts: 4 } })))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Resilience extends Context.Tag("@effect-resilience/core/Resilience")<Resilience, Service>() {}

/**
 * Checks a configuration of any type (e.g. read from a file): the decoded
 * configuration with defaults filled in (field by field), or one
 * `InvalidPolicyError` listing every problem (unknown keys included) with its
 * path and the value received.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const problems = Resilience.validate({ retry: { maxAttempts: 0 }, bulkhead: { maxConcurent: 4 } }).pipe(
 *   Effect.flip,
 *   Effect.map((error) => error.issues)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate: (config?: unknown) => Effect.Effect<configInternal.Config, PolicyError.InvalidPolicyError> =
  internal.validate

/**
 * Builds a pipeline. Its state (breakers, budgets) lives in the `StateStore`
 * in context, or in memory; its timers live as long as the scope.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make({ attemptTimeout: "30 seconds", deadline: "2 minutes" })
 *   return yield* resilience.run(Effect.succeed("ok"), { key: "openai/gpt-4o-mini" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  config?: Config,
  options?: Options
) => Effect.Effect<Service, PolicyError.InvalidPolicyError, Scope.Scope> = internal.make

/**
 * A layer that builds the pipeline once.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 *
 * const ResilienceLive = Resilience.layer({ circuitBreaker: { trip: { kind: "consecutive", threshold: 3 } } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config?: Config, options?: Options): Layer.Layer<Resilience, PolicyError.InvalidPolicyError> =>
  Layer.scoped(Resilience, make(config, options))

/**
 * A layer that reads the configuration from effect's `Config`. What it
 * reads is data of unknown type (a duration from the environment is any
 * text), so it is checked when the layer is built, with every problem listed
 * in the `InvalidPolicyError`, as `Resilience.validate` checks a JSON file's
 * content (`Config.succeed(json)` passes one here).
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Config } from "effect"
 *
 * const ResilienceLive = Resilience.layerConfig(
 *   Config.all({
 *     retry: Config.all({ maxAttempts: Config.integer("RETRY_MAX_ATTEMPTS").pipe(Config.withDefault(3)) })
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: EffectConfig.Config<unknown>,
  options?: Options
): Layer.Layer<Resilience, PolicyError.InvalidPolicyError | ConfigError.ConfigError> =>
  Layer.scoped(Resilience, internal.makeFromConfig(config, options))

/**
 * Runs an effect through a pipeline.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const callModel: Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make()
 *   // data-last
 *   const a = yield* callModel.pipe(Resilience.apply(resilience, { key: "openai/gpt-4o", tokens: 800 }))
 *   // data-first
 *   const b = yield* Resilience.apply(callModel, resilience)
 *   return [a, b]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply: {
  (resilience: Service, options?: RunOptions): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PolicyRejection, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, resilience: Service, options?: RunOptions): Effect.Effect<
    A,
    E | PolicyRejection,
    R
  >
} = dual(
  (args) => internal.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, resilience: Service, options?: RunOptions) => resilience.run(self, options)
)

/**
 * The defaults, for reference: what `Resilience.make()` uses.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 *
 * Resilience.defaults.retry // { maxAttempts: 4, backoff: { base: "250 millis", ... }, onOpenCircuit: "wait" }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: {
  readonly [K in keyof Config]-?: Exclude<Config[K], undefined>
} = internal.defaults
