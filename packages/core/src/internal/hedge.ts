import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Classify from "../Classify.js"
import type * as Hedge from "../Hedge.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as RetryBudget from "../RetryBudget.js"
import { withCarriedVerdicts } from "./classify.js"
import { Issues } from "./validate.js"

/**
 * The last `capacity` latencies, in milliseconds, in a ring: recording costs one store, a percentile one sort
 * of at most `capacity` numbers (asked once per hedged call).
 */
export class LatencySample {
  private readonly values: Float64Array
  private next = 0
  /** How many latencies are held (at most the capacity). */
  size = 0

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity)
  }

  /** Keeps a latency, dropping the oldest when full. */
  record(millis: number): void {
    this.values[this.next] = millis
    this.next = (this.next + 1) % this.capacity
    if (this.size < this.capacity) this.size++
  }

  /** The nearest-rank percentile (`p` in (0, 1]): the smallest latency with at least `p` of the sample at or below it. */
  percentile(p: number): number {
    const sorted = this.values.slice(0, this.size).sort()
    return sorted[Math.max(0, Math.ceil(p * this.size) - 1)]
  }

  /** The latencies held, oldest first. */
  toArray(): Array<number> {
    const held = Array.from(this.values.subarray(0, this.size))
    return this.size < this.capacity ? held : [...held.slice(this.next), ...held.slice(0, this.next)]
  }
}

/** Implements `Hedge.validate`, documented there. */
export const validate = (options: Hedge.Options): Either.Either<Hedge.Settings, InvalidPolicyError> => {
  const issues = new Issues()
  const delay = issues.duration("delay", options.delay)
  const percentile = options.percentile ?? 0.95
  if (percentile !== false && !(typeof percentile === "number" && percentile > 0 && percentile <= 1)) {
    issues.add("percentile", `must be a number in (0, 1] or false, got ${String(percentile)}`)
  }
  const sampleSize = options.sampleSize ?? 100
  issues.wholeNumber("sampleSize", sampleSize, 1)
  const minSamples = options.minSamples ?? 20
  issues.wholeNumber("minSamples", minSamples, 1)
  if (typeof minSamples === "number" && typeof sampleSize === "number" && minSamples > sampleSize) {
    issues.add("minSamples", `must be ≤ sampleSize (${sampleSize}), got ${minSamples}`)
  }
  const key = options.key ?? "default"
  if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
  return issues.list.length > 0 || delay === undefined
    ? Either.left(new InvalidPolicyError({ policy: "hedge", issues: issues.list }))
    : Either.right({
      key,
      delay,
      percentile,
      sampleSize,
      minSamples,
      budget: options.budget,
      hedgeOnFailure: options.hedgeOnFailure ?? true,
      classify: options.classify ?? Classify.standard
    })
}

/** Implements `Hedge.make`, documented there. */
export const make = (options: Hedge.Options): Effect.Effect<Hedge.Hedge, InvalidPolicyError> =>
  Effect.suspend(() =>
    Either.match(validate(options), {
      onLeft: Effect.fail,
      onRight: (settings) => Effect.succeed(fromSettings(settings))
    })
  )

const fromSettings = (settings: Hedge.Settings): Hedge.Hedge => {
  const sample = new LatencySample(settings.sampleSize)
  return {
    settings,
    nextDelay: Effect.sync(() =>
      settings.percentile !== false && sample.size >= settings.minSamples
        ? { delay: Duration.millis(sample.percentile(settings.percentile)), basis: "Percentile" as const }
        : { delay: settings.delay, basis: "Fixed" as const }
    ),
    record: (latency) => Effect.sync(() => sample.record(Duration.toMillis(Duration.decode(latency)))),
    latencies: Effect.sync(() => sample.toArray().map(Duration.millis)),
    classify: withCarriedVerdicts(settings.classify)
  }
}

