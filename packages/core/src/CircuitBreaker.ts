/**
 * CircuitBreaker: stop calling a provider that is down, and find out when it
 * is back.
 *
 * A breaker is `Closed` while calls flow. When transient failures pile up
 * (`threshold` in a row, or a failure ratio over a sliding window with a
 * minimum throughput) it opens: calls fail fast with a `CircuitOpenError`,
 * which costs the provider nothing and tells the caller when to come back.
 * After a break it is `HalfOpen`: a few probe calls go through; enough
 * successes close it, a transient failure opens it again for a longer break
 * (break durations come from a `Schedule`, so they grow while the provider
 * stays down). A person can hold it open (`isolate`) and close it (`reset`).
 *
 * Only failures the classifier calls `Transient` count: a permanent error (a
 * bad request, a wrong key) says nothing about the provider's health, nor do
 * defects and interruptions.
 *
 * The state lives in the `StateStore` in context when `make` runs (else in a
 * fresh in-memory store): two breakers with the same key on one store, or on
 * Redis in two processes, share one state. Every transition is published to
 * the breaker's `changes` stream, as a `ResilienceEvent` and as the
 * `resilience.breaker.state` gauge.
 *
 * In the full pipeline the breaker sits inside `Retry`: its `CircuitOpenError`
 * is transient with a Retry-After of the time left until half-open, so a retry
 * waits for the probe when that is short and gives up when it is beyond its
 * ceiling (`Retry` option `onOpenCircuit: "fail"` gives up at the first
 * refusal instead).
 *
 * Details:
 *
 * - a refused call never reaches the provider: it is not recorded, and it
 *   costs the retry budget nothing (not even the retry it was granted);
 * - half-open admits `halfOpenProbes` calls at once; the others are refused
 *   with a Retry-After of zero (state `HalfOpen`) until a probe ends: a
 *   success closes the breaker (after `successesToClose` of them) and forgets
 *   its failures, a transient failure opens it for the next break;
 * - a probe is a caller's own call: nothing is sent while nobody calls.
 *
 * Gotchas:
 *
 * - the break is the price of finding a recovered provider: a provider that
 *   comes back is found when the break in progress ends. `CircuitBreaker.make`
 *   alone keeps breaks of 5 s doubling to 60 s (few probes in a long outage;
 *   up to a minute late); the `Resilience` pipeline's default is a fixed 1 s
 *   break with one probe: one call per key per second while the provider is
 *   down, and recovery found within about a second. In the simulator's 60 s
 *   outage (scenario 1, 10 requests/s, one shared pipeline) the doubling
 *   breaks found the provider 16 s late (28.0 % success, everything else at
 *   today's defaults, against 40.0 % for no retry at all); 1 s breaks found it within 1 s (40.1 %, 0.47 calls per
 *   request), 1.5 s and 2 s breaks within 1.3–1.4 s for a few calls fewer
 *   (0.45 per request). A break of 2 s can miss the "within 2 s" mark by the
 *   probe's own latency when the provider returns just after a probe failed,
 *   so 1 s it is. Client-side
 *   adaptive throttling (Google SRE: refuse with probability
 *   `(requests − 2 × accepts) / (requests + 1)`) was weighed too: during a full
 *   outage it still lets about one call in `requests` through, so how soon it
 *   notices a recovery depends on the traffic and its history window, where a
 *   fixed break gives a bound that does not;
 * - with a shared store (Redis) the probe is the fleet's: one call per key per
 *   break, whatever the number of processes;
 * - keep a trip rule that a steady background error rate cannot meet: the
 *   pipeline's default (half the calls of 30 s, at least 10) never opened
 *   under 20 % random 503s, where 5 failures in a row happen every few
 *   thousand calls.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Classify from "./Classify.js"
// internal/circuitBreaker.ts imports this module (its error and metrics): reach `internal` only inside
// functions, never at the top level, so that either module may be loaded first.
import * as internal from "./internal/circuitBreaker.js"
import type * as PolicyError from "./PolicyError.js"
import type * as StateStore from "./StateStore.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * The error of a call the breaker refused without calling the provider.
 *
 * - `state` is the breaker's state: `Open` (until its break ends), `HalfOpen`
 *   (every probe slot is taken by a call in flight) or `Isolated` (held open by
 *   hand until `reset`);
 * - `retryAfter` is the time left until the breaker half-opens (zero when it
 *   is half-open; absent when it is isolated).
 *
 * It classifies itself as `Transient` with reason `Unavailable` and a
 * Retry-After of `retryAfter`, so a `Retry` around the breaker waits for the
 * half-open instant when that is within its `retryAfterCeiling`, and gives up
 * at once when it is not. An isolated breaker's Retry-After is infinite: only
 * a person can reset it, so retrying is pointless.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const error = new CircuitBreaker.CircuitOpenError({
 *   key: "openai/gpt-4o",
 *   state: "Open",
 *   retryAfter: Duration.seconds(12)
 * })
 * error.message // "circuit for openai/gpt-4o is open; half-open in 12s"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Schema.TaggedError<CircuitOpenError>("@effect-resilience/core/CircuitOpenError")(
  "CircuitOpenError",
  {
    key: Schema.String,
    state: Schema.Literal("Open", "HalfOpen", "Isolated"),
    retryAfter: Schema.optional(Schema.DurationFromSelf)
  }
) {
  /**
   * The call never reached the provider: a retry budget does not count it.
   *
   * @since 0.1.0
   */
  readonly [Classify.rejectedLocally] = true

  /**
   * What happened and when to come back, e.g. "circuit for openai/gpt-4o is
   * open; half-open in 12s".
   *
   * @since 0.1.0
   */
  override get message(): string {
    return internal.openMessage(this.key, this.state, this.retryAfter)
  }

  /**
   * The verdict this error carries: transient (`Unavailable`), with the time
   * left until half-open as its Retry-After (infinite when isolated).
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient("Unavailable", {
      retryAfter: this.state === "Isolated" ? Duration.infinity : this.retryAfter
    })
  }
}

/**
 * Tells whether a value is a `CircuitOpenError`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const fallback = <A, E, R>(call: Effect.Effect<A, E, R>, cached: A) =>
 *   Effect.catchIf(call, CircuitBreaker.isCircuitOpenError, () => Effect.succeed(cached))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isCircuitOpenError = (u: unknown): u is CircuitOpenError => u instanceof CircuitOpenError

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * When a closed breaker opens:
 *
 * - `Consecutive`: after `threshold` transient failures in a row (a success
 *   starts the count again);
 * - `Ratio`: when, over the last `window`, at least `minimumThroughput` calls
 *   ended (default 10) and the share of transient failures among them reached
 *   `ratio` (in (0, 1]). The window slides in `buckets` steps (default 10):
 *   outcomes are counted per slice of `window / buckets`, so an outcome stops
 *   counting between `window - window / buckets` and `window` after it was
 *   recorded. The minimum throughput keeps a quiet breaker from opening on
 *   "1 failure out of 1 call".
 *
 * Build one with `CircuitBreaker.consecutive` or `CircuitBreaker.failureRatio`,
 * or write it as data (it can come from a configuration file).
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/core"
 *
 * const trips: ReadonlyArray<CircuitBreaker.Trip> = [
 *   { _tag: "Consecutive", threshold: 5 },
 *   { _tag: "Ratio", ratio: 0.5, window: "30 seconds", minimumThroughput: 20 }
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Trip =
  | { readonly _tag: "Consecutive"; readonly threshold: number }
  | {
    readonly _tag: "Ratio"
    readonly ratio: number
    readonly window: Duration.DurationInput
    readonly minimumThroughput?: number | undefined
    readonly buckets?: number | undefined
  }

/**
 * Opens the breaker after `threshold` transient failures in a row.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const breaker = CircuitBreaker.make({ trip: CircuitBreaker.consecutive(3) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const consecutive = (threshold: number): Trip => ({ _tag: "Consecutive", threshold })

/**
 * Opens the breaker when the share of transient failures over a sliding
 * `window` reaches `ratio`, once at least `minimumThroughput` calls (default
 * 10) ended in that window.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * // half the calls of the last 30 s failed, out of at least 20 calls
 * const breaker = CircuitBreaker.make({
 *   trip: CircuitBreaker.failureRatio({ ratio: 0.5, window: "30 seconds", minimumThroughput: 20 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const failureRatio = (options: {
  readonly ratio: number
  readonly window: Duration.DurationInput
  readonly minimumThroughput?: number | undefined
  readonly buckets?: number | undefined
}): Trip => ({ _tag: "Ratio", ...options })

/**
 * The options of a circuit breaker. Every one has a default.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Schedule } from "effect"
 *
 * const options: CircuitBreaker.Options<unknown> = {
 *   key: "openai/gpt-4o",
 *   trip: CircuitBreaker.consecutive(5),
 *   breakDuration: Schedule.exponential("2 seconds").pipe(Schedule.upTo("1 minute")),
 *   halfOpenProbes: 2,
 *   successesToClose: 2
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<in E> {
  /**
   * Names the breaker's state in the store, in events and in metrics, e.g.
   * `"openai/gpt-4o"`. Breakers with the same key on one store share one
   * state. Default `"default"`.
   */
  readonly key?: string | undefined
  /** When a closed breaker opens. Default `CircuitBreaker.consecutive(5)`. */
  readonly trip?: Trip | undefined
  /**
   * How long the breaker stays open: a fixed duration, or a `Schedule` whose
   * n-th delay is the break after the n-th opening in a row (a breaker that
   * closes starts again from the first delay; past the schedule's end the last
   * delay repeats). The schedule is sampled once, when the breaker is made (its
   * first 32 delays, through `Backoff.delays`): a jittered schedule is drawn
   * once per breaker, not once per opening. Default: 5 s, doubling up to 60 s
   * (5 s, 10 s, 20 s, 40 s, 60 s, 60 s, ...).
   */
  readonly breakDuration?: Schedule.Schedule<unknown, unknown> | Duration.DurationInput | undefined
  /** Calls let through at once while half-open; callers beyond them fail fast. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /** Successful probes that close a half-open breaker. Default 1. */
  readonly successesToClose?: number | undefined
  /** Which failures count: only `Transient` verdicts do. Default `Classify.standard`. */
  readonly classify?: Classify.Classifier<E> | undefined
}

