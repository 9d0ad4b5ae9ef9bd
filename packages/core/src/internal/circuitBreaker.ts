import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Backoff from "../Backoff.js"
// A cycle: the public module defines the error and the metrics, and reaches this module only inside functions;
// this module reaches them only inside functions too, so either module may be loaded first.
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Classify from "../Classify.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as StateStore from "../StateStore.js"
import { LruMap } from "./lru.js"
import * as metrics from "./metrics.js"
import { Issues } from "./validate.js"

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/** How many delays of a break-duration schedule are sampled when a breaker is made. */
const breakDurationSamples = 32

/** Each subscriber to a breaker's transitions keeps at most this many; a slow one loses the oldest. */
const changesCapacity = 1024

const defaultBreakDuration: Schedule.Schedule<unknown, unknown> = Backoff.exponential({
  base: "5 seconds",
  max: "60 seconds"
})

/** Options checked and turned into what the store and the protect path need. */
interface Compiled<E> {
  readonly settings: StateStore.BreakerSettings
  readonly classify: Classify.Classifier<E>
}

type CommonOptions<E> = Omit<CircuitBreaker.Options<E>, "key">

/**
 * Checks every option, listing every problem. A break-duration schedule is
 * sampled first (it may draw from `Random`), so that its problems are listed
 * in option order with the others.
 */
const compile = <E>(
  options: CommonOptions<E>,
  more: (issues: Issues) => void
): Effect.Effect<Compiled<E>, InvalidPolicyError> =>
  Effect.flatMap(sampleSchedule(options.breakDuration ?? defaultBreakDuration), (sampled) => {
    const issues = new Issues()
    more(issues)
    const trip = validateTrip(issues, options.trip ?? { _tag: "Consecutive", threshold: 5 })
    const breakDurationsMillis = sampled !== undefined
      ? validateSampled(issues, sampled)
      : validateFixed(issues, options.breakDuration)
    const halfOpenProbes = options.halfOpenProbes ?? 1
    issues.wholeNumber("halfOpenProbes", halfOpenProbes, 1)
    const successesToClose = options.successesToClose ?? 1
    issues.wholeNumber("successesToClose", successesToClose, 1)
    if (options.classify !== undefined && !Predicate.isFunction(options.classify)) {
      issues.add("classify", "must be a function from an error to a verdict")
    }
    if (issues.list.length > 0 || trip === undefined || breakDurationsMillis === undefined) {
      return Effect.fail(new InvalidPolicyError({ policy: "circuit breaker", issues: issues.list }))
    }
    return Effect.succeed({
      settings: { trip, halfOpenProbes, successesToClose, breakDurationsMillis },
      classify: options.classify ?? Classify.standard
    })
  })

const sampleSchedule = (input: unknown): Effect.Effect<ReadonlyArray<Duration.Duration> | undefined> =>
  Schedule.isSchedule(input)
    ? Backoff.delays(input as Schedule.Schedule<unknown, unknown>, breakDurationSamples)
    : Effect.succeed(undefined)

const validateSampled = (
  issues: Issues,
  delays: ReadonlyArray<Duration.Duration>
): ReadonlyArray<number> | undefined => {
  if (delays.length === 0) {
    issues.add("breakDuration", "the schedule must give at least one delay, but it ended at once")
    return undefined
  }
  const millis = delays.map(Duration.toMillis)
  const infinite = millis.findIndex((ms) => !Number.isFinite(ms))
  if (infinite >= 0) {
    issues.add("breakDuration", `every delay of the schedule must be finite, delay ${infinite + 1} is not`)
    return undefined
  }
  // The store repeats the last duration: drop the repeats a capped schedule ends with, so that a
  // shared store (Redis) is sent a handful of numbers per call, not 32.
  let end = millis.length
  while (end > 1 && millis[end - 1] === millis[end - 2]) end--
  return millis.slice(0, end)
}

const validateFixed = (issues: Issues, input: unknown): ReadonlyArray<number> | undefined => {
  const duration = issues.duration("breakDuration", input)
  return duration === undefined ? undefined : [Duration.toMillis(duration)]
}

