import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"

/** One step of a schedule: the state after it and how long it asks to wait. */
export interface Step {
  readonly state: unknown
  readonly delayMillis: number
}

/**
 * Steps a schedule once without sleeping; `undefined` when the schedule is done.
 * This is what `Schedule.driver` does minus the sleep, so that a caller can
 * inspect the delay (and raise it to a Retry-After) before waiting.
 */
export const step = <Out, In, R>(
  schedule: Schedule.Schedule<Out, In, R>,
  now: number,
  input: In,
  state: unknown
): Effect.Effect<Step | undefined, never, R> =>
  Effect.map(schedule.step(now, input, state), ([state, _, decision]) =>
    ScheduleDecision.isDone(decision)
      ? undefined
      : { state, delayMillis: Math.max(0, ScheduleIntervals.start(decision.intervals) - now) })
