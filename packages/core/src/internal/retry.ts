import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Tracer from "effect/Tracer"
import * as Backoff from "../Backoff.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Classify from "../Classify.js"
import * as Deadline from "../Deadline.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import type * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as metrics from "./metrics.js"
import * as scheduleStep from "./schedule.js"
import { isRecord, Issues, oneOf, show } from "./validate.js"

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

const defaultRetryAfterCeiling = Duration.seconds(60)

/** A validated policy plus what the retry loop precomputes once per policy. */
interface CompiledPolicy<E> extends Retry.Policy<E> {
  readonly metrics: {
    readonly success: Effect.Effect<void>
    /** The success counter's update, to run inside an effect the caller already has. */
    readonly countSuccess: () => void
    readonly transient: Effect.Effect<void>
    readonly permanent: Effect.Effect<void>
    readonly delay: (basis: "Backoff" | "RetryAfter", millis: number) => Effect.Effect<void>
    readonly exhausted: (why: ResilienceEvent.StopReason) => Effect.Effect<void>
  }
  /** The first attempt's span options, made once: most calls make only that attempt. */
  readonly firstSpanOptions: Tracer.SpanOptions
  /** `succeeded` for this policy, made once: the success branch of every attempt without events or spans. */
  readonly onSuccess: (value: unknown) => Effect.Effect<unknown>
}

/** Every option's name: a new option added to `Retry.Options` and not here is a compile error, not a rejected one. */
const optionNames = {
  maxAttempts: true,
  backoff: true,
  classify: true,
  retryAfterCeiling: true,
  maxElapsed: true,
  onOpenCircuit: true,
  budget: true,
  key: true,
  tracing: true
} as const satisfies Record<keyof Retry.Options<unknown>, true>

/** Implements `Retry.validate`, documented there. */
export const validate = <E = unknown>(
  options: Retry.Options<E> = {}
): Either.Either<Retry.Policy<E>, InvalidPolicyError> => {
  const issues = new Issues()
  // Options may come from outside the program, whatever their type says.
  const given: unknown = options
  if (!isRecord(given)) {
    issues.add("options", `must be an object of Retry.Options, got ${show(given)}`)
    return Either.left(new InvalidPolicyError({ policy: "retry", issues: issues.list }))
  }
  issues.unexpectedKeys(given, optionNames)
  const maxAttempts = options.maxAttempts ?? 3
  issues.wholeNumber("maxAttempts", maxAttempts, 1)
  const retryAfterCeiling = options.retryAfterCeiling === undefined
    ? defaultRetryAfterCeiling
    : issues.duration("retryAfterCeiling", options.retryAfterCeiling)
  const maxElapsed = options.maxElapsed === undefined
    ? Option.none()
    : Option.fromNullable(issues.duration("maxElapsed", options.maxElapsed, { positive: true }))
  const backoff = validateBackoff(issues, options.backoff)
  const key = options.key ?? "default"
  if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
  const onOpenCircuit = options.onOpenCircuit ?? "wait"
  issues.check("onOpenCircuit", oneOf(onOpenCircuit, ["wait", "fail"]))
  if (options.classify !== undefined && !Predicate.isFunction(options.classify)) {
    issues.add("classify", "must be a function from an error to a verdict")
  }
  if (options.budget !== undefined && !isRetryBudget(options.budget)) {
    issues.add(
      "budget",
      `must be a retry budget (from RetryBudget.tokenBucket or RetryBudget.ratio), got ${show(options.budget)}`
    )
  }
  const tracing = options.tracing ?? "auto"
  issues.check("tracing", oneOf(tracing, [true, false, "auto"]))
  if (issues.list.length > 0 || retryAfterCeiling === undefined || backoff === undefined) {
    return Either.left(new InvalidPolicyError({ policy: "retry", issues: issues.list }))
  }
  return Either.right(compile<E>({
    maxAttempts,
    backoff: backoff as Schedule.Schedule<unknown, Retry.Failure<E>>,
    classify: options.classify ?? Classify.standard,
    retryAfterCeiling,
    maxElapsed,
    budget: options.budget === undefined ? Option.none() : Option.some(options.budget),
    onOpenCircuit,
    key,
    tracing
  }))
}

