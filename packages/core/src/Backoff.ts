/**
 * Backoff: how long to wait before each retry, as `Schedule` values.
 *
 * Every backoff here is an ordinary `effect` `Schedule`, so it composes with
 * everything `Schedule` offers (`Schedule.upTo`, `Schedule.union`, ...). Each
 * outputs the delay it chose. Jitter draws from effect's `Random` service, so a
 * seeded `Random` (see `SeededRandom`) makes every delay reproducible.
 *
 * A schedule's first delay is the wait before the *second* call: the first call
 * is never delayed.
 *
 * `Backoff.make` checks its plain options where the backoff is defined and
 * throws an `InvalidPolicyError` listing every problem (an unknown jitter, a
 * cap below the base); `Backoff.validate` returns it instead, for options
 * from outside the program.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual, identity } from "effect/Function"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as internal from "./internal/schedule.js"
import { atLeastBase, isRecord, Issues, missing, oneOf, show } from "./internal/validate.js"
import { InvalidPolicyError } from "./PolicyError.js"

/**
 * Exponential backoff, capped: the n-th delay (from 0) is
 * `min(max, base * factor^n)`. `factor` defaults to 2.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const backoff = Backoff.exponential({ base: "10 millis", max: "40 millis" })
 * // 10 ms, 20 ms, 40 ms, 40 ms
 * const delays = Backoff.delays(backoff, 4).pipe(Effect.runSync)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exponential = (options: {
  readonly base: Duration.DurationInput
  readonly factor?: number | undefined
  readonly max: Duration.DurationInput
}): Schedule.Schedule<Duration.Duration> => {
  const base = Duration.toMillis(options.base)
  const factor = options.factor ?? 2
  const max = Duration.toMillis(options.max)
  return Schedule.makeWithState(0, (now, _: unknown, n: number) => {
    // `base * factor ** n` overflows to Infinity for large n; the cap absorbs it.
    const delay = Math.min(max, base * Math.pow(factor, n))
    return Effect.succeed(
      [n + 1, Duration.millis(delay), ScheduleDecision.continueWith(ScheduleInterval.after(now + delay))] as const
    )
  })
}

/**
 * AWS's "decorrelated jitter": each delay is `min(max, random(base, 3 * previous))`,
 * starting from `previous = base`. Delays stay within `[base, max]` and, unlike
 * full jitter, never collapse to zero.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.decorrelated({ base: "100 millis", max: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const decorrelated = (options: {
  readonly base: Duration.DurationInput
  readonly max: Duration.DurationInput
}): Schedule.Schedule<Duration.Duration> => {
  const base = Duration.toMillis(options.base)
  const max = Duration.toMillis(options.max)
  return Schedule.makeWithState(
    base,
    (now, _: unknown, previous: number) =>
      Effect.map(Random.nextRange(base, Math.max(base, 3 * previous)), (drawn) => {
        const delay = Math.min(max, drawn)
        return [
          delay,
          Duration.millis(delay),
          ScheduleDecision.continueWith(ScheduleInterval.after(now + delay))
        ] as const
      })
  )
}

/**
 * How jitter spreads one delay `d`:
 *
 * - `Full`: `random(0, d)`, the spread that minimises contention (AWS);
 * - `Equal`: `d/2 + random(0, d/2)`, never below half the delay;
 * - `Proportional`: `d * (1 + random(-ratio, ratio))`, i.e. ±ratio;
 * - `Additive`: `d + random(0, amount)`, never below the delay.
 *
 * For AWS's decorrelated jitter, which depends on the previous delay rather
 * than on `d`, use `Backoff.decorrelated`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const strategies: ReadonlyArray<Backoff.Jitter> = [
 *   Backoff.full,
 *   Backoff.equal,
 *   Backoff.proportional(0.2),
 *   Backoff.additive("100 millis")
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Jitter =
  | { readonly _tag: "Full" }
  | { readonly _tag: "Equal" }
  | { readonly _tag: "Proportional"; readonly ratio: number }
  | { readonly _tag: "Additive"; readonly amount: Duration.Duration }

/**
 * Full jitter: `random(0, d)`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.exponential({ base: "500 millis", max: "30 seconds" }).pipe(Backoff.jittered(Backoff.full))
 * ```
 *
 * @since 0.1.0
 * @category jitter
 */
export const full: Jitter = { _tag: "Full" }

