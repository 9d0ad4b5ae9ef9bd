/**
 * VirtualTime: one-line assertions and runners for tests under `TestClock`.
 *
 * `expectDelays` checks the delays a schedule would wait (via
 * `Backoff.delays`, without waiting) and fails with a message that shows
 * both lists and the first difference. `run` runs an effect to its end while
 * moving the `TestClock` forward, and says when it ended: the shape of every
 * timing test in this library. For reproducible jitter, pair them with
 * `SeededRandom` (re-exported by this package).
 *
 * @since 0.1.0
 */
import { Backoff } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type * as TestServices from "effect/TestServices"

/**
 * A schedule's delays were not the ones expected. Both lists are in
 * milliseconds; the message shows them and the first difference.
 *
 * @example
 * ```ts
 * import { VirtualTime } from "@effect-resilience/testing"
 *
 * const error = new VirtualTime.DelaysMismatchError({ expected: [10, 20, 40], actual: [10, 20, 50] })
 * error.message // "expected delays [10, 20, 40] ms, got [10, 20, 50] ms: delay 3 is 50 ms, expected 40 ms"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DelaysMismatchError extends Schema.TaggedError<DelaysMismatchError>(
  "@effect-resilience/testing/DelaysMismatchError"
)("DelaysMismatchError", {
  expected: Schema.Array(Schema.Number),
  actual: Schema.Array(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const { actual, expected } = this
    const list = (millis: ReadonlyArray<number>) => `[${millis.join(", ")}] ms`
    const i = expected.findIndex((delay, i) => actual[i] !== delay)
    const difference = i === -1
      ? `${actual.length - expected.length} more than expected`
      : i >= actual.length
      ? `the schedule stopped after ${actual.length} delay(s)`
      : `delay ${i + 1} is ${actual[i]} ms, expected ${expected[i]} ms`
    return `expected delays ${list(expected)}, got ${list(actual)}: ${difference}`
  }
}

/**
 * Checks that a schedule's first delays are exactly `expected` (numbers are
 * milliseconds), computed without waiting; fails with a
 * `DelaysMismatchError` otherwise. With `{ exhaustive: true }` the schedule
 * must also stop right after them.
 *
 * @example
 * ```ts
 * import { Backoff, SeededRandom } from "@effect-resilience/core"
 * import { VirtualTime } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* VirtualTime.expectDelays(Backoff.exponential({ base: "10 millis", max: "40 millis" }), [10, 20, 40, 40])
 *   // data-last, with reproducible jitter
 *   yield* Backoff.standard.pipe(VirtualTime.expectDelays([25.965686, 852.406691]), SeededRandom.withSeed(1))
 * })
 * ```
 *
 * @since 0.1.0
 * @category assertions
 */
export const expectDelays: {
  (
    expected: ReadonlyArray<Duration.DurationInput>,
    options?: { readonly exhaustive?: boolean | undefined }
  ): <Out, R>(self: Schedule.Schedule<Out, unknown, R>) => Effect.Effect<void, DelaysMismatchError, R>
  <Out, R>(
    self: Schedule.Schedule<Out, unknown, R>,
    expected: ReadonlyArray<Duration.DurationInput>,
    options?: { readonly exhaustive?: boolean | undefined }
  ): Effect.Effect<void, DelaysMismatchError, R>
} = dual(
  (args) => Schedule.isSchedule(args[0]),
  <Out, R>(
    self: Schedule.Schedule<Out, unknown, R>,
    expected: ReadonlyArray<Duration.DurationInput>,
    options?: { readonly exhaustive?: boolean | undefined }
  ): Effect.Effect<void, DelaysMismatchError, R> => {
    const expectedMillis = expected.map((delay) => Duration.toMillis(Duration.decode(delay)))
    // One delay more than expected tells an exhaustive check whether the schedule stops.
    const count = expectedMillis.length + (options?.exhaustive === true ? 1 : 0)
    return Effect.flatMap(Backoff.delays(self, count), (delays) => {
      const actual = delays.map(Duration.toMillis)
      const same = actual.length === expectedMillis.length && actual.every((delay, i) => delay === expectedMillis[i])
      return same ? Effect.void : Effect.fail(new DelaysMismatchError({ expected: expectedMillis, actual }))
    })
  }
)

/**
 * How a run in virtual time ended: the effect's exit and the `Clock` instant
 * (milliseconds) it ended at.
 *
 * @example
 * ```ts
 * import type { VirtualTime } from "@effect-resilience/testing"
 * import { Exit } from "effect"
 *
 * const result: VirtualTime.Result<string, never> = { exit: Exit.succeed("done"), endedAt: 1_500 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly endedAt: number
}

/**
 * Runs an effect to its end in virtual time: forks it, moves the `TestClock`
 * forward by `horizon` (default 1 hour), firing every sleep due on the way in
 * order, and gives the effect's exit with the instant it ended. The clock is
 * left at the horizon, whenever the effect ended. An effect still running at
 * the horizon is interrupted, and the run dies saying so.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { ScriptedProvider, VirtualTime } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const provider = yield* ScriptedProvider.make<string, string>([
 *     ScriptedProvider.rateLimited({ retryAfter: "2 seconds" }),
 *     ScriptedProvider.succeed("hello")
 *   ])
 *   const { endedAt, exit } = yield* VirtualTime.run(provider.call("Hi").pipe(Retry.retry(Retry.standard)))
 *   // exit: Exit.succeed("hello"), endedAt: 2000
 * })
 * ```
 *
 * @since 0.1.0
 * @category runners
 */
export const run = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  horizon: Duration.DurationInput = "1 hour"
): Effect.Effect<Result<A, E>, never, R | TestServices.TestServices> =>
  Effect.gen(function*() {
    const fiber = yield* effect.pipe(
      Effect.exit,
      Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (endedAt): Result<A, E> => ({ exit, endedAt }))),
      Effect.fork
    )
    yield* TestClock.adjust(horizon)
    const result = yield* Fiber.poll(fiber)
    if (Option.isSome(result)) return yield* result.value
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage(
      `VirtualTime.run: the effect was still running ${Duration.format(Duration.decode(horizon))} ` +
        `of virtual time after it started; it was interrupted (pass a longer horizon if it needs more)`
    )
  })