/** Implements `Retry.policy`, documented there. */
export const policy = <E = unknown>(options?: Retry.Options<E>): Retry.Policy<E> =>
  Either.getOrThrowWith(validate(options), (error) => error)

/** A schedule as given, or backoff options checked by `Backoff.validate`, their problems under `backoff.`. */
const validateBackoff = (
  issues: Issues,
  backoff: unknown
): Schedule.Schedule<unknown, any> | undefined => {
  if (backoff === undefined) return Backoff.standard
  if (Schedule.isSchedule(backoff)) return backoff as Schedule.Schedule<unknown, any>
  if (!isRecord(backoff)) {
    issues.add(
      "backoff",
      `must be a Schedule or an object such as { base: "500 millis", max: "30 seconds" }, got ${show(backoff)}`
    )
    return undefined
  }
  return Either.match(Backoff.validate(backoff as unknown as Backoff.Options), {
    onLeft: (error) => {
      issues.nest("backoff", error.issues)
      return undefined
    },
    onRight: identity
  })
}

/** What `RetryBudget.tokenBucket` and `RetryBudget.ratio` make: a key, settings and a store that can withdraw. */
const isRetryBudget = (u: unknown): u is RetryBudget.RetryBudget =>
  isRecord(u) && typeof u.key === "string" && isRecord(u.settings) && typeof u.settings._tag === "string" &&
  isRecord(u.store) && Predicate.isFunction(u.store.withdraw) && Predicate.isFunction(u.store.record)

const compile = <E>(policy: Retry.Policy<E>): CompiledPolicy<E> => {
  // Metrics bound to this policy's labels once (see `internal/metrics.ts` for why not `Metric.tagged`).
  const keyed = { "resilience.key": policy.key }
  const countSuccess = metrics.bind(ResilienceMetrics.attempts, { ...keyed, "resilience.outcome": "success" })
  const countTransient = metrics.bind(ResilienceMetrics.attempts, { ...keyed, "resilience.outcome": "transient" })
  const countPermanent = metrics.bind(ResilienceMetrics.attempts, { ...keyed, "resilience.outcome": "permanent" })
  const recordDelay = {
    Backoff: metrics.bind(ResilienceMetrics.retryDelay, { ...keyed, "resilience.basis": "Backoff" }),
    RetryAfter: metrics.bind(ResilienceMetrics.retryDelay, { ...keyed, "resilience.basis": "RetryAfter" })
  }
  const countExhausted = new Map<string, (count: number) => void>()
  const compiledPolicy: CompiledPolicy<E> = {
    ...policy,
    metrics: {
      success: Effect.sync(() => countSuccess(1)),
      countSuccess: () => countSuccess(1),
      transient: Effect.sync(() => countTransient(1)),
      permanent: Effect.sync(() => countPermanent(1)),
      delay: (basis, millis) => Effect.sync(() => recordDelay[basis](millis)),
      exhausted: (why) =>
        Effect.sync(() => {
          let count = countExhausted.get(why)
          if (count === undefined) {
            countExhausted.set(
              why,
              count = metrics.bind(ResilienceMetrics.retriesExhausted, { ...keyed, "resilience.why": why })
            )
          }
          count(1)
        })
    },
    firstSpanOptions: spanOptions(policy.key, 1),
    onSuccess: (value) => succeeded(compiledPolicy, value)
  }
  return compiledPolicy
}

const spanOptions = (key: string, attempt: number): Tracer.SpanOptions => ({
  attributes: { "resilience.key": key, "resilience.attempt": attempt },
  captureStackTrace: false
})

/** effect's built-in tracer: its spans reach no exporter, so `tracing: "auto"` makes none with it. */
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