const validateTrip = (issues: Issues, trip: CircuitBreaker.Trip): StateStore.TripSettings | undefined => {
  if (!Predicate.isObject(trip) || (trip._tag !== "Consecutive" && trip._tag !== "Ratio")) {
    issues.add(
      "trip",
      "must be CircuitBreaker.consecutive(threshold) or CircuitBreaker.failureRatio({ ratio, window, ... })"
    )
    return undefined
  }
  if (trip._tag === "Consecutive") {
    issues.wholeNumber("trip.threshold", trip.threshold, 1)
    return { _tag: "Consecutive", threshold: trip.threshold }
  }
  if (typeof trip.ratio !== "number" || !(trip.ratio > 0 && trip.ratio <= 1)) {
    issues.add("trip.ratio", `must be a number in (0, 1], got ${String(trip.ratio)}`)
  }
  const window = issues.duration("trip.window", trip.window, { positive: true })
  const minimumThroughput = trip.minimumThroughput ?? 10
  issues.wholeNumber("trip.minimumThroughput", minimumThroughput, 1)
  const buckets = trip.buckets ?? 10
  issues.wholeNumber("trip.buckets", buckets, 1)
  return window === undefined ? undefined : {
    _tag: "Ratio",
    ratio: trip.ratio,
    windowMillis: Duration.toMillis(window),
    minimumThroughput,
    buckets
  }
}

/** `CircuitBreaker.make`: validates the options and builds one breaker on the store in context. */
export const make = <E>(
  options: CircuitBreaker.Options<E> = {}
): Effect.Effect<CircuitBreaker.CircuitBreaker<E>, InvalidPolicyError> => {
  const key = options.key ?? "default"
  return Effect.flatMap(
    compile(options, (issues) => {
      if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
    }),
    (compiled) =>
      Effect.zipWith(
        StateStore.current,
        PubSub.sliding<CircuitBreaker.Transition>(changesCapacity),
        (store, hub) => build(key, compiled, store, hub, false)
      )
  )
}

/** `CircuitBreaker.keyed`: one breaker per key, made on demand, sharing one changes hub. */
export const keyed = <E>(
  options: CircuitBreaker.KeyedOptions<E> = {}
): Effect.Effect<CircuitBreaker.Keyed<E>, InvalidPolicyError> => {
  const maxKeys = options.maxKeys ?? 10_000
  return Effect.flatMap(
    compile(options, (issues) => issues.wholeNumber("maxKeys", maxKeys, 1)),
    (compiled) =>
      Effect.zipWith(
        StateStore.current,
        PubSub.sliding<CircuitBreaker.Transition>(changesCapacity),
        (store, hub): CircuitBreaker.Keyed<E> => {
          // The breaker objects are bounded here, their state in the store: a dropped breaker made
          // again finds its state where it left it, and its transitions on the same `hub`.
          const breakers = new LruMap<CircuitBreaker.CircuitBreaker<E>>(maxKeys)
          const subscribe = subscribeTo(hub, undefined)
          return {
            get: (key) => breakers.getOrCreate(key, () => build(key, compiled, store, hub, true)),
            subscribe,
            changes: Stream.unwrapScoped(subscribe)
          }
        }
      )
  )
}

const subscribeTo = (
  hub: PubSub.PubSub<CircuitBreaker.Transition>,
  key: string | undefined
): Effect.Effect<Stream.Stream<CircuitBreaker.Transition>, never, Scope.Scope> =>
  Effect.map(PubSub.subscribe(hub), (queue) => {
    const stream = Stream.fromQueue(queue)
    return key === undefined ? stream : Stream.filter(stream, (transition) => transition.key === key)
  })

// ---------------------------------------------------------------------------
// One breaker
// ---------------------------------------------------------------------------

const gaugeValue: Record<StateStore.BreakerState["_tag"], number> = { Closed: 0, HalfOpen: 1, Open: 2, Isolated: 3 }

