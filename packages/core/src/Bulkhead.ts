/**
 * Bulkhead: cap the calls in flight to a provider, and the calls waiting for
 * a slot.
 *
 * A bulkhead lets at most `maxConcurrent` calls run at once and at most
 * `maxQueue` more wait for a slot; a call beyond that fails at once with a
 * `BulkheadRejectedError` instead of piling up. It keeps one slow or
 * overloaded provider from taking every fiber, socket and byte of memory of
 * the application, and it turns "the provider is saturated" into a fast,
 * typed, retryable failure (`Transient`, reason `Overloaded`).
 *
 * Slots are counted synchronously and handed to waiting callers strictly in
 * arrival order as running calls end (a freed slot goes straight to the first
 * waiter, so a newcomer never overtakes the queue). A caller interrupted while
 * waiting leaves the queue, one interrupted after being handed a slot passes
 * it on, and a running call interrupted frees its slot, so neither a slot nor
 * a queue place is ever leaked. (Not effect's `Semaphore`: its `take` is an
 * asynchronous step even when a permit is free, ~5 µs per call, and it is not
 * fair to newcomers; a call here with a free slot starts in the same step.)
 *
 * `Bulkhead.keyed` makes one bulkhead per key on demand (e.g. per model), with
 * bounded memory (~0.4 KB per idle key kept). Every bulkhead feeds two gauges
 * tagged with `resilience.key` (`resilience.bulkhead.active`,
 * `resilience.bulkhead.queued`), and each rejection is a `CallRejected` event
 * (`by: "Bulkhead"`) and a count in `resilience.bulkhead.rejected`. Beyond
 * `ResilienceMetrics.maxKeys` keys the gauges of the later keys add up under
 * `resilience.key: "other"`.
 *
 * In the full pipeline the bulkhead sits inside the circuit breaker, right
 * around the attempt: a rejection is transient, so `Retry` backs off and
 * tries again.
 *
 * **Gotchas**
 *
 * - A call frees its slot when its effect ends. An effect that returns a
 *   stream (or any handle read afterwards) would free it while the stream is
 *   still being read: run it under `Bulkhead.holdSlotsUntil(scope)` so that,
 *   once it succeeds, its slot is held until that scope closes.
 *   `@effect-resilience/ai` does this for streamed responses, and
 *   `@effect-resilience/http` for responses with a streamed body: a stream
 *   holds its slot until it ends (completes, fails or is interrupted).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Classify from "./Classify.js"
// internal/bulkhead.ts imports this module (its error and metrics): reach `internal` only inside
// functions, never at the top level, so that either module may be loaded first.
import * as internal from "./internal/bulkhead.js"
import type * as PolicyError from "./PolicyError.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * The error of a call a full bulkhead refused without running it: every slot
 * was taken and the queue was full.
 *
 * It classifies itself as `Transient` with reason `Overloaded` (and no
 * Retry-After: nobody knows when a slot frees), so a `Retry` around the
 * bulkhead backs off and tries again.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 *
 * const error = new Bulkhead.BulkheadRejectedError({ key: "openai/gpt-4o", maxConcurrent: 8, maxQueue: 16 })
 * error.message // "bulkhead for openai/gpt-4o is full: 8 calls running and 16 waiting; call rejected"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadRejectedError
  extends Schema.TaggedError<BulkheadRejectedError>("@effect-resilience/core/BulkheadRejectedError")(
    "BulkheadRejectedError",
    {
      key: Schema.String,
      maxConcurrent: Schema.Number,
      maxQueue: Schema.Number
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
   * What happened, e.g. "bulkhead for openai/gpt-4o is full: 8 calls running
   * and 16 waiting; call rejected".
   *
   * @since 0.1.0
   */
  override get message(): string {
    const running = `${this.maxConcurrent} call${this.maxConcurrent === 1 ? "" : "s"} running`
    const waiting = this.maxQueue === 0 ? "no queue" : `${this.maxQueue} waiting`
    return `bulkhead for ${this.key} is full: ${running} and ${waiting}; call rejected`
  }

  /**
   * The verdict this error carries: transient, reason `Overloaded`.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient("Overloaded")
  }
}

/**
 * Tells whether a value is a `BulkheadRejectedError`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const orBusy = <A, E, R>(call: Effect.Effect<A, E, R>) =>
 *   Effect.catchIf(call, Bulkhead.isBulkheadRejectedError, () => Effect.succeed("busy, try later"))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isBulkheadRejectedError = (u: unknown): u is BulkheadRejectedError => u instanceof BulkheadRejectedError

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The options of a bulkhead.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "@effect-resilience/core"
 *
 * const options: Bulkhead.Options = { key: "anthropic/claude-sonnet-4", maxConcurrent: 8, maxQueue: 32 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Calls allowed to run at once: a whole number ≥ 1. */
  readonly maxConcurrent: number
  /**
   * Calls allowed to wait for a slot when all are taken: a whole number ≥ 0.
   * Beyond it a call is rejected at once. Default 0: no waiting.
   */
  readonly maxQueue?: number | undefined
  /** Names what is protected in errors, events and metrics, e.g. `"openai/gpt-4o"`. Default `"default"`. */
  readonly key?: string | undefined
}