const compiled = <E>(policy: Retry.Policy<E>): CompiledPolicy<E> =>
  "metrics" in policy ? policy as CompiledPolicy<E> : compile(policy)

// ---------------------------------------------------------------------------
// The retry loop
// ---------------------------------------------------------------------------

/** The success value of one attempt that failed and will be retried after `delayMillis`. */
class Retrying {
  constructor(
    readonly delayMillis: number,
    readonly state: unknown,
    /** The budget's retry, given back if the retry never reaches the provider. */
    readonly reservation: RetryBudget.Reservation | undefined
  ) {}
}

interface Run<A, E, R> {
  readonly self: Effect.Effect<A, E, R>
  readonly policy: CompiledPolicy<E>
  readonly events: ResilienceEvent.Sink
  /** Whether each call gets a span: `policy.tracing`, with `"auto"` resolved against the current tracer. */
  readonly traced: boolean
  /** Clock time of the first call; read only when `maxElapsed` needs it. */
  readonly startedAt: number
}

/** Implements `Retry.retry`, documented there. */
export const retry = <A, E, R>(self: Effect.Effect<A, E, R>, policy: Retry.Policy<E>): Effect.Effect<A, E, R> => {
  const compiledPolicy = compiled(policy)
  const budget = compiledPolicy.budget
  // A token bucket ignores requests: only a ratio budget is told of each logical request.
  const recordRequest = Option.isSome(budget) && budget.value.settings._tag === "Ratio"
  // One runtime step reads everything the loop needs from the fiber: the events sink and the tracer.
  return Effect.withFiberRuntime((fiber) => {
    const events = eventsOf(fiber)
    const traced = compiledPolicy.tracing === "auto" ? fiber.currentTracer !== nativeTracer : compiledPolicy.tracing
    const start = (startedAt: number) =>
      traced || events.enabled
        ? attemptOnce(
          { self, policy: compiledPolicy, events, traced, startedAt },
          1,
          compiledPolicy.backoff.initial,
          undefined
        )
        : firstAttempt(self, compiledPolicy, events, startedAt)
    const run = Option.isSome(compiledPolicy.maxElapsed) ? Effect.flatMap(Clock.currentTimeMillis, start) : start(0)
    if (!recordRequest || Option.isNone(budget)) return run
    const unsafeRecord = budget.value.store.unsafeRecord
    if (unsafeRecord === undefined) return Effect.zipRight(RetryBudget.record(budget.value, "Request"), run)
    // The in-memory store: the request is counted in this step, at the clock's time on this fiber.
    unsafeRecord(budget.value.key, nowOf(fiber), budget.value.settings, "Request")
    return run
  })
}

/**
 * The retry's first step, for a caller that runs the first attempt under a continuation of its own
 * (`Resilience.run`, whose attempt already has one) and hands its failure to `afterFirstFailure`: counts the
 * request in a ratio budget and returns `true` when the first attempt needs nothing more — no span, no events, no
 * elapsed-time limit, an in-memory budget. Otherwise it does nothing and returns `false`: run `retry` instead.
 */
export const startFirstAttempt = <E>(policy: Retry.Policy<E>, fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const compiledPolicy = compiled(policy)
  if (Option.isSome(compiledPolicy.maxElapsed)) return false
  const traced = compiledPolicy.tracing === "auto" ? fiber.currentTracer !== nativeTracer : compiledPolicy.tracing
  if (traced || eventsOf(fiber).enabled) return false
  const budget = compiledPolicy.budget
  if (Option.isNone(budget) || budget.value.settings._tag !== "Ratio") return true
  const unsafeRecord = budget.value.store.unsafeRecord
  if (unsafeRecord === undefined) return false
  unsafeRecord(budget.value.key, nowOf(fiber), budget.value.settings, "Request")
  return true
}