/**
 * The options of a family of breakers, one per key (`CircuitBreaker.keyed`).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const options: CircuitBreaker.KeyedOptions<unknown> = {
 *   trip: CircuitBreaker.consecutive(3),
 *   breakDuration: "10 seconds",
 *   maxKeys: 1_000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedOptions<in E> {
  /** When a closed breaker opens. Default `CircuitBreaker.consecutive(5)`. */
  readonly trip?: Trip | undefined
  /** How long a breaker stays open; see `Options.breakDuration`. Default 5 s doubling up to 60 s. */
  readonly breakDuration?: Schedule.Schedule<unknown, unknown> | Duration.DurationInput | undefined
  /** Calls let through at once while half-open. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /** Successful probes that close a half-open breaker. Default 1. */
  readonly successesToClose?: number | undefined
  /** Which failures count. Default `Classify.standard`. */
  readonly classify?: Classify.Classifier<E> | undefined
  /**
   * Breaker objects kept at most; beyond it the least recently used one is
   * dropped and made again on demand (its state stays in the store, which has
   * its own bound). Default 10,000.
   */
  readonly maxKeys?: number | undefined
}

/**
 * A breaker's state, as its store holds it: `Closed`, `Open` until `until`
 * (epoch milliseconds of the `Clock`), `HalfOpen` with its probes in flight
 * and successes so far, or `Isolated`. An `Open` breaker whose break has
 * ended still reads `Open` until the next call is admitted as a probe.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/core"
 *
 * const describe = (state: CircuitBreaker.State): string =>
 *   state._tag === "Open" ? `open until ${new Date(state.until).toISOString()}` : state._tag
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type State = StateStore.BreakerState

/**
 * A change of a breaker's state: `at` is the `Clock` time in milliseconds, and
 * a transition to `Open` carries `until`, when the breaker will half-open.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/core"
 *
 * const opened: CircuitBreaker.Transition = { key: "openai", from: "Closed", to: "Open", at: 0, until: 5_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition extends StateStore.Transition {
  readonly key: string
}

/**
 * A circuit breaker for calls failing with `E`. Use it through
 * `CircuitBreaker.protect`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker: CircuitBreaker.CircuitBreaker = yield* CircuitBreaker.make({ key: "openai" })
 *   yield* breaker.isolate
 *   const state = yield* breaker.state // { _tag: "Isolated" }
 *   yield* breaker.reset
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker<in E = unknown> {
  readonly key: string
  /** The settings handed to the store, break durations sampled from the schedule. */
  readonly settings: StateStore.BreakerSettings
  /** Runs an effect through the breaker; see `CircuitBreaker.protect`. */
  readonly protect: <A, E2 extends E, R>(self: Effect.Effect<A, E2, R>) => Effect.Effect<A, E2 | CircuitOpenError, R>
  /** The current state, read from the store. */
  readonly state: Effect.Effect<State>
  /** Holds the breaker open, whatever its state, until `reset`: every call fails fast. */
  readonly isolate: Effect.Effect<void>
  /** Closes the breaker and forgets its history (failure counts, break durations). */
  readonly reset: Effect.Effect<void>
  /**
   * The transitions of this breaker, from when the stream starts running:
   * the subscription is made then, so a transition caused before the stream
   * runs is not seen. Use `subscribe` to be sure to see every transition of a
   * call that follows. With a shared store, transitions caused by other
   * breakers or processes on the same key are not reported here.
   */
  readonly changes: Stream.Stream<Transition>
  /**
   * Subscribes now, for the life of the scope, and gives the stream of every
   * transition from here on.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Transition>, never, Scope.Scope>
}

/**
 * One breaker per key, made on demand (`CircuitBreaker.keyed`).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breakers: CircuitBreaker.Keyed = yield* CircuitBreaker.keyed({ trip: CircuitBreaker.consecutive(3) })
 *   const state = yield* breakers.get("anthropic/claude-sonnet-4").state
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyed<in E = unknown> {
  /** The breaker of a key, made the first time the key is asked for. */
  readonly get: (key: string) => CircuitBreaker<E>
  /** The transitions of every key of this family, from when the stream starts running. */
  readonly changes: Stream.Stream<Transition>
  /** Subscribes now to the transitions of every key, for the life of the scope. */
  readonly subscribe: Effect.Effect<Stream.Stream<Transition>, never, Scope.Scope>
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Makes a circuit breaker. Its state lives in the `StateStore` in context, or
 * in a fresh in-memory store when there is none.
 *
 * Defaults: opens after 5 transient failures in a row, stays open 5 s then
 * 10 s, 20 s, 40 s and 60 s while the provider stays down, lets 1 probe
 * through while half-open and closes on its success.
 *
 * Invalid options fail with an `InvalidPolicyError` listing every problem (a
 * `threshold` of 0, a `ratio` above 1, a negative duration, a break schedule
 * that gives no delay, ...), so a bad configuration stops the program where
 * the breaker is made, typed. Use `Effect.orDie` for options written in code.
 *
 * @example
 * ```ts
 * import { Backoff, CircuitBreaker, ProviderError } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({
 *     key: "openai/gpt-4o",
 *     trip: CircuitBreaker.consecutive(3),
 *     breakDuration: Backoff.exponential({ base: "1 second", max: "30 seconds" })
 *   })
 *   return yield* complete.pipe(CircuitBreaker.protect(breaker))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = unknown>(
  options?: Options<E>
): Effect.Effect<CircuitBreaker<E>, PolicyError.InvalidPolicyError> => internal.make(options)

/**
 * Makes a family of breakers, one per key, each made the first time its key is
 * asked for, all sharing the options and the `StateStore` (the one in context,
 * or one fresh in-memory store for the family). At most `maxKeys` breaker
 * objects are kept; the store bounds the state the same way.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: (model: string) => Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const breakers = yield* CircuitBreaker.keyed({ maxKeys: 100 })
 *   const ask = (model: string) => complete(model).pipe(CircuitBreaker.protect(breakers.get(`openai/${model}`)))
 *   return yield* ask("gpt-4o")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed = <E = unknown>(
  options?: KeyedOptions<E>
): Effect.Effect<Keyed<E>, PolicyError.InvalidPolicyError> => internal.keyed(options)

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * Runs an effect through a breaker.
 *
 * - while closed (or as a probe while half-open) the effect runs, and its
 *   outcome is recorded: a success, or a failure the classifier calls
 *   `Transient`; a permanent failure, a defect or an interruption counts as
 *   neither (it frees its probe slot);
 * - otherwise it fails at once with a `CircuitOpenError`, without running the
 *   effect.
 *
 * A call that passes costs one `admit` and one `record` on the store, two
 * `Clock` reads, and nothing else: no span, no event unless something changes.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, ProviderError } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ key: "anthropic" })
 *   // data-last
 *   const a = yield* complete.pipe(CircuitBreaker.protect(breaker))
 *   // data-first
 *   const b = yield* CircuitBreaker.protect(complete, breaker)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  <P>(
    breaker: CircuitBreaker<P>
  ): <A, E extends P, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker<NoInfer<E>>
  ): Effect.Effect<A, E | CircuitOpenError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker<E>): Effect.Effect<A, E | CircuitOpenError, R> =>
    breaker.protect(self)
)

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/**
 * Each breaker's state, tagged with `resilience.key`: 0 closed, 1 half-open,
 * 2 open, 3 isolated. Set on every transition the breaker makes.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const state = Metric.value(CircuitBreaker.stateGauge.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const stateGauge: Metric.Metric.Gauge<number> = Metric.gauge("resilience.breaker.state", {
  description: "Circuit breaker state: 0 closed, 1 half-open, 2 open, 3 isolated"
})

/**
 * Calls a breaker refused (failed fast with `CircuitOpenError`), tagged with
 * `resilience.key`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const rejected = Metric.value(CircuitBreaker.rejectedCounter.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const rejectedCounter: Metric.Metric.Counter<number> = Metric.counter("resilience.breaker.rejected", {
  description: "Calls a circuit breaker refused without calling the provider",
  incremental: true
})
