/**
 * RateLimiter: admit calls at the rate a provider allows, in requests *and*
 * tokens per minute, and slow down as soon as the provider says it is short.
 *
 * A provider that allows 600 requests a minute answers a burst of 2,000 with
 * 1,400 429s; retrying them only hammers it harder. A limiter in front of it
 * holds each call in an admission queue until the provider can take it, so
 * the same burst completes in about 200 s with no 429 at all.
 *
 * The limiter is built on `@effect/experimental`'s `RateLimiterStore` and its
 * token-bucket algorithm: one bucket per resource (`"requests"`,
 * `"tokens"`), each holding at most its `burst` and refilled one unit every
 * `1 minute / perMinute`. A call takes 1 from the requests bucket and its
 * declared token cost from the tokens bucket. The buckets start full.
 *
 * - `onExceeded: "delay"` (the default): a call takes what it needs at once,
 *   driving a bucket below zero if need be (a reservation), and waits until
 *   its units have been refilled: `deficit × interval`, through `Clock`
 *   (`Effect.sleep`), so `TestClock` controls it. Calls are admitted in the
 *   order they asked, spaced at exactly the configured rate.
 * - `onExceeded: "fail"`: a call that would have to wait fails at once with a
 *   `RateLimitedLocallyError` saying when to come back.
 *
 * The store measures waits in whole refill intervals from the moment a call
 * asks, without crediting the part of an interval already elapsed: a wait is
 * never shorter than the ideal one and at most one interval longer (100 ms at
 * 600 requests a minute).
 *
 * Adaptive: `RateLimiter.observe` feeds what the provider said (remaining
 * requests and tokens, their reset times, a 429's Retry-After) so that the
 * limiter slows down *before* the provider starts refusing calls.
 *
 * The buckets live in the `RateLimiterStore` in context when the limiter is
 * made (e.g. `@effect/experimental`'s Redis store: every process of an
 * application then shares one budget per key), else in a fresh in-memory store
 * (`layerStoreMemory`). If the store fails, the limiter falls back to local
 * in-memory buckets and logs a warning: a call is never blocked because the
 * coordination store is down.
 *
 * Every wait is a `RateLimited` event and a sample of the
 * `resilience.ratelimiter.wait` histogram; every refusal a `CallRejected`
 * event (`by: "RateLimiter"`).
 *
 * In the full pipeline (`Resilience`) every attempt is admitted, retries
 * included (a retry spends the provider's quota like any call), inside the
 * deadline and outside the breaker, bulkhead and attempt timeout. There a
 * configured limiter is a ceiling: by default the pipeline *learns* each
 * key's limits from the provider's headers and 429s (see `Resilience`), and
 * `observe`'s `limitRequests` / `limitTokens` feed that learning.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Schema from "effect/Schema"
import type * as Types from "effect/Types"
import * as Classify from "./Classify.js"
// internal/rateLimiter.ts imports this module (its error and metrics): reach `internal` only inside
// functions, never at the top level, so that either module may be loaded first.
import * as internal from "./internal/rateLimiter.js"
import type * as PolicyError from "./PolicyError.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * What a limiter counts: requests, or tokens (a call's declared cost).
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@effect-resilience/core"
 *
 * const resource: RateLimiter.Resource = "tokens"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Resource = "requests" | "tokens"

/**
 * The error of a call a limiter with `onExceeded: "fail"` refused without
 * running it: `resource` ran out, and `retryAfter` is when the limiter will
 * have enough of it again.
 *
 * It classifies itself as `Transient` with reason `RateLimited` and that
 * Retry-After, so a `Retry` around the limiter waits exactly as long as
 * needed.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const error = new RateLimiter.RateLimitedLocallyError({
 *   key: "openai/gpt-4o",
 *   resource: "tokens",
 *   retryAfter: Duration.seconds(12)
 * })
 * error.message // "rate limit for openai/gpt-4o: no tokens left; retry in 12s"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitedLocallyError
  extends Schema.TaggedError<RateLimitedLocallyError>("@effect-resilience/core/RateLimitedLocallyError")(
    "RateLimitedLocallyError",
    {
      key: Schema.String,
      resource: Schema.Literal("requests", "tokens"),
      retryAfter: Schema.DurationFromSelf
    }
  )
{
  /**
   * The call never reached the provider: a retry budget and a circuit breaker do not count it.
   *
   * @since 0.1.0
   */
  readonly [Classify.rejectedLocally] = true

  /**
   * What happened and when to come back, e.g. "rate limit for openai/gpt-4o:
   * no tokens left; retry in 12s".
   *
   * @since 0.1.0
   */
  override get message(): string {
    const retryAfter = Duration.format(Duration.millis(Math.ceil(Duration.toMillis(this.retryAfter))))
    return `rate limit for ${this.key}: no ${this.resource} left; retry in ${retryAfter}`
  }

  /**
   * The verdict this error carries: transient (`RateLimited`), with
   * `retryAfter` as its Retry-After.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient("RateLimited", { retryAfter: this.retryAfter })
  }
}

/**
 * Tells whether a value is a `RateLimitedLocallyError`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * RateLimiter.isRateLimitedLocallyError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRateLimitedLocallyError = (u: unknown): u is RateLimitedLocallyError =>
  u instanceof RateLimitedLocallyError

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The options of a limiter. Give `requestsPerMinute`, `tokensPerMinute` or
 * both.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@effect-resilience/core"
 *
 * const options: RateLimiter.Options = {
 *   key: "openai/gpt-4o",
 *   requestsPerMinute: 500,
 *   tokensPerMinute: 30_000,
 *   onExceeded: "delay"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Names the budget: in events, metrics and errors, and in the store. Two
   * limiters with the same key on one shared store (e.g. Redis) share their
   * buckets. Default `"default"`.
   */
  readonly key?: string | undefined
  /** Requests admitted per minute, sustained: a number > 0. */
  readonly requestsPerMinute?: number | undefined
  /**
   * Tokens admitted per minute, sustained: a number > 0. Each call declares
   * its cost (`RateLimiter.protect(limiter, { tokens })`); a call that
   * declares none costs no tokens.
   */
  readonly tokensPerMinute?: number | undefined
  /**
   * How much a bucket holds, i.e. how much may pass at once after a quiet
   * period (whole numbers ≥ 1).
   *
   * - `requests`: default one second's worth, `max(1, floor(requestsPerMinute
   *   / 60))` (10 at 600 a minute), because providers enforce a per-minute
   *   limit over shorter intervals ("600 a minute" may mean "10 a second"),
   *   so calls are spread evenly rather than sent 600 at once;
   * - `tokens`: default a whole minute's worth, `floor(tokensPerMinute)`,
   *   because one call may cost a large share of the minute.
   */
  readonly burst?: {
    readonly requests?: number | undefined
    readonly tokens?: number | undefined
  } | undefined
  /**
   * What a call does when a bucket lacks what it needs: `"delay"` (wait in
   * the admission queue; the default) or `"fail"` (fail at once with a
   * `RateLimitedLocallyError`).
   */
  readonly onExceeded?: "delay" | "fail" | undefined
}