/** What follows a first attempt started with `startFirstAttempt` and ended by `cause`: as `retry` would go on. */
export const afterFirstFailure = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  policy: Retry.Policy<E>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  cause: Cause.Cause<E>
): Effect.Effect<A, E, R> => {
  const compiledPolicy = compiled(policy)
  return Effect.catchAll(
    Effect.failCause(cause),
    retryAfterFailure(
      { self, policy: compiledPolicy, events: eventsOf(fiber), traced: false, startedAt: 0 },
      1,
      compiledPolicy.backoff.initial,
      undefined
    )
  )
}

/** What follows a first attempt started with `startFirstAttempt` that succeeded. */
export const afterFirstSuccess = <E>(policy: Retry.Policy<E>, value: unknown): Effect.Effect<unknown> =>
  compiled(policy).onSuccess(value)

const eventsOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): ResilienceEvent.Sink =>
  Context.get(
    fiber.currentContext as Context.Context<ResilienceEvent.ResilienceEvents>,
    ResilienceEvent.ResilienceEvents
  )

const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()

/**
 * The first call without spans and events — the common case — built for the happy path: a call in flight
 * holds one `matchCauseEffect`, the policy's shared success branch and a closure over the call. The loop's
 * state (`Run`) and the decision are made in the failure branch, at the first failure, so that a call that
 * succeeds at once builds nothing else (~400 bytes less per call in flight than `attemptOnce`).
 */
const firstAttempt = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  policy: CompiledPolicy<E>,
  events: ResilienceEvent.Sink,
  startedAt: number
): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(self, {
    // `Effect.catchAll` on the cause takes the decision `Effect.matchEffect` takes in `attemptOnce`: a defect or
    // an interruption ends the call, a failure goes to the retry loop.
    onFailure: (cause) =>
      Effect.catchAll(
        Effect.failCause(cause),
        retryAfterFailure({ self, policy, events, traced: false, startedAt }, 1, policy.backoff.initial, undefined)
      ),
    onSuccess: policy.onSuccess as (value: A) => Effect.Effect<A>
  })

/**
 * One call and what follows it. Without spans and events — the common case — the retry decision and
 * the wait run in the failure branch, so a success costs one `matchEffect` and one metric update.
 */
const attemptOnce = <A, E, R>(
  run: Run<A, E, R>,
  attempt: number,
  state: unknown,
  reservation: RetryBudget.Reservation | undefined
): Effect.Effect<A, E, R> =>
  run.traced || run.events.enabled
    ? Effect.flatMap(
      instrumentedAttempt(run, attempt, state, reservation),
      (result) => result instanceof Retrying ? retryAfterWait(run, attempt, result) : Effect.succeed(result)
    )
    : Effect.matchEffect(run.self, {
      onFailure: retryAfterFailure(run, attempt, state, reservation),
      onSuccess: run.policy.onSuccess as (value: A) => Effect.Effect<A>
    })

/** What follows a failed attempt without spans and events: the decision, then the wait and the next attempt. */
const retryAfterFailure = <A, E, R>(
  run: Run<A, E, R>,
  attempt: number,
  state: unknown,
  reservation: RetryBudget.Reservation | undefined
) =>
(error: E): Effect.Effect<A, E, R> =>
  Effect.flatMap(decide(run, error, attempt, state, reservation), (next) => retryAfterWait(run, attempt, next))

const retryAfterWait = <A, E, R>(run: Run<A, E, R>, attempt: number, next: Retrying): Effect.Effect<A, E, R> => {
  const sleep = Effect.sleep(Duration.millis(next.delayMillis))
  const reservation = next.reservation
  // A caller that gives up while waiting makes no further call: the retry it was granted is given back.
  return (reservation === undefined ? sleep : Effect.onInterrupt(sleep, () => RetryBudget.refund(reservation))).pipe(
    Effect.zipRight(Deadline.markActivity(`attempt ${attempt + 1}`)),
    Effect.zipRight(attemptOnce(run, attempt + 1, next.state, reservation))
  )
}