/**
 * A breaker on `key`. Everything a call needs is built here, once, so that the
 * protect path only runs prebuilt effects: admit, the effect, record.
 */
const build = <E>(
  key: string,
  compiled: Compiled<E>,
  store: StateStore.Service,
  hub: PubSub.PubSub<CircuitBreaker.Transition>,
  sharedHub: boolean
): CircuitBreaker.CircuitBreaker<E> => {
  const { classify, settings } = compiled
  const breakers = store.breaker
  // Bound once per label set and shared; keys beyond the metrics' key limit are counted as "other" (mem).
  const setGauge = metrics.bindKeyGauge(CircuitBreaker.stateGauge, { "resilience.key": key })
  const countRejected = metrics.bind(CircuitBreaker.rejectedCounter, { "resilience.key": key })

  const announce = (transition: StateStore.Transition): Effect.Effect<void> =>
    Effect.zipRight(
      Effect.sync(() => setGauge(gaugeValue[transition.to])),
      Effect.zipRight(
        PubSub.publish(hub, { ...transition, key }),
        ResilienceEvent.publish(() => toEvent(key, transition))
      )
    )
  const announceIfAny = (transition: StateStore.Transition | undefined): Effect.Effect<void> =>
    transition === undefined ? Effect.void : announce(transition)

  // The in-memory store's synchronous operations, when it has them: they save a runtime step or two per call.
  const unsafeAdmit = breakers.unsafeAdmit
  const unsafeRecord = breakers.unsafeRecord
  // `fiber.currentDefaultServices` is where `Clock.currentTimeMillis` reads the clock from (the `TestClock` in
  // tests), in one runtime step with whatever else the step does.
  const record = (outcome: "Success" | "Failure", probe: boolean): Effect.Effect<void> =>
    unsafeRecord === undefined
      ? Effect.clockWith((clock) =>
        Effect.flatMap(breakers.record(key, clock.unsafeCurrentTimeMillis(), settings, outcome, probe), announceIfAny)
      )
      : Effect.withFiberRuntime((fiber) => announceIfAny(unsafeRecord(key, nowOf(fiber), settings, outcome, probe)))
  const success = { probe: record("Success", true), closed: record("Success", false) }
  const failure = { probe: record("Failure", true), closed: record("Failure", false) }
  const releaseProbe = breakers.release(key, true)

  /** What the end of a failed call tells the breaker: only a transient failure counts. */
  const settle = (cause: Cause.Cause<E>, probe: boolean): Effect.Effect<void> => {
    const release = probe ? releaseProbe : Effect.void
    if (!Cause.isInterrupted(cause)) {
      const error = Cause.failureOption(cause)
      // A call refused locally further in (a full bulkhead) never reached the provider.
      if (Option.isSome(error) && !Classify.isRejectedLocally(error.value)) {
        let verdict: Classify.Verdict
        try {
          verdict = classify(error.value)
        } catch (defect) {
          // A classifier must not throw; if one does, free the probe slot before reporting the bug.
          return Effect.zipRight(release, Effect.die(defect))
        }
        if (verdict._tag === "Transient") return probe ? failure.probe : failure.closed
      }
    }
    // A permanent failure, a local rejection, a defect or an interruption says nothing of the provider's health.
    return release
  }

  const reject = (
    admission: Extract<StateStore.Admission, { readonly _tag: "Rejected" }>
  ): Effect.Effect<never, CircuitBreaker.CircuitOpenError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const retryAfter = admission.state === "Isolated" || !Number.isFinite(admission.retryAt)
        ? undefined
        : Duration.millis(Math.max(0, admission.retryAt - now))
      const error = new CircuitBreaker.CircuitOpenError(
        retryAfter === undefined ? { key, state: admission.state } : { key, state: admission.state, retryAfter }
      )
      return Effect.sync(() => countRejected(1)).pipe(
        Effect.zipRight(
          ResilienceEvent.publish(() =>
            ResilienceEvent.CallRejected({ key, at: now, by: "CircuitBreaker", retryAfter })
          )
        ),
        Effect.zipRight(Effect.fail(error))
      )
    })

  type Admitted = { readonly admission: StateStore.Admission; readonly transition: StateStore.Transition | undefined }

  /**
   * The end of an admitted call, as a probe or not: two pairs of functions per breaker, not two closures per
   * call, which a call in flight would hold (~200 bytes). The continuation runs on the caller's fiber, so the
   * success branch reads the clock there, as `Clock.currentTimeMillis` would.
   */
  const settled = (probe: boolean) => ({
    onSuccess: (value: unknown): Effect.Effect<unknown> => {
      if (unsafeRecord === undefined) return Effect.as(probe ? success.probe : success.closed, value)
      // Recorded here, in the continuation (uninterruptible, on this fiber), at the clock's time now.
      const transition = unsafeRecord(key, nowOf(currentFiber()), settings, "Success", probe)
      return transition === undefined ? Effect.succeed(value) : Effect.as(announce(transition), value)
    },
    onFailure: (cause: Cause.Cause<E>): Effect.Effect<never, E> =>
      Effect.zipRight(settle(cause, probe), Effect.failCause(cause))
  })
  const closedEnds = settled(false)
  // Made at the breaker's first probe: most breakers never open, and each pair costs the key ~200 bytes.
  let probeEnds: ReturnType<typeof settled> | undefined = undefined

  /** The breaker around `inner`, inside the uninterruptible region `protect` opens. */
  const protectMasked = <A, E2 extends E, R>(
    next: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<A, E2, R>
  ): Effect.Effect<A, E2 | CircuitBreaker.CircuitOpenError, R> =>
    Effect.withFiberRuntime((fiber) => {
      const now = nowOf(fiber)
      const decide = (
        { admission, transition }: Admitted
      ): Effect.Effect<A, E2 | CircuitBreaker.CircuitOpenError, R> => {
        if (admission._tag === "Rejected") {
          return transition === undefined ? reject(admission) : Effect.zipRight(announce(transition), reject(admission))
        }
        // Asked for here, once admitted: `next` may take a bulkhead slot or arm a timeout in this step.
        const run = Effect.matchCauseEffect(
          next(fiber),
          (admission.probe ? probeEnds ??= settled(true) : closedEnds) as {
            readonly onSuccess: (value: A) => Effect.Effect<A>
            readonly onFailure: (cause: Cause.Cause<E2>) => Effect.Effect<never, E2>
          }
        )
        return transition === undefined ? run : Effect.zipRight(announce(transition), run)
      }
      return unsafeAdmit === undefined
        ? Effect.flatMap(breakers.admit(key, now, settings), decide)
        : decide(unsafeAdmit(key, now, settings))
    })

  const protect = <A, E2 extends E, R>(
    self: Effect.Effect<A, E2, R>
  ): Effect.Effect<A, E2 | CircuitBreaker.CircuitOpenError, R> =>
    // Uninterruptible from admission to record: a probe slot taken must be given back, or a
    // half-open breaker whose probe was interrupted would refuse every call for ever.
    Effect.uninterruptibleMask((restore) => protectMasked(() => restore(self)))

  const steps: Steps<E> = {
    admitNow: unsafeAdmit === undefined ? undefined : (now) => unsafeAdmit(key, now, settings),
    admit: (now) => breakers.admit(key, now, settings),
    refuse: ({ admission, transition }) =>
      admission._tag === "Rejected"
        ? transition === undefined ? reject(admission) : Effect.zipRight(announce(transition), reject(admission))
        : Effect.void,
    announce,
    ends: (probe) => (probe ? probeEnds ??= settled(true) : closedEnds) as Ends<E>
  }

  const subscribe = subscribeTo(hub, sharedHub ? key : undefined)
  const breaker: WithSteps<E> = {
    [StepsTypeId]: steps,
    key,
    settings,
    protect,
    state: breakers.state(key),
    isolate: Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Effect.flatMap(breakers.isolate(key, now), announceIfAny)
    ),
    reset: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.flatMap(breakers.reset(key, now), announceIfAny)),
    changes: Stream.unwrapScoped(subscribe),
    subscribe
  }
  return breaker
}