/**
 * What a call through a limiter declares.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@effect-resilience/core"
 *
 * const prompt = "Summarise this document ..."
 * const maxOutputTokens = 1_000
 * // An estimate: prompt tokens (≈ 4 characters each) plus the most the model may write
 * const options: RateLimiter.ProtectOptions = { tokens: Math.ceil(prompt.length / 4) + maxOutputTokens }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtectOptions {
  /**
   * The tokens the call will cost (a number ≥ 0, rounded up; default 0). A
   * cost above the tokens bucket's size (`burst.tokens`, by default
   * `tokensPerMinute`) is charged as the whole bucket: such a call waits until
   * the bucket is full and then empties it, so it never waits forever.
   */
  readonly tokens?: number | undefined
}

/**
 * What a provider said about its limits, e.g. from `x-ratelimit-*` or
 * `anthropic-ratelimit-*` response headers, or a 429's Retry-After. Every
 * field is optional; a field that is not a finite number or duration is
 * ignored, a negative one counts as zero.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const fromHeaders: RateLimiter.Observation = {
 *   limitRequests: 500,
 *   remainingRequests: 0,
 *   resetRequests: Duration.seconds(10),
 *   remainingTokens: 12_000,
 *   resetTokens: Duration.seconds(6)
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Observation {
  /**
   * The provider's request limit, per minute (`x-ratelimit-limit-requests`,
   * `anthropic-ratelimit-requests-limit`). A pipeline learns its admission
   * rate from it (`limitRequests / 60 s`); `RateLimiter.observe` keeps its
   * configured rate, and only reads that a limit is stated (see there).
   */
  readonly limitRequests?: number | undefined
  /**
   * The provider's token limit, per minute (`x-ratelimit-limit-tokens`,
   * `anthropic-ratelimit-tokens-limit`). A pipeline learns its token rate
   * from it; `RateLimiter.observe` keeps its configured rate, and only
   * reads that a limit is stated (see there).
   */
  readonly limitTokens?: number | undefined
  /** Requests the provider will still take before its limit resets. */
  readonly remainingRequests?: number | undefined
  /** Tokens the provider will still take before its limit resets. */
  readonly remainingTokens?: number | undefined
  /** Time until the provider's request limit resets. */
  readonly resetRequests?: Duration.DurationInput | undefined
  /** Time until the provider's token limit resets. */
  readonly resetTokens?: Duration.DurationInput | undefined
  /** The provider asked to wait this long before any call (a 429's or 503's Retry-After). */
  readonly retryAfter?: Duration.DurationInput | undefined
}

