import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Backoff from "../Backoff.js"
import * as Classify from "../Classify.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import type * as Retry from "../Retry.js"
import * as scheduleStep from "./schedule.js"
import { Issues } from "./validate.js"

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

const defaultRetryAfterCeiling = Duration.seconds(60)

/** A validated policy plus what the retry loop precomputes once per policy. */
interface CompiledPolicy<E> extends Retry.Policy<E> {
  readonly metrics: {
    readonly success: Metric.Metric.Counter<number>
    readonly transient: Metric.Metric.Counter<number>
    readonly permanent: Metric.Metric.Counter<number>
    readonly delay: {
      readonly Backoff: Metric.Metric.Histogram<number>
      readonly RetryAfter: Metric.Metric.Histogram<number>
    }
    readonly exhausted: Metric.Metric.Counter<number>
  }
  readonly spanAttributes: Record<string, unknown>
}

export const validate = <E = unknown>(
  options: Retry.Options<E> = {}
): Either.Either<Retry.Policy<E>, InvalidPolicyError> => {
  const issues = new Issues()
  const maxAttempts = options.maxAttempts ?? 3
  issues.wholeNumber("maxAttempts", maxAttempts, 1)
  const retryAfterCeiling = options.retryAfterCeiling === undefined
    ? defaultRetryAfterCeiling
    : issues.duration("retryAfterCeiling", options.retryAfterCeiling)
  const maxElapsed = options.maxElapsed === undefined
    ? Option.none()
    : Option.fromNullable(issues.duration("maxElapsed", options.maxElapsed, { positive: true }))
  const backoff = options.backoff === undefined
    ? Backoff.standard
    : Schedule.isSchedule(options.backoff)
    ? options.backoff
    : validateBackoff(issues, options.backoff)
  const key = options.key ?? "default"
  if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
  if (options.classify !== undefined && !Predicate.isFunction(options.classify)) {
    issues.add("classify", "must be a function from an error to a verdict")
  }
  if (issues.list.length > 0 || retryAfterCeiling === undefined || backoff === undefined) {
    return Either.left(new InvalidPolicyError({ policy: "retry", issues: issues.list }))
  }
  return Either.right(compile<E>({
    maxAttempts,
    backoff: backoff as Schedule.Schedule<unknown, Retry.Failure<E>>,
    classify: options.classify ?? Classify.standard,
    retryAfterCeiling,
    maxElapsed,
    key,
    tracing: options.tracing ?? true
  }))
}

export const policy = <E = unknown>(options?: Retry.Options<E>): Retry.Policy<E> =>
  Either.getOrThrowWith(validate(options), (error) => error)

const validateBackoff = (
  issues: Issues,
  options: Backoff.Options
): Schedule.Schedule<Duration.Duration> | undefined => {
  const base = issues.duration("backoff.base", options.base)
  const max = issues.duration("backoff.max", options.max)
  if (base !== undefined && max !== undefined && Duration.lessThan(max, base)) {
    issues.add("backoff.max", `must be ≥ backoff.base (${Duration.format(base)}), got ${Duration.format(max)}`)
  }
  if (
    options.factor !== undefined &&
    !(typeof options.factor === "number" && options.factor >= 1 && options.factor <= 1000)
  ) {
    issues.add("backoff.factor", `must be a number in [1, 1000], got ${String(options.factor)}`)
  }
  const jitter = options.jitter
  if (jitter !== undefined) {
    if (typeof jitter === "string") {
      if (!["none", "full", "equal", "decorrelated"].includes(jitter)) {
        issues.add(
          "backoff.jitter",
          `must be "none", "full", "equal", "decorrelated" or a Backoff.Jitter, got "${jitter}"`
        )
      }
    } else if (jitter._tag === "Proportional") {
      issues.numberInRange("backoff.jitter.ratio", jitter.ratio, 0, 1)
    }
  }
  return base === undefined || max === undefined ? undefined : Backoff.make(options)
}

const compile = <E>(policy: Retry.Policy<E>): CompiledPolicy<E> => {
  const keyed = <T extends Metric.Metric<any, any, any>>(metric: T): T =>
    Metric.tagged(metric, "resilience.key", policy.key) as T
  const attempts = keyed(ResilienceMetrics.attempts)
  const delay = keyed(ResilienceMetrics.retryDelay)
  return {
    ...policy,
    metrics: {
      success: Metric.tagged(attempts, "resilience.outcome", "success"),
      transient: Metric.tagged(attempts, "resilience.outcome", "transient"),
      permanent: Metric.tagged(attempts, "resilience.outcome", "permanent"),
      delay: {
        Backoff: Metric.tagged(delay, "resilience.basis", "Backoff"),
        RetryAfter: Metric.tagged(delay, "resilience.basis", "RetryAfter")
      },
      exhausted: keyed(ResilienceMetrics.retriesExhausted)
    },
    spanAttributes: { "resilience.key": policy.key }
  }
}