/** The fiber running now, from inside one of its steps or continuations. */
const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> => Option.getOrThrow(Fiber.getCurrentFiber())

/** The clock's time on `fiber`: what `Clock.currentTimeMillis` would read there. */
const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()

const StepsTypeId: unique symbol = Symbol.for("@effect-resilience/core/CircuitBreaker/steps")

/** What a breaker decided for one call, and the change of state the decision made, if any. */
export interface Admitted {
  readonly admission: StateStore.Admission
  readonly transition: StateStore.Transition | undefined
}

/** The end of an admitted call: made once per breaker (and once more for probes), not per call. */
export interface Ends<E> {
  readonly onSuccess: (value: unknown) => Effect.Effect<unknown>
  readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E>
}

/**
 * A breaker's protect path in parts, for a caller that runs the call and its end itself inside its own
 * uninterruptible region (`Resilience.run`, one region for all its policies): admit, then refuse or run, then end.
 */
export interface Steps<E> {
  /** The decision now, in this step; `undefined` when the store decides asynchronously (`admit`). */
  readonly admitNow: ((now: number) => Admitted) | undefined
  readonly admit: (now: number) => Effect.Effect<Admitted>
  /** The refusal of a rejected call (its transition announced first); `Effect.void` when it was admitted. */
  readonly refuse: (admitted: Admitted) => Effect.Effect<void, CircuitBreaker.CircuitOpenError>
  readonly announce: (transition: StateStore.Transition) => Effect.Effect<void>
  /** The end of an admitted call, as a probe or not. */
  readonly ends: (probe: boolean) => Ends<E>
}

