import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import type * as TestServices from "effect/TestServices"
import * as ProviderError from "../src/ProviderError.js"

/** What a scripted call does: succeed with a value, or fail with an error. */
export type Outcome<A, E> = { readonly succeed: A } | { readonly fail: E }

/**
 * A provider call whose outcomes come from a script, one per call; the last
 * outcome repeats. It records the `Clock` instant of every call.
 */
export const scripted = <A, E>(script: ReadonlyArray<Outcome<A, E>>) => {
  const instants: Array<number> = []
  const call: Effect.Effect<A, E> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const outcome = script[Math.min(instants.length, script.length - 1)]
    instants.push(now)
    return "succeed" in outcome ? Effect.succeed(outcome.succeed) : Effect.fail(outcome.fail)
  })
  return {
    call,
    instants,
    get calls() {
      return instants.length
    }
  }
}

export const rateLimited = (retryAfter?: Duration.DurationInput) =>
  new ProviderError.TransientError({
    provider: "test",
    reason: "RateLimited",
    status: 429,
    ...(retryAfter === undefined ? {} : { retryAfter: Duration.decode(retryAfter) }),
    message: "rate limited"
  })

export const overloaded = () =>
  new ProviderError.TransientError({ provider: "test", reason: "Overloaded", status: 529, message: "overloaded" })

export const unauthorized = () =>
  new ProviderError.PermanentError({ provider: "test", reason: "Authentication", status: 401, message: "bad key" })

/**
 * Runs an effect to completion in virtual time: forks it, moves the
 * `TestClock` far enough for every sleep to fire, and returns its exit with
 * the instant it ended.
 */
export const runVirtual = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  horizon: Duration.DurationInput = "1 hour"
): Effect.Effect<{ readonly exit: Exit.Exit<A, E>; readonly endedAt: number }, never, R | TestServices.TestServices> =>
  Effect.gen(function*() {
    const fiber = yield* effect.pipe(
      Effect.exit,
      Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (endedAt) => ({ exit, endedAt }))),
      Effect.fork
    )
    yield* TestClock.adjust(horizon)
    return yield* Fiber.join(fiber)
  })

export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a Fail cause, got ${exit.cause._tag}`)
  // Effect.fail inside a span hands on a proxy of the error that carries the span; compare the original.
  return Cause.originalError(failure)
}
