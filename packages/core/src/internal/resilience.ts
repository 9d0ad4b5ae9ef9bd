import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as Backoff from "../Backoff.js"
import * as Bulkhead from "../Bulkhead.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Classify from "../Classify.js"
import * as Deadline from "../Deadline.js"
import type { InvalidPolicyError } from "../PolicyError.js"
import * as RateLimiter from "../RateLimiter.js"
import type * as Resilience from "../Resilience.js"
import * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as Timeout from "../Timeout.js"
import * as admissionInternal from "./admission.js"
import type * as bulkheadInternal from "./bulkhead.js"
import { stepsOf } from "./circuitBreaker.js"
import { withCarriedVerdicts } from "./classify.js"
import { LruMap } from "./lru.js"
import { PipelineAttempt } from "./pipelineAttempt.js"
import * as rateLimiterInternal from "./rateLimiter.js"
import * as configInternal from "./resilienceConfig.js"

/** Whether a `dual` was called data-first (its first argument is the effect). */
export const isEffect = (u: unknown): boolean => Effect.isEffect(u)

/**
 * The defaults, and why (the simulator's scenarios, `pnpm sim`, are the evidence):
 * - retry: 4 calls from 250 ms, doubling with full jitter to a 30 s cap: at a steady 20 % error rate 3 calls lose
 *   0.8 % of requests (4 lose 0.16 %), and the shorter first waits keep 4 calls as quick as the SDKs' 3 calls
 *   from 500 ms; Retry-After honoured up to 60 s. A refusal by an open breaker is waited for (a break is 1 s):
 *   in the 60 s outage `onOpenCircuit: "wait"` kept success at the no-retry level, where "fail" lost the
 *   requests that arrived between the provider's recovery and the probe's success;
 * - budget: a ratio budget in the spirit of Finagle's (retries up to 30 % of the last 10 s of requests, plus 1 a
 *   second): it absorbs a steady 20 % error rate (0.25 retries per request), where gRPC's token bucket (10
 *   tokens, 0.1 per success) let about 10 % through; an outage is capped by the breaker, not by the budget;
 * - circuit breaker: opens when half the calls of the last 30 s failed, once at least 10 were made (Polly's
 *   sampling window and minimum throughput; a higher ratio than Polly's 10 %, because LLM providers shed load
 *   in bursts that retries absorb; a steady 20 % error rate never opens it); breaks of 1 s that do not grow,
 *   one probe each: a provider that comes back is found within about a second, for one call per key per second
 *   while it is down (breaks doubling from 5 s to 60 s found it 16 s late);
 * - bulkhead: 100 calls at once per key, 1,000 waiting: a guard against runaway fan-out, not a tuning knob;
 * - rate limiter: learned per key from the provider's headers and 429s (see `./admission.ts`), since users do not
 *   know their account's limits; a configured rate is a ceiling on top;
 * - attempt timeout: 2 minutes, long enough for a long completion, short enough to catch a hung connection
 *   (the OpenAI SDK waits 10 minutes);
 * - deadline: off; set it to what your caller can wait.
 */
export const defaults = {
  retry: {
    maxAttempts: 4,
    backoff: { base: "250 millis", factor: 2, max: "30 seconds", jitter: "full" },
    retryAfterCeiling: "60 seconds",
    onOpenCircuit: "wait"
  },
  budget: { kind: "ratio", ratio: 0.3, minRetriesPerSecond: 1, window: "10 seconds" },
  circuitBreaker: {
    trip: { kind: "ratio", ratio: 0.5, window: "30 seconds", minimumThroughput: 10, buckets: 10 },
    breakDuration: { base: "1 second", factor: 1, max: "1 second", jitter: "none" },
    halfOpenProbes: 1,
    successesToClose: 1
  },
  bulkhead: { maxConcurrent: 100, maxQueue: 1000 },
  rateLimiter: {},
  attemptTimeout: "2 minutes",
  deadline: false
} as const satisfies { readonly [K in keyof Resilience.Config]-?: Exclude<Resilience.Config[K], undefined> }

/** Implements `Resilience.validate`, documented there. */
export const validate = (config?: unknown): Effect.Effect<configInternal.Config, InvalidPolicyError> =>
  Effect.suspend(() =>
    Either.match(configInternal.decode(config, defaults), { onLeft: Effect.fail, onRight: Effect.succeed })
  )