/** The steps of a breaker built by this module (`make`, `keyed`: the only ones a pipeline has). */
export const stepsOf = <E>(breaker: CircuitBreaker.CircuitBreaker<E>): Steps<E> => {
  if (!(StepsTypeId in breaker)) throw new Error("a pipeline's breakers are built by CircuitBreaker.keyed")
  return (breaker as unknown as WithSteps<E>)[StepsTypeId]
}

/** A breaker built here: its protect path in parts, for a pipeline that runs them in its own region. */
interface WithSteps<E> extends CircuitBreaker.CircuitBreaker<E> {
  readonly [StepsTypeId]: Steps<E>
}

const toEvent = (key: string, transition: StateStore.Transition): ResilienceEvent.ResilienceEvent => {
  const at = transition.at
  switch (transition.to) {
    case "Open":
      return ResilienceEvent.BreakerOpened({
        key,
        at,
        from: transition.from === "HalfOpen" ? "HalfOpen" : "Closed",
        openFor: Duration.millis(Math.max(0, (transition.until ?? at) - at))
      })
    case "HalfOpen":
      return ResilienceEvent.BreakerHalfOpened({ key, at })
    case "Closed":
      return ResilienceEvent.BreakerClosed({ key, at })
    case "Isolated":
      return ResilienceEvent.BreakerIsolated({ key, at })
  }
}

// ---------------------------------------------------------------------------
// The error's message
// ---------------------------------------------------------------------------

/** The message of a `CircuitOpenError`: what happened and when to come back. */
export const openMessage = (
  key: string,
  state: "Open" | "HalfOpen" | "Isolated",
  retryAfter: Duration.Duration | undefined
): string => {
  switch (state) {
    case "Open":
      return retryAfter === undefined
        ? `circuit for ${key} is open`
        : `circuit for ${key} is open; half-open in ${formatMillis(retryAfter)}`
    case "HalfOpen":
      return `circuit for ${key} is half-open and its probe calls are in flight; try again shortly`
    case "Isolated":
      return `circuit for ${key} is isolated by hand; calls fail until it is reset`
  }
}

const formatMillis = (duration: Duration.Duration): string => {
  const millis = Math.round(Duration.toMillis(duration))
  return millis < 1000 ? `${millis} ms` : Duration.format(Duration.millis(millis))
}