/** Counts a success (metric and budget) and gives the value back. */
const succeeded = <A, E>(policy: CompiledPolicy<E>, value: A): Effect.Effect<A> => {
  // Only a token bucket earns from a success; a ratio budget counts requests and retries only.
  if (Option.isSome(policy.budget) && policy.budget.value.settings._tag === "TokenBucket") {
    const budget = policy.budget.value
    const unsafeRecord = budget.store.unsafeRecord
    // On the in-memory store: what `RetryBudget.record` does, in the same step as the metric.
    if (unsafeRecord === undefined) {
      return Effect.zipRight(RetryBudget.record(budget, "Success"), Effect.as(policy.metrics.success, value))
    }
    return Effect.sync(() => {
      unsafeRecord(budget.key, 0, budget.settings, "Success")
      policy.metrics.countSuccess()
      return value
    })
  }
  return Effect.sync(() => {
    policy.metrics.countSuccess()
    return value
  })
}

/** One call, its outcome recorded and, on failure, the decision taken — all inside the attempt's span. */
const instrumentedAttempt = <A, E, R>(
  run: Run<A, E, R>,
  attempt: number,
  state: unknown,
  reservation: RetryBudget.Reservation | undefined
): Effect.Effect<A | Retrying, E, R> => {
  const { events, policy } = run
  let effect: Effect.Effect<A | Retrying, E, R> = Effect.matchEffect(run.self, {
    onFailure: (error) => decide(run, error, attempt, state, reservation),
    onSuccess: (value) => {
      const counted = succeeded(policy, value)
      return events.enabled
        ? Effect.zipRight(publish(events, (at) => ResilienceEvent.Succeeded({ key: policy.key, attempt, at })), counted)
        : counted
    }
  })
  if (events.enabled) {
    effect = Effect.zipRight(
      publish(events, (at) => ResilienceEvent.AttemptStarted({ key: policy.key, attempt, at })),
      effect
    )
  }
  return run.traced
    ? Effect.withSpan(
      effect,
      "resilience.attempt",
      attempt === 1 ? policy.firstSpanOptions : spanOptions(policy.key, attempt)
    )
    : effect
}

