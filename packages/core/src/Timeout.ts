/**
 * Timeout: a limit on how long one attempt at a provider call may take.
 *
 * `Timeout.protect` interrupts an attempt that takes longer than `after` (its
 * finalizers run, an HTTP request in flight is aborted) and fails it with an
 * `AttemptTimeoutError`, which `Classify.standard` calls `Transient` with
 * reason `Timeout`: a retry around the timeout tries again. In the composed
 * pipeline it sits innermost, right around the provider call, so that each
 * retry gets a fresh `after`; the caller's total time is `Deadline`'s job.
 *
 * It costs little on the happy path, where nearly every call is. `Effect.timeout`
 * forks two fibers and arms a timer on every call; a `Timeout` runs the
 * attempt on the caller's fiber and only notes its deadline in a list that one
 * sweeper fiber (per `Clock`) watches, sleeping until the earliest deadline.
 * The sweeper is started by the first attempt that needs it, stops when no
 * attempt is in flight, and is interrupted when the scope of `Timeout.make`
 * closes. Everything goes through `Clock`, so `TestClock` times out attempts
 * at exact instants. `Timeout.keyed` serves any number of keys from one such
 * timer: a key holds no state (the composed pipeline uses it).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Classify from "./Classify.js"
import * as internal from "./internal/timeout.js"
import type * as PolicyError from "./PolicyError.js"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/**
 * An attempt took longer than its timeout and was interrupted. Transient, with
 * reason `Timeout`: the same call may well be faster next time.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const error = new Timeout.AttemptTimeoutError({ key: "openai/gpt-4o", after: Duration.seconds(30) })
 * error.message // "attempt on openai/gpt-4o timed out after 30s"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AttemptTimeoutError
  extends Schema.TaggedError<AttemptTimeoutError>("@effect-resilience/core/AttemptTimeoutError")(
    "AttemptTimeoutError",
    {
      key: Schema.String,
      after: Schema.DurationFromSelf
    }
  )
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `attempt on ${this.key} timed out after ${Duration.format(this.after)}`
  }

  /**
   * The verdict this error carries: transient, reason `Timeout`.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient("Timeout")
  }
}

/**
 * Tells whether a value is an `AttemptTimeoutError`.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 *
 * Timeout.isAttemptTimeoutError(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isAttemptTimeoutError = (u: unknown): u is AttemptTimeoutError => u instanceof AttemptTimeoutError

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The brand of a `Timeout`.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 *
 * const isTimeout = (u: object): boolean => Timeout.TypeId in u
 * ```
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * How attempts are timed:
 *
 * - `"shared"` (the default): the attempt runs on the caller's fiber and one
 *   sweeper fiber per `Clock` serves every attempt in flight — no fiber and no
 *   timer per call;
 * - `"perCall"`: `Effect.timeout`'s race, with a fiber and a timer per call.
 *   The reference behaviour, kept to compare against and as an escape hatch.
 *
 * A `"shared"` timeout falls back to the per-call race for an attempt that
 * starts on a fiber with children of its own (the interruption of a fiber
 * reaches its children, and only the attempt may be cut short), and after
 * its scope has closed.
 *
 * One caveat of `"shared"`, from effect 3's runtime: when a timed-out attempt
 * runs an asynchronous scope finalizer (`acquireRelease`, `addFinalizer`)
 * while it winds down, an interruption of the caller's fiber that arrives
 * during that finalizer is forgotten when it ends (the finalizer restores the
 * fiber's state as it was when it started), and the caller goes on with the
 * `AttemptTimeoutError`. Synchronous finalizers, `Effect.ensuring` and
 * `Effect.onExit` are not affected. Where an outer interruption must never be
 * missed in that window, use `"perCall"`.
 *
 * @example
 * ```ts
 * import type { Timeout } from "@effect-resilience/core"
 *
 * const timer: Timeout.Timer = "shared"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Timer = "shared" | "perCall"

/**
 * The options of a timeout.
 *
 * @example
 * ```ts
 * import type { Timeout } from "@effect-resilience/core"
 *
 * const options: Timeout.Options = { after: "30 seconds", key: "openai/gpt-4o" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long one attempt may take: a positive, finite duration. */
  readonly after: Duration.DurationInput
  /** Names what is protected in errors and events, e.g. `"openai/gpt-4o"`. Default `"default"`. */
  readonly key?: string | undefined
  /** How attempts are timed. Default `"shared"`. */
  readonly timer?: Timer | undefined
}

/**
 * A validated per-attempt timeout, with the shared timer that serves its
 * attempts.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const timeout: Timeout.Timeout = yield* Timeout.make({ after: "30 seconds" })
 *   return Duration.toSeconds(timeout.after) // 30
 * }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeout {
  readonly [TypeId]: TypeId
  /** How long one attempt may take. */
  readonly after: Duration.Duration
  readonly key: string
  readonly timer: Timer
}

