import * as Duration from "effect/Duration"

/**
 * A positive wait in `Clock` milliseconds as a `Duration`, for a loop that sleeps and then checks whether its
 * instant has come.
 *
 * effect's `Duration` keeps whole nanoseconds and rounds a fractional millisecond to the nearest one, so
 * `Duration.millis(at - now)` can end up to half a nanosecond before `at`. Instants are fractional whenever a
 * jittered wait moved a virtual clock (`TestClock`, the simulator's); a loop woken just before `at` then asked
 * for `Duration.millis` of a few picoseconds, got `Duration.zero`, woke at the same instant, and spun there for
 * ever. This is `Duration.millis(millis)` except that it never rounds a positive wait down to zero: the second
 * wait, if one is needed, is a nanosecond, and ends after `at`.
 *
 * @internal
 */
export const positiveWait = (millis: number): Duration.Duration => {
  const wait = Duration.millis(millis)
  return Duration.isZero(wait) ? oneNanosecond : wait
}

const oneNanosecond = Duration.nanos(1n)
