import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Classify from "../Classify.js"
import * as Deadline from "../Deadline.js"
import type * as Fallback from "../Fallback.js"
import type * as Resilience from "../Resilience.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import { withCarriedVerdicts } from "./classify.js"

/** Implements `Fallback.defaultTriggers`, documented there. */
export const defaultTriggers: Required<Fallback.Triggers> = {
  RateLimited: "Failover",
  Overloaded: "Failover",
  ServerError: "Failover",
  Timeout: "Failover",
  Network: "Failover",
  Unavailable: "Failover",
  QuotaExhausted: "Failover",
  ContextLengthExceeded: "LargerContextWindow",
  Authentication: "Fail",
  PermissionDenied: "Fail",
  InvalidRequest: "Fail",
  NotFound: "Fail",
  ContentFiltered: "Fail",
  Unknown: "Fail",
  RejectedLocally: "Failover"
}

/** Implements `Fallback.step`, documented there. */
export const step = <I, A, E, R>(
  name: string,
  call: ((input: I) => Effect.Effect<A, E, R>) | Effect.Effect<A, E, R>,
  options?: Fallback.StepOptions<I>
): Fallback.Step<I, A, E | Resilience.PolicyRejection, R> => {
  const make: (input: I) => Effect.Effect<A, E, R> = Effect.isEffect(call) ? () => call : call
  const key = options?.key ?? name
  const resilience = options?.resilience
  const tokens = options?.tokens
  const retry = options?.retry
  return {
    name,
    key,
    contextWindow: options?.contextWindow,
    call: resilience === undefined ? make : (input) =>
      resilience.run(make(input), {
        key,
        tokens: typeof tokens === "function" ? tokens(input) : tokens,
        retry
      }),
    breaker: () => resilience?.breaker(key) ?? options?.breaker
  }
}

/**
 * The refusal an open or isolated breaker would give right now, or `undefined` when a call may be tried (closed,
 * half-open, or open with its break over: the next call is admitted as a probe).
 */
export const openRejection = (
  breaker: CircuitBreaker.CircuitBreaker<never>
): Effect.Effect<CircuitBreaker.CircuitOpenError | undefined> =>
  Effect.flatMap(breaker.state, (state) => {
    if (state._tag === "Isolated") {
      return Effect.succeed(new CircuitBreaker.CircuitOpenError({ key: breaker.key, state: "Isolated" }))
    }
    if (state._tag !== "Open") return Effect.succeed(undefined)
    return Effect.map(Clock.currentTimeMillis, (now) =>
      state.until > now
        ? new CircuitBreaker.CircuitOpenError({
          key: breaker.key,
          state: "Open",
          retryAfter: Duration.millis(state.until - now)
        })
        : undefined)
  })

/** Implements `Fallback.make`, documented there. */
export const make = <I, A, E, R>(
  steps: ReadonlyArray<Fallback.Step<I, A, E, R>>,
  options?: Fallback.Options
): Fallback.Fallback<I, A, E, R> => {
  if (steps.length === 0) throw new globalThis.Error("Fallback.make: at least one step is required")
  const name = options?.name ?? steps.map((s) => s.name).join(" > ")
  const classify = withCarriedVerdicts(options?.classify)
  const triggers: Required<Fallback.Triggers> = { ...defaultTriggers, ...options?.triggers }

  const run = (input: I): Effect.Effect<A, E | CircuitBreaker.CircuitOpenError, R> =>
    Effect.suspend(() => {
      // The state of one call: what was passed over, and the last failure worth reporting.
      const skipped: Array<{ readonly step: string; readonly why: Fallback.SkipReason }> = []
      let lastError: { readonly error: E } | undefined
      let lastRejection: CircuitBreaker.CircuitOpenError | undefined
      // After a `ContextLengthExceeded`, only steps whose window is larger than this may be tried.
      let minWindow: number | undefined

      const skip = (index: number, why: Fallback.SkipReason) => {
        const current = steps[index]
        skipped.push({ step: current.name, why })
        return Effect.zipRight(
          ResilienceEvent.publish((at) =>
            ResilienceEvent.StepSkipped({ key: name, at, step: current.name, index, why })
          ),
          Effect.suspend(() => loop(index + 1))
        )
      }

      const exhausted = (): Effect.Effect<never, E | CircuitBreaker.CircuitOpenError> =>
        lastError !== undefined
          ? Effect.fail(lastError.error)
          : lastRejection !== undefined
          ? Effect.fail(lastRejection)
          : Effect.dieMessage(`Fallback ${name}: no step was tried`)

      const onFailure = (index: number, error: E): Effect.Effect<A, E | CircuitBreaker.CircuitOpenError, R> => {
        // The caller's deadline is the whole call's: no other step can beat it.
        if (Deadline.isDeadlineExceededError(error)) return Effect.fail(error)
        const verdict = classify(error)
        const trigger = Classify.isRejectedLocally(error) ? triggers.RejectedLocally : triggers[verdict.reason]
        if (trigger === "Fail") return Effect.fail(error)
        lastError = { error }
        const why: Fallback.SkipReason = CircuitBreaker.isCircuitOpenError(error) ? "BreakerOpen" : verdict.reason
        if (trigger === "LargerContextWindow") {
          const window = steps[index].contextWindow
          if (window === undefined && minWindow === undefined) return Effect.fail(error)
          minWindow = Math.max(minWindow ?? 0, window ?? 0)
        }
        return skip(index, why)
      }

      const attempt = (index: number): Effect.Effect<A, E | CircuitBreaker.CircuitOpenError, R> => {
        const current = steps[index]
        return Effect.matchEffect(current.call(input), {
          onFailure: (error) => onFailure(index, error),
          onSuccess: (value) =>
            Effect.as(
              Effect.zipRight(
                index === 0 ?
                  Effect.void :
                  ResilienceEvent.publish((at) =>
                    ResilienceEvent.FallbackUsed({ key: name, at, servedBy: current.name, index, skipped })
                  ),
                Effect.annotateCurrentSpan("resilience.served_by", current.name)
              ),
              value
            )
        })
      }

      const loop = (index: number): Effect.Effect<A, E | CircuitBreaker.CircuitOpenError, R> => {
        if (index >= steps.length) return exhausted()
        const current = steps[index]
        if (minWindow !== undefined && !(current.contextWindow !== undefined && current.contextWindow > minWindow)) {
          return skip(index, "ContextWindow")
        }
        const breaker = current.breaker()
        if (breaker === undefined) return attempt(index)
        return Effect.flatMap(openRejection(breaker), (rejection) => {
          if (rejection === undefined) return attempt(index)
          lastRejection = rejection
          return skip(index, "BreakerOpen")
        })
      }

      return loop(0)
    })

  return {
    name,
    steps,
    run: run as Fallback.Fallback<I, A, E, R>["run"]
  }
}