/**
 * Equal jitter: `d/2 + random(0, d/2)`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.exponential({ base: "500 millis", max: "30 seconds" }).pipe(Backoff.jittered(Backoff.equal))
 * ```
 *
 * @since 0.1.0
 * @category jitter
 */
export const equal: Jitter = { _tag: "Equal" }

/**
 * Proportional jitter: `d * (1 + random(-ratio, ratio))`. `ratio` is clamped to `[0, 1]`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * // ±20 %
 * const backoff = Backoff.exponential({ base: "1 second", max: "8 seconds" }).pipe(
 *   Backoff.jittered(Backoff.proportional(0.2))
 * )
 * ```
 *
 * @since 0.1.0
 * @category jitter
 */
export const proportional = (ratio: number): Jitter => ({ _tag: "Proportional", ratio: clampRatio(ratio) })

/**
 * Additive jitter: `d + random(0, amount)`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.exponential({ base: "1 second", max: "8 seconds" }).pipe(
 *   Backoff.jittered(Backoff.additive("250 millis"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category jitter
 */
export const additive = (amount: Duration.DurationInput): Jitter => ({
  _tag: "Additive",
  amount: Duration.decode(amount)
})

const clampRatio = (ratio: number): number => Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0

/**
 * Spreads every delay of a schedule with a jitter strategy, drawing from
 * effect's `Random`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.jittered(Backoff.exponential({ base: "500 millis", max: "30 seconds" }), Backoff.full)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const jittered: {
  (jitter: Jitter): <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In, R>
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, jitter: Jitter): Schedule.Schedule<Out, In, R>
} = dual(
  2,
  <Out, In, R>(self: Schedule.Schedule<Out, In, R>, jitter: Jitter): Schedule.Schedule<Out, In, R> =>
    Schedule.modifyDelayEffect(self, (_, delay) => spread(Duration.toMillis(delay), jitter))
)

const spread = (d: number, jitter: Jitter): Effect.Effect<Duration.Duration> => {
  switch (jitter._tag) {
    case "Full":
      return Effect.map(Random.nextRange(0, d), Duration.millis)
    case "Equal":
      return Effect.map(Random.nextRange(d / 2, d), Duration.millis)
    case "Proportional":
      return Effect.map(
        Random.nextRange(-jitter.ratio, jitter.ratio),
        (offset) => Duration.millis(Math.max(0, d * (1 + offset)))
      )
    case "Additive":
      return Effect.map(Random.nextRange(0, Duration.toMillis(jitter.amount)), (extra) => Duration.millis(d + extra))
  }
}

/**
 * A backoff described as plain data, e.g. from a configuration file.
 *
 * @example
 * ```ts
 * import type { Backoff } from "@effect-resilience/core"
 *
 * const options: Backoff.Options = { base: "500 millis", factor: 2, max: "30 seconds", jitter: "full" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first delay, before jitter. */
  readonly base: Duration.DurationInput
  /** Growth per retry, in [1, 1000]; 2 when omitted. Ignored by `"decorrelated"`. */
  readonly factor?: number | undefined
  /** No delay is ever longer, jitter included; at least `base`. */
  readonly max: Duration.DurationInput
  /** `"full"` when omitted. */
  readonly jitter?: "none" | "full" | "equal" | "decorrelated" | Jitter | undefined
}

/** Every option's name: a new option added to `Options` and not here is a compile error, not a rejected option. */
const optionNames = { base: true, factor: true, max: true, jitter: true } as const satisfies Record<
  keyof Options,
  true
>

const jitterNames = ["none", "full", "equal", "decorrelated"] as const

