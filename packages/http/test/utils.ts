import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"

/**
 * Lets real time pass for a moment, so that real I/O (sockets) makes progress while the `TestClock` stands
 * still. Used only between polls of a condition, never to wait for an outcome.
 */
export const pause: Effect.Effect<void> = TestServices.provideLive(Effect.sleep("1 millis"))

/**
 * Polls a condition until it holds, yielding to the event loop between polls; fails (as a defect, with
 * `what` in the message) after `maxPolls` polls. A bounded poll for a condition, not a timing assertion.
 */
export const eventually = <E, R>(
  what: string,
  condition: Effect.Effect<boolean, E, R>,
  maxPolls = 2_000
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    for (let poll = 0; poll < maxPolls; poll++) {
      if (yield* condition) return
      yield* pause
    }
    return yield* Effect.dieMessage(`still waiting, after ${maxPolls} polls, for: ${what}`)
  })

/** Waits until some fiber sleeps on the `TestClock` until exactly `at` (milliseconds). */
export const awaitSleepUntil = (at: number): Effect.Effect<void> =>
  eventually(
    `a sleep until ${at} ms on the TestClock`,
    Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (instant) => instant === at))
  )

/**
 * Waits until the client sleeps for exactly `millis` from now on the `TestClock`, then moves the clock by
 * that much: the wait is the client's, and it was `millis` long.
 */
export const adjustWhenSleeping = (millis: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* awaitSleepUntil(now + millis)
    yield* TestClock.adjust(millis)
  })

/** Waits until `count` requests have arrived. */
export const awaitRequests = <E, R>(
  instants: Effect.Effect<ReadonlyArray<number>, E, R>,
  count: number
): Effect.Effect<void, E, R> =>
  eventually(`${count} requests at the server`, Effect.map(instants, (list) => list.length >= count))