/** Implements `Hedge.hedge`, documented there. */
export const hedge = <A, E, R, A2, E2, R2>(
  primary: Effect.Effect<A, E, R>,
  self: Hedge.Hedge,
  backup: Effect.Effect<A2, E2, R2>
): Effect.Effect<A | A2, E | E2, R | R2> => {
  const key = self.settings.key
  // Each call's own latency, from its own start, is kept when it succeeds; a call interrupted as the loser
  // of a race is not (it took at least as long as the winner, which is recorded).
  const timed = <X, Y, Z>(call: Effect.Effect<X, Y, Z>): Effect.Effect<X, Y, Z> =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (start) =>
        Effect.tap(call, () =>
          Effect.flatMap(Clock.currentTimeMillis, (end) => self.record(Duration.millis(end - start))))
    )

  const budget = self.settings.budget
  // A ratio budget counts the hedge as a retry when it grants it (a reservation). A token bucket's grant only looks
  // at the level (gRPC: failures are its only debit), so a hedge it allows is charged as one failure once it ends:
  // each hedge costs a token. A hedge refused locally (open circuit, full bulkhead, local rate limit) never reached
  // the provider: it costs nothing, its reservation is given back (as `Retry` does).
  const granted: Effect.Effect<
    { readonly reservation: RetryBudget.Reservation | undefined } | undefined
  > = budget === undefined
    ? Effect.succeed({ reservation: undefined })
    : Effect.flatMap(RetryBudget.reserve(budget), (reservation) =>
      reservation === undefined
        ? Effect.as(ResilienceEvent.publish((at) => ResilienceEvent.HedgeDenied({ key, at })), undefined)
        : Effect.succeed({ reservation }))

  /** The backup, its cost to the budget settled when it ends. */
  const charged = (reservation: RetryBudget.Reservation | undefined): Effect.Effect<A2, E2, R2> =>
    budget === undefined ? backup : Effect.onExit(backup, (exit) => {
      const refused = Exit.isFailure(exit) &&
        Option.exists(Cause.failureOption(exit.cause), Classify.isRejectedLocally)
      if (refused) return reservation === undefined ? Effect.void : RetryBudget.refund(reservation)
      return budget.settings._tag === "TokenBucket" ? RetryBudget.record(budget, "Failure") : Effect.void
    })

  const started = (delay: Duration.Duration, basis: "Fixed" | "Percentile" | "PrimaryFailed") =>
    ResilienceEvent.publish((at) => ResilienceEvent.HedgeStarted({ key, at, delay, basis }))

  const settled = <X, Y, Z>(
    race: Effect.Effect<readonly [X, "Primary" | "Hedge"], Y, Z>
  ): Effect.Effect<X, Y, Z> =>
    Effect.matchCauseEffect(race, {
      onSuccess: ([value, winner]) =>
        Effect.as(
          Effect.zipRight(
            ResilienceEvent.publish((at) => ResilienceEvent.HedgeSettled({ key, at, winner })),
            Effect.annotateCurrentSpan("resilience.hedge.winner", winner)
          ),
          value
        ),
      onFailure: (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.zipRight(
            ResilienceEvent.publish((at) => ResilienceEvent.HedgeSettled({ key, at, winner: "Neither" })),
            Effect.failCause(cause)
          )
    })

  const tagged = <X, Y, Z>(call: Effect.Effect<X, Y, Z>, winner: "Primary" | "Hedge") =>
    Effect.map(call, (value) => [value, winner] as const)

  return Effect.flatMap(
    self.nextDelay,
    ({ basis, delay }) =>
      Effect.flatMap(Clock.currentTimeMillis, (start) =>
        Effect.raceWith(timed(primary), Effect.sleep(delay), {
          // The primary ended before the hedge delay.
          onSelfDone: (exit, timer) =>
            Effect.zipRight(
              Fiber.interrupt(timer),
              Exit.matchEffect(exit, {
                onSuccess: Effect.succeed,
                onFailure: (cause): Effect.Effect<A | A2, E | E2, R | R2> => {
                  const failure = Cause.failureOption(cause)
                  if (
                    !self.settings.hedgeOnFailure || failure._tag === "None" ||
                    !Classify.isTransient(self.classify(failure.value))
                  ) return Effect.failCause(cause)
                  return Effect.flatMap(granted, (grant): Effect.Effect<A | A2, E | E2, R | R2> =>
                    grant !== undefined
                      ? Effect.flatMap(Clock.currentTimeMillis, (now) =>
                        Effect.zipRight(
                          started(Duration.millis(now - start), "PrimaryFailed"),
                          settled<A | A2, E | E2, R | R2>(tagged(
                            // When the hedge fails too, the cause holds both failures, the primary's first.
                            Effect.catchAllCause(
                              timed(charged(grant.reservation)),
                              (hedgeCause) => Effect.failCause(Cause.sequential(cause, hedgeCause))
                            ),
                            "Hedge"
                          ))
                        ))
                      : Effect.failCause(cause))
                }
              })
            ),
          // The hedge delay passed with the primary still running.
          onOtherDone: (_, primaryFiber) => {
            // Racing a join does not interrupt the joined fiber: the loser's join interrupts the primary itself.
            const joinPrimary = Effect.onInterrupt(Fiber.join(primaryFiber), () => Fiber.interrupt(primaryFiber))
            return Effect.flatMap(granted, (grant): Effect.Effect<A | A2, E | E2, R | R2> =>
              grant !== undefined
                ? Effect.zipRight(
                  started(delay, basis),
                  settled<A | A2, E | E2, R | R2>(
                    Effect.race(tagged(joinPrimary, "Primary"), tagged(timed(charged(grant.reservation)), "Hedge"))
                  )
                )
                : joinPrimary)
          }
        }))
  )
}