const decide = <A, E, R>(
  run: Run<A, E, R>,
  error: E,
  attempt: number,
  state: unknown,
  reservation: RetryBudget.Reservation | undefined
): Effect.Effect<Retrying, E> => {
  const { events, policy } = run
  const verdict = policy.classify(error)
  // A call refused locally (open circuit, full bulkhead) never reached the provider: it costs the budget nothing,
  // neither as a failure nor as the retry it was granted.
  const rejectedLocally = Classify.isRejectedLocally(error)
  const refunded = reservation !== undefined && rejectedLocally ? RetryBudget.refund(reservation) : Effect.void
  const annotate = Effect.zipRight(
    refunded,
    run.traced
      ? Effect.annotateCurrentSpan({
        "resilience.verdict": verdict._tag,
        "resilience.reason": verdict.reason
      })
      : Effect.void
  )
  if (verdict._tag === "Permanent") {
    return annotate.pipe(
      Effect.zipRight(policy.metrics.permanent),
      Effect.zipRight(failed(run, error, attempt, verdict, false)),
      Effect.zipRight(Effect.fail(error))
    )
  }
  const giveUp = (why: ResilienceEvent.StopReason): Effect.Effect<never, E> =>
    failed(run, error, attempt, verdict, false).pipe(
      Effect.zipRight(
        why === "BudgetExhausted" && events.enabled
          ? publish(events, (at) => ResilienceEvent.BudgetExhausted({ key: policy.key, at, attempt }))
          : Effect.void
      ),
      Effect.zipRight(policy.metrics.exhausted(why)),
      Effect.zipRight(
        events.enabled
          ? publish(
            events,
            (at) => ResilienceEvent.RetriesExhausted({ key: policy.key, attempts: attempt, at, why })
          )
          : Effect.void
      ),
      Effect.zipRight(run.traced ? Effect.annotateCurrentSpan("resilience.stop", why) : Effect.void),
      Effect.zipRight(Effect.fail(error))
    )
  const recordFailure = Option.isSome(policy.budget) && policy.budget.value.settings._tag === "TokenBucket" &&
      !rejectedLocally
    ? RetryBudget.record(policy.budget.value, "Failure")
    : Effect.void
  return annotate.pipe(
    Effect.zipRight(policy.metrics.transient),
    Effect.zipRight(recordFailure),
    Effect.zipRight(Effect.zip(Clock.currentTimeMillis, Deadline.current)),
    Effect.flatMap(([now, deadline]): Effect.Effect<Retrying, E> => {
      if (policy.onOpenCircuit === "fail" && CircuitBreaker.isCircuitOpenError(error)) return giveUp("CircuitOpen")
      if (attempt >= policy.maxAttempts) return giveUp("MaxAttempts")
      const retryAfterMillis = Option.match(verdict.retryAfter, { onNone: () => 0, onSome: Duration.toMillis })
      if (retryAfterMillis > Duration.toMillis(policy.retryAfterCeiling)) return giveUp("RetryAfterBeyondCeiling")
      return Effect.flatMap(
        scheduleStep.step(policy.backoff, now, { error, verdict, attempt }, state),
        (step): Effect.Effect<Retrying, E> => {
          if (step === undefined) return giveUp("ScheduleEnded")
          const basis = retryAfterMillis > step.delayMillis ? "RetryAfter" : "Backoff"
          const delayMillis = Math.max(step.delayMillis, retryAfterMillis)
          if (
            Option.isSome(policy.maxElapsed) &&
            now + delayMillis - run.startedAt > Duration.toMillis(policy.maxElapsed.value)
          ) {
            return giveUp("MaxElapsed")
          }
          const scheduled = (granted: RetryBudget.Reservation | undefined) => {
            if (Option.isSome(deadline)) {
              deadline.value.activity = `waiting ${Duration.format(Duration.millis(delayMillis))} before attempt ${
                attempt + 1
              }`
            }
            return policy.metrics.delay(basis, delayMillis).pipe(
              Effect.zipRight(failed(run, error, attempt, verdict, true)),
              Effect.zipRight(
                events.enabled
                  ? publish(events, (at) =>
                    ResilienceEvent.RetryScheduled({
                      key: policy.key,
                      attempt,
                      at,
                      delay: Duration.millis(delayMillis),
                      basis,
                      reason: verdict.reason
                    }))
                  : Effect.void
              ),
              Effect.zipRight(
                run.traced
                  ? Effect.annotateCurrentSpan({
                    "resilience.retry.delay_ms": delayMillis,
                    "resilience.retry.basis": basis
                  })
                  : Effect.void
              ),
              Effect.as(new Retrying(delayMillis, step.state, granted))
            )
          }
          if (Option.isSome(deadline) && now + delayMillis >= deadline.value.at) return giveUp("DeadlineWouldPass")
          if (Option.isNone(policy.budget)) return scheduled(undefined)
          return Effect.flatMap(
            RetryBudget.reserve(policy.budget.value),
            (granted) => granted === undefined ? giveUp("BudgetExhausted") : scheduled(granted)
          )
        }
      )
    })
  )
}

const failed = <A, E, R>(
  run: Run<A, E, R>,
  error: E,
  attempt: number,
  verdict: Classify.Verdict,
  willRetry: boolean
): Effect.Effect<void> =>
  run.events.enabled
    ? publish(run.events, (at) =>
      ResilienceEvent.AttemptFailed({
        key: run.policy.key,
        attempt,
        at,
        verdict: ResilienceEvent.summarize(verdict),
        errorTag: Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined,
        willRetry
      }))
    : Effect.void

const publish = (
  events: ResilienceEvent.Sink,
  make: (at: number) => ResilienceEvent.ResilienceEvent
): Effect.Effect<void> => Effect.flatMap(Clock.currentTimeMillis, (at) => events.publish(make(at)))