/**
 * Checks backoff options and builds the backoff, or lists every problem
 * found (unknown options included), each naming its option: for options
 * that come from outside the program.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * const result = Backoff.validate({ base: "1 second", max: "1 minute", jitter: "ful" as "full" })
 * if (Either.isLeft(result)) {
 *   console.log(result.left.issues)
 *   // ['jitter: must be "none", "full", "equal", "decorrelated" or a Backoff.Jitter, got "ful"']
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (options: Options): Either.Either<Schedule.Schedule<Duration.Duration>, InvalidPolicyError> => {
  const issues = new Issues()
  if (!isRecord(options)) {
    issues.add("options", `must be an object such as { base: "500 millis", max: "30 seconds" }, got ${show(options)}`)
  } else {
    check(issues, options)
  }
  return issues.list.length > 0
    ? Either.left(new InvalidPolicyError({ policy: "backoff", issues: issues.list }))
    : Either.right(build(options))
}

/** Checks every option of a backoff, each problem recorded in `issues` (which may be under another option). */
const check = (issues: Issues, options: Record<string, unknown>): void => {
  issues.unexpectedKeys(options, optionNames)
  const required = (name: "base" | "max"): Duration.Duration | undefined => {
    if (options[name] !== undefined) return issues.duration(name, options[name])
    issues.add(name, missing)
    return undefined
  }
  const base = required("base")
  const max = required("max")
  if (base !== undefined && max !== undefined && Duration.lessThan(max, base)) {
    issues.add("max", atLeastBase(base, options.max))
  }
  if (options.factor !== undefined) issues.numberInRange("factor", options.factor, 1, 1000)
  const jitter = options.jitter
  if (jitter === undefined || (jitterNames as ReadonlyArray<unknown>).includes(jitter)) return
  if (isRecord(jitter)) {
    switch (jitter._tag) {
      case "Full":
      case "Equal":
        return
      case "Proportional":
        return issues.numberInRange("jitter.ratio", jitter.ratio, 0, 1)
      case "Additive":
        return void issues.duration("jitter.amount", jitter.amount)
    }
  }
  issues.add("jitter", oneOf(jitter, jitterNames, "a Backoff.Jitter")!)
}

const build = (options: Options): Schedule.Schedule<Duration.Duration> => {
  const jitter = options.jitter ?? "full"
  if (jitter === "decorrelated") return decorrelated(options)
  const exponentialBackoff = exponential(options)
  if (jitter === "none") return exponentialBackoff
  const max = Duration.decode(options.max)
  return exponentialBackoff.pipe(
    jittered(jitter === "full" ? full : jitter === "equal" ? equal : jitter),
    Schedule.modifyDelay((_, delay) => Duration.min(delay, max))
  )
}

/**
 * Builds a backoff from plain options: exponential (or decorrelated), then
 * jitter, then the cap, so that no delay ever exceeds `max`, whatever the
 * jitter.
 *
 * Invalid options throw an `InvalidPolicyError` listing every problem, where
 * the backoff is defined (as `Retry.policy` does), never a defect at the
 * first retry. For options that come from outside the program, use
 * `Backoff.validate`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.make({ base: "200 millis", max: "5 seconds", jitter: Backoff.proportional(0.25) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Schedule.Schedule<Duration.Duration> =>
  Either.getOrThrowWith(validate(options), identity)

/**
 * The default backoff: exponential from 500 ms, doubling, capped at 30 s, full
 * jitter. The same base and growth as the OpenAI and Anthropic SDKs, with the
 * jitter that spreads synchronised clients best and a cap high enough to ride
 * out a provider's brief overload.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const backoff = Backoff.standard
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const standard: Schedule.Schedule<Duration.Duration> = make({
  base: "500 millis",
  factor: 2,
  max: "30 seconds",
  jitter: "full"
})

/**
 * The first `count` delays a schedule would wait, computed without waiting:
 * for documentation, tests and explaining a policy. Stops early when the
 * schedule ends. Jittered schedules draw from `Random`; provide a seeded one
 * for a reproducible list.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * const millis = Backoff.exponential({ base: "100 millis", max: "1 second" }).pipe(
 *   Backoff.delays(5),
 *   Effect.map((delays) => delays.map(Duration.toMillis)),
 *   Effect.runSync
 * ) // [100, 200, 400, 800, 1000]
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const delays: {
  (
    count: number
  ): <Out, R>(self: Schedule.Schedule<Out, unknown, R>) => Effect.Effect<Array<Duration.Duration>, never, R>
  <Out, R>(self: Schedule.Schedule<Out, unknown, R>, count: number): Effect.Effect<Array<Duration.Duration>, never, R>
} = dual(
  2,
  <Out, R>(
    self: Schedule.Schedule<Out, unknown, R>,
    count: number
  ): Effect.Effect<Array<Duration.Duration>, never, R> =>
    Effect.suspend(() => {
      const result: Array<Duration.Duration> = []
      const loop = (now: number, state: unknown): Effect.Effect<Array<Duration.Duration>, never, R> =>
        result.length >= count ? Effect.succeed(result) : Effect.flatMap(
          internal.step(self, now, undefined, state),
          (step) => {
            if (step === undefined) return Effect.succeed(result)
            result.push(Duration.millis(step.delayMillis))
            return loop(now + step.delayMillis, step.state)
          }
        )
      return loop(0, self.initial)
    })
)
