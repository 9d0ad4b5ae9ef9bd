/**
 * Deadline: the total time a caller allows for one logical call.
 *
 * `Deadline.within(effect, { after })` gives everything inside `effect` one
 * shared deadline: `Retry` never sleeps past it (a retry that would start too
 * late stops at once with the last error, reason `DeadlineWouldPass`), and
 * when it passes, the work in flight is interrupted and the caller gets a
 * `DeadlineExceededError` that says how long was spent and on what (which
 * attempt, or which wait). Nested deadlines keep the earliest.
 *
 * One timer serves the whole logical call, however many attempts it makes.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ResilienceEvent from "./ResilienceEvent.js"

/**
 * The deadline of the logical call in progress. `activity` is kept up to date
 * by the policies inside (e.g. "attempt 2", "waiting 4s before attempt 3"),
 * so that an exceeded deadline can say what it interrupted.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 * import { Effect, Option } from "effect"
 *
 * const at = Effect.map(Deadline.current, Option.map((deadline: Deadline.Deadline) => deadline.at))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Deadline {
  readonly key: string
  /** Clock time, in epoch milliseconds, when the deadline passes. */
  readonly at: number
  readonly startedAt: number
  activity: string
}

/**
 * The caller's deadline ran out before the call completed.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const error = new Deadline.DeadlineExceededError({
 *   key: "openai/gpt-4o",
 *   budget: Duration.seconds(30),
 *   elapsed: Duration.seconds(30),
 *   activity: "waiting 8s before attempt 3"
 * })
 * error.message // "deadline of 30s for openai/gpt-4o exceeded after 30s, while waiting 8s before attempt 3"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadlineExceededError
  extends Schema.TaggedError<DeadlineExceededError>("@effect-resilience/core/DeadlineExceededError")(
    "DeadlineExceededError",
    {
      key: Schema.String,
      budget: Schema.DurationFromSelf,
      elapsed: Schema.DurationFromSelf,
      activity: Schema.String
    }
  )
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const during = this.activity.startsWith("waiting") ? `while ${this.activity}` : `during ${this.activity}`
    return `deadline of ${Duration.format(this.budget)} for ${this.key} exceeded after ${
      Duration.format(this.elapsed)
    }, ${during}`
  }
}

/**
 * Tells whether a value is a `DeadlineExceededError`.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 *
 * Deadline.isDeadlineExceededError(new Error("late")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isDeadlineExceededError = (u: unknown): u is DeadlineExceededError => u instanceof DeadlineExceededError

/**
 * The fiber-local deadline; `None` outside `within`.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 * import { FiberRef } from "effect"
 *
 * const current = FiberRef.get(Deadline.currentDeadline)
 * ```
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentDeadline: FiberRef.FiberRef<Option.Option<Deadline>> = FiberRef.unsafeMake(Option.none())

/**
 * The deadline in force, if any.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Deadline.current.pipe(Deadline.within({ after: "10 seconds" }))
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const current: Effect.Effect<Option.Option<Deadline>> = FiberRef.get(currentDeadline)

/**
 * The time left before the deadline in force (zero once it passed), or
 * `None` without a deadline.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const left = Deadline.remaining.pipe(Deadline.within({ after: "5 seconds" }))
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.flatMap(
  current,
  Option.match({
    onNone: () => Effect.succeedNone,
    onSome: (deadline) =>
      Effect.map(Clock.currentTimeMillis, (now) => Option.some(Duration.millis(Math.max(0, deadline.at - now))))
  })
)

/**
 * Records what the logical call is doing now, for the message of an exceeded
 * deadline. Does nothing without a deadline.
 *
 * @example
 * ```ts
 * import { Deadline } from "@effect-resilience/core"
 *
 * const marked = Deadline.markActivity("attempt 2")
 * ```
 *
 * @since 0.1.0
 * @category operations
 */
export const markActivity = (activity: string): Effect.Effect<void> =>
  Effect.map(current, (deadline) => {
    if (Option.isSome(deadline)) deadline.value.activity = activity
  })

/**
 * Runs an effect with a deadline `after` from now (or the enclosing
 * deadline, if earlier). When it passes, the effect is interrupted and fails
 * with `DeadlineExceededError`; a `DeadlineExceeded` event is published.
 *
 * @example
 * ```ts
 * import { Deadline, Retry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const callModel: Effect.Effect<string, Error>
 *
 * // data-last
 * const a = callModel.pipe(Retry.retry(Retry.standard), Deadline.within({ after: "30 seconds", key: "openai" }))
 * // data-first
 * const b = Deadline.within(callModel, { after: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const within: {
  (options: { readonly after: Duration.DurationInput; readonly key?: string | undefined }): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | DeadlineExceededError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options: { readonly after: Duration.DurationInput; readonly key?: string | undefined }
  ): Effect.Effect<A, E | DeadlineExceededError, R>
} = dual(2, <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: { readonly after: Duration.DurationInput; readonly key?: string | undefined }
): Effect.Effect<A, E | DeadlineExceededError, R> =>
  Effect.flatMap(Effect.zip(Clock.currentTimeMillis, current), ([now, enclosing]) => {
    const at = now + Math.max(0, Duration.toMillis(options.after))
    // An enclosing deadline that passes first already bounds this effect, with its own timer.
    if (Option.isSome(enclosing) && enclosing.value.at <= at) return self
    const deadline: Deadline = { key: options.key ?? "default", at, startedAt: now, activity: "the call" }
    return self.pipe(
      Effect.locally(currentDeadline, Option.some(deadline)),
      Effect.timeoutOption(Duration.millis(at - now)),
      Effect.flatMap(Option.match({
        onSome: Effect.succeed,
        onNone: () => {
          const elapsed = Duration.millis(at - now)
          return ResilienceEvent.publish((at) => ResilienceEvent.DeadlineExceeded({ key: deadline.key, at, elapsed }))
            .pipe(
              Effect.zipRight(
                Effect.fail(
                  new DeadlineExceededError({
                    key: deadline.key,
                    budget: elapsed,
                    elapsed,
                    activity: deadline.activity
                  })
                )
              )
            )
        }
      }))
    )
  }))
