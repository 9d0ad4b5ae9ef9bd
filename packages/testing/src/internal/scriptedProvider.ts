import type { ProviderError } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as ScriptedProvider from "../ScriptedProvider.js"
import * as errors from "./errors.js"

type Step<A> = ScriptedProvider.Step<A>

/** A step with its errors made for one provider name, once, so every repeat of a step fails with the same error. */
type Resolved<A> =
  | { readonly _tag: "Succeed"; readonly value: A; readonly after: Duration.Duration }
  | { readonly _tag: "Fail"; readonly error: ProviderError.ProviderError; readonly after: Duration.Duration }
  | { readonly _tag: "Hang" }
  | {
    readonly _tag: "StreamParts"
    readonly parts: ReadonlyArray<A>
    readonly interval: Duration.Duration
    readonly end:
      | { readonly _tag: "Complete" }
      | { readonly _tag: "Fail"; readonly error: ProviderError.ProviderError }
      | { readonly _tag: "Stall" }
  }

const resolve = <A>(step: Step<A>, provider: string): Resolved<A> => {
  switch (step._tag) {
    case "Fail":
      return { _tag: "Fail", error: step.error(provider), after: step.after }
    case "StreamParts":
      return step.end._tag === "Fail"
        ? { ...step, end: { _tag: "Fail", error: step.end.error(provider) } }
        : { ...step, end: step.end }
    default:
      return step
  }
}

const after = <A, E>(delay: Duration.Duration, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Duration.isZero(delay) ? effect : Effect.zipRight(Effect.sleep(delay), effect)

/** Implements `ScriptedProvider.make`, documented there. */
export const make = <In = unknown, A = never>(
  script: ReadonlyArray<Step<A>>,
  options?: ScriptedProvider.Options
): Effect.Effect<ScriptedProvider.ScriptedProvider<In, A>> =>
  Effect.sync(() => {
    const provider = options?.provider ?? "scripted"
    const onExhausted = options?.onExhausted ?? "repeatLast"
    const steps = script.map((step) => resolve(step, provider))
    const calls: Array<ScriptedProvider.Call<In>> = []

    // Reading the clock and taking the step happen in one synchronous step, so
    // concurrent calls get distinct attempt numbers in the order they started.
    const next = (input: In): Effect.Effect<{ readonly step: Resolved<A>; readonly attempt: number }> =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.suspend(() => {
          const attempt = calls.length + 1
          calls.push({ attempt, at, input })
          if (steps.length === 0) {
            return Effect.dieMessage(`ScriptedProvider(${provider}): call ${attempt} found an empty script`)
          }
          if (attempt > steps.length && onExhausted === "die") {
            return Effect.dieMessage(
              `ScriptedProvider(${provider}): the script has ${steps.length} step(s) and call ${attempt} ` +
                `asked for one more (onExhausted: "die")`
            )
          }
          return Effect.succeed({ step: steps[Math.min(attempt, steps.length) - 1], attempt })
        }))

    const call = (input: In): Effect.Effect<A, ProviderError.ProviderError> =>
      Effect.flatMap(next(input), ({ attempt, step }): Effect.Effect<A, ProviderError.ProviderError> => {
        switch (step._tag) {
          case "Succeed":
            return after(step.after, Effect.succeed(step.value))
          case "Fail":
            return after(step.after, Effect.fail(step.error))
          case "Hang":
            return Effect.never
          case "StreamParts":
            return Effect.dieMessage(
              `ScriptedProvider(${provider}): call ${attempt} met a stream step; consume it with \`stream\``
            )
        }
      })

    const stream = (input: In): Stream.Stream<A, ProviderError.ProviderError> =>
      Stream.unwrap(Effect.map(next(input), ({ step }): Stream.Stream<A, ProviderError.ProviderError> => {
        switch (step._tag) {
          case "Succeed":
            return Stream.fromEffect(after(step.after, Effect.succeed(step.value)))
          case "Fail":
            return Stream.fromEffect(after(step.after, Effect.fail(step.error)))
          case "Hang":
            return Stream.never
          case "StreamParts": {
            const parts = Stream.fromIterable(step.parts).pipe(
              Stream.mapEffect((part) => after(step.interval, Effect.succeed(part)))
            )
            switch (step.end._tag) {
              case "Complete":
                return parts
              case "Fail":
                return Stream.concat(parts, Stream.fail(step.end.error))
              case "Stall":
                return Stream.concat(parts, Stream.never)
            }
          }
        }
      }))

    return {
      provider,
      call,
      stream,
      calls: Effect.sync(() => calls.slice())
    }
  })

const decodeAfter = (options: { readonly after?: Duration.DurationInput | undefined } | undefined) =>
  options?.after === undefined ? Duration.zero : Duration.decode(options.after)

/** Implements `ScriptedProvider.succeed`, documented there. */
export const succeed = <A>(value: A, options?: { readonly after?: Duration.DurationInput | undefined }): Step<A> => ({
  _tag: "Succeed",
  value,
  after: decodeAfter(options)
})

/** Implements `ScriptedProvider.fail`, documented there. */
export const fail = (
  error: ProviderError.ProviderError,
  options?: { readonly after?: Duration.DurationInput | undefined }
): Step<never> => ({ _tag: "Fail", error: () => error, after: decodeAfter(options) })

const failWith = (kind: errors.Kind) =>
(options?: {
  readonly status?: number | undefined
  readonly retryAfter?: Duration.DurationInput | undefined
  readonly after?: Duration.DurationInput | undefined
}): Step<never> => ({
  _tag: "Fail",
  error: (provider) => errors.make(kind, provider, options),
  after: decodeAfter(options)
})

/** Implements `ScriptedProvider.rateLimited`, documented there. */
export const rateLimited = failWith("rateLimited")
/** Implements `ScriptedProvider.overloaded`, documented there. */
export const overloaded = failWith("overloaded")
/** Implements `ScriptedProvider.unavailable`, documented there. */
export const unavailable = failWith("unavailable")
/** Implements `ScriptedProvider.unauthorized`, documented there. */
export const unauthorized: (options?: {
  readonly status?: number | undefined
  readonly after?: Duration.DurationInput | undefined
}) => Step<never> = failWith("unauthorized")

/** Implements `ScriptedProvider.hang`, documented there. */
export const hang = (): Step<never> => ({ _tag: "Hang" })

/** Implements `ScriptedProvider.streamParts`, documented there. */
export const streamParts = <A>(parts: ReadonlyArray<A>, options?: ScriptedProvider.StreamPartsOptions): Step<A> => {
  const interval = options?.interval === undefined ? Duration.zero : Duration.decode(options.interval)
  if (options?.stallAfter !== undefined) {
    return {
      _tag: "StreamParts",
      parts: parts.slice(0, Math.max(0, options.stallAfter)),
      interval,
      end: { _tag: "Stall" }
    }
  }
  if (options?.failAfter !== undefined || options?.error !== undefined) {
    const delivered = parts.slice(0, Math.max(0, options.failAfter ?? parts.length))
    const error = options.error
    return {
      _tag: "StreamParts",
      parts: delivered,
      interval,
      end: {
        _tag: "Fail",
        error: error === undefined
          ? (provider) =>
            errors.make("network", provider, { message: `connection dropped after ${delivered.length} part(s)` })
          : () => error
      }
    }
  }
  return { _tag: "StreamParts", parts: parts.slice(), interval, end: { _tag: "Complete" } }
}