const compiled = <E>(policy: Retry.Policy<E>): CompiledPolicy<E> =>
  "metrics" in policy ? policy as CompiledPolicy<E> : compile(policy)

// ---------------------------------------------------------------------------
// The retry loop
// ---------------------------------------------------------------------------

/** The success value of one attempt that failed and will be retried after `delayMillis`. */
class Retrying {
  constructor(readonly delayMillis: number, readonly state: unknown) {}
}

interface Run<A, E, R> {
  readonly self: Effect.Effect<A, E, R>
  readonly policy: CompiledPolicy<E>
  readonly events: ResilienceEvent.Sink
  /** Clock time of the first call; read only when `maxElapsed` needs it. */
  readonly startedAt: number
}

export const retry = <A, E, R>(self: Effect.Effect<A, E, R>, policy: Retry.Policy<E>): Effect.Effect<A, E, R> => {
  const compiledPolicy = compiled(policy)
  return Effect.flatMap(ResilienceEvent.ResilienceEvents, (events) =>
    Option.isSome(compiledPolicy.maxElapsed)
      ? Effect.flatMap(
        Clock.currentTimeMillis,
        (startedAt) => loop({ self, policy: compiledPolicy, events, startedAt }, 1, compiledPolicy.backoff.initial)
      )
      : loop({ self, policy: compiledPolicy, events, startedAt: 0 }, 1, compiledPolicy.backoff.initial))
}

const loop = <A, E, R>(run: Run<A, E, R>, attempt: number, state: unknown): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    instrumentedAttempt(run, attempt, state),
    (result) =>
      result instanceof Retrying
        ? Effect.zipRight(Effect.sleep(Duration.millis(result.delayMillis)), loop(run, attempt + 1, result.state))
        : Effect.succeed(result)
  )

/** One call, its outcome recorded and, on failure, the decision taken — all inside the attempt's span. */
const instrumentedAttempt = <A, E, R>(
  run: Run<A, E, R>,
  attempt: number,
  state: unknown
): Effect.Effect<A | Retrying, E, R> => {
  const { events, policy } = run
  let effect: Effect.Effect<A | Retrying, E, R> = Effect.matchEffect(run.self, {
    onFailure: (error) => decide(run, error, attempt, state),
    onSuccess: (value) => {
      const counted = Effect.as(Metric.increment(policy.metrics.success), value)
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
  return policy.tracing
    ? Effect.withSpan(effect, "resilience.attempt", {
      attributes: { ...policy.spanAttributes, "resilience.attempt": attempt }
    })
    : effect
}

const decide = <A, E, R>(
  run: Run<A, E, R>,
  error: E,
  attempt: number,
  state: unknown
): Effect.Effect<Retrying, E> => {
  const { events, policy } = run
  const verdict = policy.classify(error)
  const annotate = policy.tracing
    ? Effect.annotateCurrentSpan({
      "resilience.verdict": verdict._tag,
      "resilience.reason": verdict.reason
    })
    : Effect.void
  if (verdict._tag === "Permanent") {
    return annotate.pipe(
      Effect.zipRight(Metric.increment(policy.metrics.permanent)),
      Effect.zipRight(failed(run, error, attempt, verdict, false)),
      Effect.zipRight(Effect.fail(error))
    )
  }
  const giveUp = (why: ResilienceEvent.StopReason): Effect.Effect<never, E> =>
    failed(run, error, attempt, verdict, false).pipe(
      Effect.zipRight(Metric.increment(Metric.tagged(policy.metrics.exhausted, "resilience.why", why))),
      Effect.zipRight(
        events.enabled
          ? publish(
            events,
            (at) => ResilienceEvent.RetriesExhausted({ key: policy.key, attempts: attempt, at, why })
          )
          : Effect.void
      ),
      Effect.zipRight(policy.tracing ? Effect.annotateCurrentSpan("resilience.stop", why) : Effect.void),
      Effect.zipRight(Effect.fail(error))
    )
  return annotate.pipe(
    Effect.zipRight(Metric.increment(policy.metrics.transient)),
    Effect.zipRight(Clock.currentTimeMillis),
    Effect.flatMap((now): Effect.Effect<Retrying, E> => {
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
          const scheduled = Metric.update(policy.metrics.delay[basis], delayMillis).pipe(
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
              policy.tracing
                ? Effect.annotateCurrentSpan({
                  "resilience.retry.delay_ms": delayMillis,
                  "resilience.retry.basis": basis
                })
                : Effect.void
            ),
            Effect.as(new Retrying(delayMillis, step.state))
          )
          return scheduled
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
