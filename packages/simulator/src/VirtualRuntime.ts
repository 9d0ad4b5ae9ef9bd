/**
 * The simulator's engine, a discrete-event runtime (not to be confused with
 * `@effect-resilience/testing`'s `VirtualTime`, which drives effect's `TestClock`): runs an effect with a `Clock` whose
 * sleeps are timers in a priority queue and a synchronous `Scheduler` that the
 * driver drains, so that a simulated hour with thousands of sleeping fibers
 * takes milliseconds of real time (effect's `TestClock` wakes one sleep at a time
 * with a real timer in between).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as internal from "./internal/virtualRuntime.js"

/**
 * The outcome of a virtual-time run: the exit (`undefined` when the horizon was
 * reached or the workload deadlocked), the virtual time elapsed and the number of
 * sleeps woken.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { VirtualRuntime } from "@effect-resilience/simulator"
 * import { Effect } from "effect"
 *
 * const result: VirtualRuntime.RunResult<number, never> = VirtualRuntime.runSync(Effect.succeed(1))
 * console.log(result.elapsed)
 * ```
 */
export interface RunResult<A, E> {
  readonly exit: Exit.Exit<A, E> | undefined
  readonly elapsed: Duration.Duration
  readonly wakeUps: number
}

/**
 * Runs an effect to completion in virtual time: drain every runnable task, then
 * jump the clock to the earliest timer and wake every sleep due at that instant,
 * until the effect is done or the `horizon` is passed (the effect is then interrupted).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { VirtualRuntime } from "@effect-resilience/simulator"
 * import { Effect } from "effect"
 *
 * // An hour of virtual time, a few microseconds of real time.
 * const result = VirtualRuntime.runSync(Effect.sleep("1 hour").pipe(Effect.as("done")))
 * console.log(result.exit, result.elapsed)
 * ```
 */
export const runSync: <A, E>(
  effect: Effect.Effect<A, E>,
  options?: { readonly horizon?: Duration.DurationInput | undefined }
) => RunResult<A, E> = internal.runSync