/**
 * The options of a family of timeouts, one per key (`Timeout.keyed`).
 *
 * @example
 * ```ts
 * import type { Timeout } from "@effect-resilience/core"
 *
 * const options: Timeout.KeyedOptions = { after: "2 minutes" }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface KeyedOptions {
  /** How long one attempt may take, for every key: a positive, finite duration. */
  readonly after: Duration.DurationInput
  /** How attempts are timed. Default `"shared"`. */
  readonly timer?: Timer | undefined
}

/**
 * Timeouts for any number of keys, served by one shared timer (`Timeout.keyed`).
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const timeouts: Timeout.Keyed = yield* Timeout.keyed({ after: "30 seconds" })
 *   return yield* complete.pipe(Timeout.protect(timeouts.get("openai/gpt-4o")))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface Keyed {
  /** How long one attempt may take, for every key. */
  readonly after: Duration.Duration
  readonly timer: Timer
  /** The timeout of a key: a name on the family's timer, cheap to ask for on every call. */
  readonly get: (key: string) => Timeout
  /** Attempts in flight, all keys together (also what `inFlight` says of any key's timeout). */
  readonly inFlight: Effect.Effect<number>
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Makes a timeout, or fails with an `InvalidPolicyError` listing every problem
 * of the options (`after` must be a positive, finite duration).
 *
 * The shared timer lives in the scope: its sweeper fiber is started by the
 * first attempt that needs it, ends by itself when no attempt is in flight,
 * and is interrupted when the scope closes, so no timer keeps the process
 * alive. Make one `Timeout` per key where the program starts (a `Layer`), not
 * one per call; for many keys (one per tenant), `Timeout.keyed` serves them
 * all from one timer.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const timeout = yield* Timeout.make({ after: "30 seconds", key: "openai/gpt-4o" })
 *   return yield* complete.pipe(Timeout.protect(timeout))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<Timeout, PolicyError.InvalidPolicyError, Scope.Scope> =
  internal.make

/**
 * Makes timeouts for any number of keys (one per provider, model, tenant),
 * all served by one shared timer: one sweeper fiber per `Clock` for the
 * whole family, whatever the number of keys. A key holds no state: its
 * timeout is only a name that errors and events carry, so keys cost no
 * memory and need no eviction. Fails with an `InvalidPolicyError` as `make`.
 *
 * **Gotchas**
 *
 * - `inFlight` of a key's timeout counts the attempts of every key.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: (tenant: string) => Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const timeouts = yield* Timeout.keyed({ after: "30 seconds" })
 *   const answer = (tenant: string) => complete(tenant).pipe(Timeout.protect(timeouts.get(tenant)))
 *   return yield* Effect.all([answer("tenant-1"), answer("tenant-2")])
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const keyed: (options: KeyedOptions) => Effect.Effect<Keyed, PolicyError.InvalidPolicyError, Scope.Scope> =
  internal.keyed

// ---------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------

/**
 * Runs an effect with a time limit. When it takes longer than `after`, it is
 * interrupted (its finalizers run before this returns) and the effect fails
 * with an `AttemptTimeoutError`; an `AttemptTimedOut` event is published.
 *
 * - an attempt that ends before `after` keeps its outcome (at `after - 1 ms`
 *   it still succeeds); one still running at `after` is cut short then;
 * - the attempt's own failures and defects pass through unchanged;
 * - interrupting the caller interrupts the attempt, as usual, and leaves
 *   nothing behind in the shared timer;
 * - an attempt that cannot be interrupted (an uninterruptible region) runs to
 *   its end and then fails with `AttemptTimeoutError`, as with `Effect.timeout`.
 *
 * With the shared timer (the default) the attempt runs on the caller's fiber,
 * which is what keeps the happy path cheap: a call that succeeds only
 * registers its deadline and takes it back, a few microseconds, about a
 * fifteenth of what `Effect.timeout` costs (`packages/bench/src/timeout.ts`).
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const timeout = yield* Timeout.make({ after: "30 seconds", key: "anthropic" })
 *   // data-last
 *   const a = yield* complete.pipe(Timeout.protect(timeout))
 *   // data-first
 *   const b = yield* Timeout.protect(complete, timeout)
 *   return [a, b]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: {
  (timeout: Timeout): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | AttemptTimeoutError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Timeout): Effect.Effect<A, E | AttemptTimeoutError, R>
} = dual(2, internal.protect)

// ---------------------------------------------------------------------------
// Getters
// ---------------------------------------------------------------------------

/**
 * The number of attempts protected by a timeout that have started and not
 * yet ended.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const timeout = yield* Timeout.make({ after: "10 seconds" })
 *   yield* Effect.succeed("done").pipe(Timeout.protect(timeout))
 *   return yield* Timeout.inFlight(timeout) // 0
 * }))
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const inFlight: (self: Timeout) => Effect.Effect<number> = internal.inFlight