/**
 * The options of a family of bulkheads, one per key (`Bulkhead.keyed`).
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "@effect-resilience/core"
 *
 * const options: Bulkhead.KeyedOptions = { maxConcurrent: 4, maxQueue: 8, maxKeys: 1_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedOptions {
  /** Calls allowed to run at once, per key: a whole number ≥ 1. */
  readonly maxConcurrent: number
  /** Calls allowed to wait for a slot, per key: a whole number ≥ 0. Default 0. */
  readonly maxQueue?: number | undefined
  /**
   * Bulkheads kept at most, besides those with calls running or waiting:
   * beyond it the least recently used idle one is dropped (and made again,
   * empty, when its key is next asked for). A bulkhead with calls running or
   * waiting is never dropped, so its limits hold whatever the number of keys.
   * Default 10,000.
   */
  readonly maxKeys?: number | undefined
}

/**
 * What a bulkhead holds right now: calls running and calls waiting for a slot.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "@effect-resilience/core"
 *
 * const saturated = (stats: Bulkhead.Stats, bulkhead: Bulkhead.Bulkhead): boolean =>
 *   stats.active === bulkhead.maxConcurrent && stats.queued > 0
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Calls running: they hold a slot. */
  readonly active: number
  /** Calls waiting for a slot. */
  readonly queued: number
}

/**
 * A bulkhead. Use it through `Bulkhead.protect`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead: Bulkhead.Bulkhead = yield* Bulkhead.make({ key: "openai", maxConcurrent: 4 })
 *   const { active, queued } = yield* bulkhead.stats // 0, 0
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead {
  readonly key: string
  readonly maxConcurrent: number
  readonly maxQueue: number
  /** The calls running and waiting now. */
  readonly stats: Effect.Effect<Stats>
}