/** Implements `Resilience.make`, documented there. */
export const make = (
  config?: Resilience.Config,
  options?: Resilience.Options
): Effect.Effect<Resilience.Service, InvalidPolicyError, Scope.Scope> =>
  Effect.gen(function*() {
    const decoded = yield* validate(config)
    // The policies' own errors carry their verdict; the call's own errors go to the user's classifier.
    const classify = withCarriedVerdicts(options?.classify)
    const learning = decoded.rateLimiter !== false && decoded.rateLimiter !== undefined &&
      decoded.rateLimiter.learn !== false
    // With learned admission, a 429 is the admission's business (it pauses and slows the key), not a sign of a
    // failing provider: the breaker does not count it, or a burst's first 429s would open it.
    const breakerClassify: Classify.Classifier<unknown> = learning
      ? (error) => {
        const verdict = classify(error)
        return verdict._tag === "Transient" && verdict.reason === "RateLimited" ? notAFailure : verdict
      }
      : classify

    const breakers = decoded.circuitBreaker === false || decoded.circuitBreaker === undefined
      ? undefined
      : yield* CircuitBreaker.keyed({
        trip: decoded.circuitBreaker.trip === undefined
          ? undefined
          : decoded.circuitBreaker.trip.kind === "consecutive"
          ? CircuitBreaker.consecutive(decoded.circuitBreaker.trip.threshold)
          : CircuitBreaker.failureRatio({
            ratio: decoded.circuitBreaker.trip.ratio,
            window: decoded.circuitBreaker.trip.window,
            minimumThroughput: decoded.circuitBreaker.trip.minimumThroughput,
            buckets: decoded.circuitBreaker.trip.buckets
          }),
        breakDuration: decoded.circuitBreaker.breakDuration === undefined
          ? undefined
          : Backoff.make(decoded.circuitBreaker.breakDuration),
        halfOpenProbes: decoded.circuitBreaker.halfOpenProbes,
        successesToClose: decoded.circuitBreaker.successesToClose,
        classify: breakerClassify
      })

    const bulkheads = decoded.bulkhead === false || decoded.bulkhead === undefined
      ? undefined
      : yield* Bulkhead.keyed({ maxConcurrent: decoded.bulkhead.maxConcurrent, maxQueue: decoded.bulkhead.maxQueue })

    const budget = decoded.budget === false || decoded.budget === undefined
      ? undefined
      : decoded.budget.kind === "tokenBucket"
      ? yield* RetryBudget.tokenBucket({ maxTokens: decoded.budget.maxTokens, tokenRatio: decoded.budget.tokenRatio })
      : yield* RetryBudget.ratio({
        ratio: decoded.budget.ratio,
        minRetriesPerSecond: decoded.budget.minRetriesPerSecond,
        window: decoded.budget.window
      })

    const retry = decoded.retry === false || decoded.retry === undefined ? undefined : decoded.retry
    const retryPolicies = new LruMap<Retry.Policy<unknown>>(10_000)
    // One schedule for every key (a schedule holds no state of its own): ~500 bytes less per key.
    const backoff = retry?.backoff === undefined ? undefined : Backoff.make(retry.backoff)
    const retryPolicy = (key: string): Retry.Policy<unknown> | undefined =>
      retry === undefined ? undefined : retryPolicies.getOrCreate(key, () =>
        Retry.policy({
          key,
          maxAttempts: retry.maxAttempts,
          backoff,
          retryAfterCeiling: retry.retryAfterCeiling,
          maxElapsed: retry.maxElapsed,
          onOpenCircuit: retry.onOpenCircuit,
          budget: budget === undefined ? undefined : RetryBudget.withKey(budget, key),
          classify
        }))

    // Everything a key needs besides its breaker, bulkhead and retry policy (kept by their own modules): its
    // configured limiter and its learned admission state, made at the key's first call in one synchronous step,
    // so that concurrent first calls of a key make them once. Attempt timeouts need nothing per key: one timer
    // serves every key, closed with the pipeline's scope.
    const limiterConfig = decoded.rateLimiter === false || decoded.rateLimiter === undefined
      ? undefined
      : decoded.rateLimiter
    const configuredLimit = limiterConfig !== undefined &&
      (limiterConfig.requestsPerMinute !== undefined || limiterConfig.tokensPerMinute !== undefined)
    const limiterStores = configuredLimit ? yield* rateLimiterInternal.stores : undefined
    const admission = limiterConfig === undefined || limiterConfig.learn === false
      ? undefined
      : new admissionInternal.Admission({
        learn: true,
        requestsPerMinute: limiterConfig.requestsPerMinute,
        tokensPerMinute: limiterConfig.tokensPerMinute
      }, classify)
    const failFast = limiterConfig?.onExceeded === "fail"
    const attemptTimeout = decoded.attemptTimeout === false ? undefined : decoded.attemptTimeout
    const timeouts = attemptTimeout === undefined
      ? undefined
      : yield* Effect.orDie(Timeout.keyed({ after: attemptTimeout }))

    interface KeyEntry {
      readonly limiter: RateLimiter.RateLimiter<RateLimiter.RateLimitedLocallyError> | undefined
      readonly admission: admissionInternal.KeyState | undefined
    }
    const entries = new LruMap<KeyEntry>(10_000)
    const makeEntry = (key: string): KeyEntry => ({
      limiter: limiterStores === undefined || limiterConfig === undefined ? undefined : rateLimiterInternal.unsafeMake({
        key,
        requestsPerMinute: limiterConfig.requestsPerMinute,
        tokensPerMinute: limiterConfig.tokensPerMinute,
        burst: { requests: limiterConfig.burst?.requests, tokens: limiterConfig.burst?.tokens },
        onExceeded: limiterConfig.onExceeded ?? "delay"
      }, limiterStores),
      admission: admission?.makeState(key)
    })
    const entryOf = (key: string): KeyEntry => entries.use(key) ?? entries.add(key, makeEntry(key)).kept

    const deadline = decoded.deadline === false ? undefined : decoded.deadline

    const run = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      runOptions?: Resilience.RunOptions
    ): Effect.Effect<A, E | Resilience.PolicyRejection, R> => {
      const key = runOptions?.key ?? "default"
      const entry = entryOf(key)
      const policy = runOptions?.retry === false ? undefined : retryPolicy(key)
      const tokens = runOptions?.tokens
      let call: Effect.Effect<A, E | Resilience.PolicyRejection, R> = effect
      let retried = policy === undefined
      const limiterFor = entry.limiter
      const state = admission === undefined ? undefined : entry.admission
      const breaker = breakers?.get(key)
      const bulkhead = bulkheads?.get(key)
      const attemptTimeoutFor = timeouts?.get(key)
      if (state !== undefined || breaker !== undefined || bulkhead !== undefined || attemptTimeoutFor !== undefined) {
        // Every attempt is admitted (a retry spends the provider's quota like any call), outside the breaker, the
        // bulkhead and the attempt timeout: a wait for admission holds no slot and eats no attempt timeout. The
        // four run in one uninterruptible region with one continuation (see `./pipelineAttempt.ts`).
        call = new PipelineAttempt(
          effect,
          admission,
          state,
          tokens === undefined || !(tokens > 0) || !Number.isFinite(tokens) ? 0 : Math.ceil(tokens),
          breaker === undefined ? undefined : stepsOf(breaker),
          bulkhead as bulkheadInternal.BulkheadImpl | undefined,
          attemptTimeoutFor,
          // The retry's first attempt runs under the attempt's own continuation, unless a configured limiter must
          // admit each attempt first (below).
          limiterFor === undefined ? policy : undefined
        )
        retried ||= limiterFor === undefined
      }
      // A configured limiter admits every attempt, before the learned admission does (a wait for it holds no slot).
      if (limiterFor !== undefined) {
        call = RateLimiter.protect(call, limiterFor, { tokens })
        // `onExceeded: "fail"` asks for a refusal at once: it ends the call, whichever attempt it refused.
        if (failFast) call = Effect.mapError(call, escapeRefusal)
      }
      if (!retried) call = Retry.retry(call, policy!)
      if (failFast && limiterFor !== undefined) call = Effect.mapError(call, unescapeRefusal)
      if (deadline !== undefined) call = Deadline.within(call, { after: deadline, key })
      return call
    }

    const observe = (key: string, observation: RateLimiter.Observation): Effect.Effect<void> => {
      const entry = entryOf(key)
      const learned = admission !== undefined && entry.admission !== undefined
        ? admissionInternal.observe(admission, entry.admission, observation)
        : Effect.void
      return entry.limiter === undefined
        ? learned
        : Effect.zipRight(RateLimiter.observe(entry.limiter, observation), learned)
    }

    const adjust = (key: string, tokens: number): Effect.Effect<void> => {
      const entry = entryOf(key)
      const learned = admission !== undefined && entry.admission !== undefined
        ? Effect.clockWith((clock) =>
          Effect.sync(() => admission.adjust(entry.admission!, clock.unsafeCurrentTimeMillis(), tokens))
        )
        : Effect.void
      return entry.limiter === undefined ? learned : Effect.zipRight(RateLimiter.adjust(entry.limiter, tokens), learned)
    }

    return {
      config: decoded,
      run,
      breaker: (key) => breakers?.get(key),
      observe,
      adjust
    } satisfies Resilience.Service
  })

/** What the breaker makes of a 429 under learned admission: not a failure (a permanent verdict is not counted). */
const notAFailure: Classify.Verdict = Classify.permanent("Unknown")

/** A configured limiter's refusal on its way out of the retry loop: permanent, so that it ends the call. */
class EscapedRefusal implements Classify.Classifiable {
  readonly [Classify.rejectedLocally] = true
  constructor(readonly error: RateLimiter.RateLimitedLocallyError) {}
  get _tag(): string {
    return this.error._tag
  }
  [Classify.symbol](): Classify.Verdict {
    return Classify.permanent("Unknown")
  }
}

const escapeRefusal = <E>(error: E): E =>
  (RateLimiter.isRateLimitedLocallyError(error)
    ? new EscapedRefusal(error)
    : error) as E

const unescapeRefusal = <E>(error: E): E => (error instanceof EscapedRefusal ? error.error : error) as E

/** Implements `Resilience.makeFromConfig`, documented there. */
export const makeFromConfig = (
  // Read at run time (from the environment, as text): checked by `make` like any data of unknown type.
  config: Config.Config<unknown>,
  options?: Resilience.Options
): Effect.Effect<Resilience.Service, InvalidPolicyError | ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(config, (value) => make(value as Resilience.Config, options))
