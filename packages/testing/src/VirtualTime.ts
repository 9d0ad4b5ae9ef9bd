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
 * When the code under test does real I/O (say, your agent against a
 * `FakeLlmServer`) the `TestClock` cannot simply be moved ahead: a wait
 * begins only after a real exchange. `eventually` polls a condition while
 * letting real time pass, and `adjustWhenSleeping` moves the clock exactly
 * when some fiber sleeps until now + N ms, which also asserts that the wait
 * was exactly N ms.
 *
 * @since 0.1.0
 */
import { Backoff } from "@effect-resilience/core"
import * as Chunk from "effect/Chunk"
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
import * as TestServices from "effect/TestServices"

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

/**
 * Lets real time pass for a moment, so that real I/O (sockets, timers of the
 * runtime) makes progress while the `TestClock` stands still. Used only
 * between polls of a condition, never to wait for an outcome.
 */
const pause: Effect.Effect<void> = TestServices.provideLive(Effect.sleep("1 millis"))

/**
 * How many polls `eventually` makes by default before it gives up: with a
 * real millisecond between polls, a few seconds of real time.
 *
 * @example
 * ```ts
 * import { VirtualTime } from "@effect-resilience/testing"
 *
 * VirtualTime.defaultMaxPolls // 3000
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxPolls = 3_000

/**
 * Polls a condition until it holds, letting a real millisecond pass between
 * polls so that real I/O (a `FakeLlmServer` exchange, a socket) makes
 * progress while the `TestClock` stands still. After `maxPolls` polls
 * (default `defaultMaxPolls`) it dies with `what` in the message. A bounded
 * wait for a condition under virtual time, not a timing assertion: the
 * `TestClock` is never moved.
 *
 * @example
 * ```ts
 * import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeLlmServer.make({ responses: { default: FakeLlmServer.text("Hi") } })
 *   // ... start the agent under test in a fiber, then:
 *   yield* VirtualTime.eventually(
 *     "2 requests at the server",
 *     Effect.map(server.requests, (requests) => requests.length >= 2),
 *     { maxPolls: 500 }
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category runners
 */
export const eventually = <E, R>(
  what: string,
  condition: Effect.Effect<boolean, E, R>,
  options?: { readonly maxPolls?: number | undefined }
): Effect.Effect<void, E, R> => {
  const maxPolls = Math.max(1, options?.maxPolls ?? defaultMaxPolls)
  return Effect.tap(condition, (holds) => holds ? Effect.void : pause).pipe(
    Effect.repeat({ until: (holds) => holds, times: maxPolls - 1 }),
    Effect.flatMap((holds) =>
      holds
        ? Effect.void
        : Effect.dieMessage(`VirtualTime.eventually: still waiting, after ${maxPolls} polls, for: ${what}`)
    )
  )
}

/**
 * Waits (a bounded poll, as `eventually`) until some fiber sleeps on the
 * `TestClock` until exactly the instant `at` (milliseconds of the clock);
 * dies naming the instant if none does. With real I/O in between, a sleep
 * begins a few event-loop turns after the call that leads to it: this is the
 * moment when the clock may be moved.
 *
 * @example
 * ```ts
 * import { VirtualTime } from "@effect-resilience/testing"
 * import { Effect, TestClock } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* Effect.fork(Effect.sleep("2 seconds"))
 *   yield* VirtualTime.awaitSleep(2_000)
 *   yield* TestClock.adjust("2 seconds")
 * })
 * ```
 *
 * @since 0.1.0
 * @category runners
 */
export const awaitSleep = (
  at: number,
  options?: { readonly maxPolls?: number | undefined }
): Effect.Effect<void> =>
  eventually(
    `a sleep until ${at} ms on the TestClock`,
    Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (instant) => instant === at)),
    options
  )

/**
 * Waits until some fiber sleeps on the `TestClock` for exactly `millis` from
 * now, then moves the clock forward by `millis`: the wait is the code's, and
 * it was exactly `millis` long. A wait of any other length is not taken for
 * it, so the step dies (after the bounded polls of `awaitSleep`) when the
 * code under test waits 999 ms where 1000 ms were expected.
 *
 * @example
 * ```ts
 * import { VirtualTime } from "@effect-resilience/testing"
 * import { Effect, Fiber } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const fiber = yield* Effect.fork(Effect.sleep("1500 millis"))
 *   yield* VirtualTime.adjustWhenSleeping(1_500)
 *   yield* Fiber.join(fiber)
 * })
 * ```
 *
 * @since 0.1.0
 * @category runners
 */
export const adjustWhenSleeping = (
  millis: number,
  options?: { readonly maxPolls?: number | undefined }
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* awaitSleep(now + millis, options)
    yield* TestClock.adjust(millis)
  })
