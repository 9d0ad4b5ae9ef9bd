import * as Duration from "effect/Duration"

/**
 * The wait from `now` until the later instant `at` (both in `Clock` milliseconds), for a loop that sleeps and
 * then checks whether `at` has come.
 *
 * effect's `Duration` keeps whole nanoseconds and rounds a fractional millisecond to the nearest one, so
 * `Duration.millis(at - now)` can end up to half a nanosecond before `at`. Instants are fractional whenever a
 * jittered wait moved a virtual clock (`TestClock`, the simulator's); a loop woken just before `at` then asked
 * for `Duration.millis` of a few picoseconds, got `Duration.zero`, woke at the same instant, and spun there for
 * ever. This is `Duration.millis(at - now)` except that it never rounds a positive wait down to zero: the
 * second wait, if one is needed, is a nanosecond, and ends after `at`.
 *
 * @internal
 */
export const untilInstant = (now: number, at: number): Duration.Duration => {
  const wait = Duration.millis(at - now)
  return Duration.isZero(wait) ? oneNanosecond : wait
}

const oneNanosecond = Duration.nanos(1n)