/**
 * Identifies a `RateLimiter` and carries, as a type, the error its calls may
 * fail with.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * const isLimiter = (u: object): boolean => RateLimiter.TypeId in u
 * ```
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * The type of `RateLimiter.TypeId`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 *
 * const id: RateLimiter.TypeId = RateLimiter.TypeId
 * ```
 *
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A rate limiter whose refusals fail with `E`: `never` when it delays calls
 * (`onExceeded: "delay"`), `RateLimitedLocallyError` when it may fail them.
 * Use it through `RateLimiter.protect`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter: RateLimiter.RateLimiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
 *   limiter.burst.requests // 10
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiter<out E = never> {
  readonly [TypeId]: { readonly _E: Types.Covariant<E> }
  readonly key: string
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  /** The size of each bucket; `undefined` for a resource the limiter does not count. */
  readonly burst: { readonly requests: number | undefined; readonly tokens: number | undefined }
  readonly onExceeded: "delay" | "fail"
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Makes a rate limiter. Its buckets live in the `RateLimiterStore` of
 * `@effect/experimental` in context, or in a fresh in-memory store when there
 * is none.
 *
 * Invalid options fail with an `InvalidPolicyError` listing every problem
 * (neither rate given, a rate ≤ 0, a fractional burst, an unknown
 * `onExceeded`, ...). Use `Effect.orDie` for options written in code.
 *
 * The limiter's type says how it refuses: `RateLimiter<never>` unless
 * `onExceeded` may be `"fail"`, then `RateLimiter<RateLimitedLocallyError>`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   // waits for its turn: RateLimiter<never>
 *   const paced = yield* RateLimiter.make({ key: "openai/gpt-4o", requestsPerMinute: 500, tokensPerMinute: 30_000 })
 *   // fails fast: RateLimiter<RateLimitedLocallyError>
 *   const strict = yield* RateLimiter.make({ key: "openai/gpt-4o-mini", requestsPerMinute: 500, onExceeded: "fail" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (
    options: Options & { readonly onExceeded?: "delay" | undefined }
  ): Effect.Effect<RateLimiter<never>, PolicyError.InvalidPolicyError>
  (options: Options): Effect.Effect<RateLimiter<RateLimitedLocallyError>, PolicyError.InvalidPolicyError>
} = (options: Options): Effect.Effect<RateLimiter<never>, PolicyError.InvalidPolicyError> =>
  // The error type is a phantom: whether refusals fail is decided by `onExceeded` at run time.
  internal.make(options) as Effect.Effect<RateLimiter<never>, PolicyError.InvalidPolicyError>

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * Runs an effect once the limiter admits it: the call takes one request and
 * `tokens` tokens (default 0), then
 *
 * - runs at once if both buckets had enough;
 * - otherwise, with `onExceeded: "delay"`, waits until its units are refilled
 *   (publishing a `RateLimited` event with the wait) and then runs;
 * - otherwise, with `onExceeded: "fail"`, fails at once with a
 *   `RateLimitedLocallyError` (publishing a `CallRejected` event) and takes
 *   nothing.
 *
 * Two shapes, like `effect`'s own operators: data-first
 * `RateLimiter.protect(effect, limiter, { tokens })` and data-last
 * `effect.pipe(RateLimiter.protect(limiter, { tokens }))`; the options may be
 * left out.
 *
 * A waiting call that is interrupted keeps its reservation (the limiter errs
 * on the side of fewer calls). A call waiting when the provider asks for a
 * pause (`RateLimiter.observe`) is held until the pause ends, then queues
 * again behind it.
 *
 * @example
 * ```ts
 * import { ProviderError, RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, tokensPerMinute: 100_000 })
 *   // data-last
 *   const a = yield* complete.pipe(RateLimiter.protect(limiter, { tokens: 1_200 }))
 *   // data-first
 *   const b = yield* RateLimiter.protect(complete, limiter, { tokens: 1_200 })
 *   // requests only
 *   const c = yield* RateLimiter.protect(complete, limiter)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <L>(
    limiter: RateLimiter<L>,
    options?: ProtectOptions
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | L, R>
  <A, E, R, L>(
    self: Effect.Effect<A, E, R>,
    limiter: RateLimiter<L>,
    options?: ProtectOptions
  ): Effect.Effect<A, E | L, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, L>(
    self: Effect.Effect<A, E, R>,
    limiter: RateLimiter<L>,
    options?: ProtectOptions
  ): Effect.Effect<A, E | L, R> => internal.protect(self, limiter, options)
)

/**
 * Tells the limiter what the provider said, so that it slows down before the
 * provider refuses calls. It only ever makes the limiter stricter:
 *
 * - `remainingX: n` with n ≥ 1: the X bucket is lowered to n if it holds more
 *   (the provider's word beats the limiter's estimate);
 * - `remainingX: 0` beside `limitX` (as OpenAI and Anthropic send them), for
 *   a resource the limiter counts: the X bucket is emptied, so the next unit
 *   is one refill interval away. Such a provider's reset is the time until
 *   its bucket is *full* again (up to a minute), no reason to pause;
 * - `remainingX: 0` with `resetX: d` otherwise: no call is admitted before `d` from now.
 *   The X bucket is drained (taking the missing units, below zero) to the
 *   level at which the next call waits `d`, so calls resume after `d` paced at
 *   the configured rate rather than all at once; and this limiter holds every
 *   call until then. Without `resetX`, the bucket is emptied;
 * - `retryAfter: d`: the same pause of `d`, on both buckets.
 *
 * Calls already waiting when a pause is observed are held until it ends, then
 * queue again behind it. With a shared store, other processes' new calls wait
 * too (they see the drained bucket; as the store counts whole intervals, one
 * may pass up to one refill interval before the end of the pause), but their
 * calls already waiting do not. Fields for a resource the limiter does not
 * count still pause it (`remainingTokens: 0` pauses a requests-only limiter).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
 *   // e.g. from `x-ratelimit-remaining-requests: 0` and `x-ratelimit-reset-requests: 10s`
 *   yield* RateLimiter.observe(limiter, { remainingRequests: 0, resetRequests: Duration.seconds(10) })
 *   // or, data-last, from a 429 with `retry-after: 2`
 *   const onRateLimited = RateLimiter.observe({ retryAfter: "2 seconds" })
 *   yield* onRateLimited(limiter)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const observe: {
  (observation: Observation): <L>(limiter: RateLimiter<L>) => Effect.Effect<void>
  <L>(limiter: RateLimiter<L>, observation: Observation): Effect.Effect<void>
} = dual(
  2,
  <L>(limiter: RateLimiter<L>, observation: Observation): Effect.Effect<void> => internal.observe(limiter, observation)
)

/**
 * Corrects a call's token charge once its real cost is known (e.g. the
 * usage a response reported, against the estimate charged by `protect`): a
 * positive `tokens` takes that many more from the tokens bucket (below zero
 * if need be: later calls wait for it, this one is not held), a negative one
 * gives them back. Only tokens are adjusted; a limiter that does not count
 * tokens ignores it, and so does a count of 0.
 *
 * Fractions err on the side of fewer calls: a charge is rounded up, a refund
 * down. A refund never fills the bucket beyond its `burst` (the store's
 * buckets are not capped on a give-back, so the level is read first; with a
 * shared store, a call taken between the read and the refund only makes the
 * refund smaller than it could be).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<{ readonly totalTokens: number }>
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ tokensPerMinute: 30_000 })
 *   const estimate = 1_200
 *   const usage = yield* RateLimiter.protect(complete, limiter, { tokens: estimate })
 *   // data-first: charge what the provider reported, not the estimate
 *   yield* RateLimiter.adjust(limiter, usage.totalTokens - estimate)
 *   // data-last
 *   yield* RateLimiter.adjust(-200)(limiter)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const adjust: {
  (tokens: number): <L>(limiter: RateLimiter<L>) => Effect.Effect<void>
  <L>(limiter: RateLimiter<L>, tokens: number): Effect.Effect<void>
} = dual(
  2,
  <L>(limiter: RateLimiter<L>, tokens: number): Effect.Effect<void> => internal.adjust(limiter, tokens)
)

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/**
 * How long each call admitted by a limiter waited, in milliseconds (0 for a
 * call admitted at once), tagged with `resilience.key`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const waits = Metric.value(RateLimiter.waitHistogram.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const waitHistogram: Metric.Metric.Histogram<number> = Metric.histogram(
  "resilience.ratelimiter.wait",
  // 1 ms to ~2 min, doubling: from a short pacing delay to a provider's one-minute reset.
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 18 }),
  "Time a call waited for admission by a rate limiter, in milliseconds"
)

/**
 * Calls a limiter with `onExceeded: "fail"` refused, tagged with
 * `resilience.key` and `resilience.resource` (`requests` or `tokens`).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const refused = Metric.value(
 *   RateLimiter.rejectedCounter.pipe(Metric.tagged("resilience.key", "openai"), Metric.tagged("resilience.resource", "tokens"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const rejectedCounter: Metric.Metric.Counter<number> = Metric.counter("resilience.ratelimiter.rejected", {
  description: "Calls a rate limiter refused without calling the provider",
  incremental: true
})

/**
 * Limits a pipeline learned, counted by `resilience.resource` (`requests`,
 * `tokens`) and `resilience.source` (`headers`: from the provider's
 * rate-limit headers; `throttling`: from its 429s alone). Each count is a
 * `LimitLearned` event, which also carries the key and the rate; the key is
 * not a tag, so that many keys do not make many series.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const fromThrottling = Metric.value(
 *   RateLimiter.learnedCounter.pipe(
 *     Metric.tagged("resilience.resource", "requests"),
 *     Metric.tagged("resilience.source", "throttling")
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const learnedCounter: Metric.Metric.Counter<number> = Metric.counter("resilience.ratelimiter.learned", {
  description: "Limits a pipeline learned from a provider's headers or 429s",
  incremental: true
})