/**
 * One bulkhead per key, made on demand (`Bulkhead.keyed`).
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkheads: Bulkhead.Keyed = yield* Bulkhead.keyed({ maxConcurrent: 4 })
 *   const stats = yield* bulkheads.get("anthropic/claude-sonnet-4").stats
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyed {
  /** The bulkhead of a key, made the first time the key is asked for. */
  readonly get: (key: string) => Bulkhead
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Makes a bulkhead.
 *
 * Invalid options fail with an `InvalidPolicyError` listing every problem
 * (`maxConcurrent: 0`, a negative or fractional `maxQueue`, an empty key), so a
 * bad configuration stops the program where the bulkhead is made, typed. Use
 * `Effect.orDie` for options written in code.
 *
 * @example
 * ```ts
 * import { Bulkhead, ProviderError } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ key: "openai/gpt-4o", maxConcurrent: 8, maxQueue: 16 })
 *   return yield* complete.pipe(Bulkhead.protect(bulkhead))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Bulkhead, PolicyError.InvalidPolicyError> =>
  internal.make(options)

/**
 * Makes a family of bulkheads, one per key, each made the first time its key
 * is asked for, all with the same limits. Each key has its own slots and
 * queue: a saturated model does not hold up the others.
 *
 * Memory stays bounded: at most `maxKeys` idle bulkheads are kept, plus those
 * with calls running or waiting (never dropped, so a key's limit holds even
 * while more keys than `maxKeys` are in use).
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: (model: string) => Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const bulkheads = yield* Bulkhead.keyed({ maxConcurrent: 4, maxQueue: 8, maxKeys: 100 })
 *   const ask = (model: string) => complete(model).pipe(Bulkhead.protect(bulkheads.get(`openai/${model}`)))
 *   return yield* ask("gpt-4o")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed = (options: KeyedOptions): Effect.Effect<Keyed, PolicyError.InvalidPolicyError> =>
  internal.keyed(options)

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * Runs an effect through a bulkhead.
 *
 * - with a free slot the effect runs at once;
 * - with every slot taken and room in the queue, the caller waits and runs
 *   as soon as a slot frees. Waiting callers take freed slots strictly in
 *   arrival order;
 * - otherwise it fails at once with a `BulkheadRejectedError`, without
 *   running the effect.
 *
 * Interrupting a waiting caller removes it from the queue; a running effect
 * frees its slot however it ends (success, failure, defect, interruption).
 * A call that passes costs a few counter updates.
 *
 * @example
 * ```ts
 * import { Bulkhead, ProviderError } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ key: "anthropic", maxConcurrent: 2, maxQueue: 1 })
 *   // data-last
 *   const a = yield* complete.pipe(Bulkhead.protect(bulkhead))
 *   // data-first
 *   const b = yield* Bulkhead.protect(complete, bulkhead)
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadRejectedError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    internal.protect(self, bulkhead)
)

/**
 * Makes the calls of an effect that pass a bulkhead (`protect` or the
 * `Resilience` pipeline) keep their slot until `scope` closes, instead of
 * freeing it when they succeed: for a call whose result is read after it
 * returns, e.g. the head of a streamed response, whose connection stays open
 * while the rest of the stream is read. A call that fails or is interrupted
 * frees its slot at once, as without it; so does any call made after `scope`
 * closed. Fibers forked by the effect inherit the setting.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const openStream: Effect.Effect<Stream.Stream<string>>
 *
 * // Each stream keeps its slot until it has been read to its end (or failed, or was interrupted).
 * const chunks = Stream.unwrapScoped(Effect.gen(function*() {
 *   const scope = yield* Effect.scope
 *   return yield* openStream.pipe(Bulkhead.protect(bulkhead), Bulkhead.holdSlotsUntil(scope))
 * }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const holdSlotsUntil: {
  (scope: Scope.Scope): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, scope: Scope.Scope): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, scope: Scope.Scope): Effect.Effect<A, E, R> =>
    internal.holdSlotsUntil(self, scope)
)

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/**
 * Calls running in each bulkhead, tagged with `resilience.key`. Set whenever a
 * call starts or ends.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const active = Metric.value(Bulkhead.activeGauge.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const activeGauge: Metric.Metric.Gauge<number> = Metric.gauge("resilience.bulkhead.active", {
  description: "Calls running in a bulkhead (holding a slot)"
})

/**
 * Calls waiting for a slot in each bulkhead, tagged with `resilience.key`. Set
 * whenever a call joins or leaves the queue.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const queued = Metric.value(Bulkhead.queuedGauge.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const queuedGauge: Metric.Metric.Gauge<number> = Metric.gauge("resilience.bulkhead.queued", {
  description: "Calls waiting for a slot in a bulkhead"
})

/**
 * Calls a full bulkhead refused (failed fast with `BulkheadRejectedError`),
 * tagged with `resilience.key`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const rejected = Metric.value(Bulkhead.rejectedCounter.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const rejectedCounter: Metric.Metric.Counter<number> = Metric.counter("resilience.bulkhead.rejected", {
  description: "Calls a bulkhead refused because every slot and queue place was taken",
  incremental: true
})
