import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Backoff from "../Backoff.js"
import * as Bulkhead from "../Bulkhead.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Deadline from "../Deadline.js"
import type { InvalidPolicyError } from "../PolicyError.js"
import * as RateLimiter from "../RateLimiter.js"
import type * as Resilience from "../Resilience.js"
import * as Retry from "../Retry.js"
import * as RetryBudget from "../RetryBudget.js"
import * as Timeout from "../Timeout.js"
import * as bulkheadInternal from "./bulkhead.js"
import * as circuitBreakerInternal from "./circuitBreaker.js"
import { withCarriedVerdicts } from "./classify.js"
import { LruMap } from "./lru.js"
import * as configInternal from "./resilienceConfig.js"
import * as timeoutInternal from "./timeout.js"

/** Whether a `dual` was called data-first (its first argument is the effect). */
export const isEffect = (u: unknown): boolean => Effect.isEffect(u)

/**
 * The defaults, and why:
 * - retry: the OpenAI and Anthropic SDKs' 3 calls from 500 ms, with full jitter and a 30 s cap;
 * - budget: gRPC's token bucket (10 tokens, 0.1 per success): a fleet never triples a failing provider's load;
 * - circuit breaker: opens when half the calls of the last 30 s failed, once at least 10 were made (Polly's
 *   sampling window and minimum throughput; a higher ratio than Polly's 10 %, because LLM providers shed load
 *   in bursts that retries absorb); breaks of 5 s doubling to 60 s while the provider stays down;
 * - bulkhead: 100 calls at once per key, 1,000 waiting: a guard against runaway fan-out, not a tuning knob;
 * - rate limiter: off, since only you know your account's limits;
 * - attempt timeout: 2 minutes, long enough for a long completion, short enough to catch a hung connection
 *   (the OpenAI SDK waits 10 minutes);
 * - deadline: off; set it to what your caller can wait.
 */
export const defaults = {
  retry: {
    maxAttempts: 3,
    backoff: { base: "500 millis", factor: 2, max: "30 seconds", jitter: "full" },
    retryAfterCeiling: "60 seconds"
  },
  budget: { kind: "tokenBucket", maxTokens: 10, tokenRatio: 0.1 },
  circuitBreaker: {
    trip: { kind: "ratio", ratio: 0.5, window: "30 seconds", minimumThroughput: 10, buckets: 10 },
    breakDuration: { base: "5 seconds", factor: 2, max: "60 seconds", jitter: "none" },
    halfOpenProbes: 1,
    successesToClose: 1
  },
  bulkhead: { maxConcurrent: 100, maxQueue: 1000 },
  rateLimiter: false,
  attemptTimeout: "2 minutes",
  deadline: false
} as const satisfies { readonly [K in keyof Resilience.Config]-?: Exclude<Resilience.Config[K], undefined> }

/** Fills in defaults, section by section: a section given replaces the default's fields it names. */
const withDefaults = (config: unknown): unknown => {
  if (config === undefined || config === null) return defaults
  if (typeof config !== "object" || Array.isArray(config)) return config
  const given = config as Record<string, unknown>
  const merged: Record<string, unknown> = { ...given }
  for (const [key, fallback] of Object.entries(defaults)) {
    const value = given[key]
    if (value === undefined) merged[key] = fallback
    else if (isPlainObject(value) && isPlainObject(fallback)) {
      // A different kind of trip or budget replaces the default one whole.
      merged[key] = "kind" in value && value.kind !== (fallback as { kind?: unknown }).kind
        ? value
        : { ...fallback, ...value }
    }
  }
  return merged
}

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Implements `Resilience.validate`, documented there. */
export const validate = (config?: unknown): Effect.Effect<configInternal.Config, InvalidPolicyError> =>
  Effect.suspend(() =>
    Either.match(configInternal.decode(withDefaults(config)), { onLeft: Effect.fail, onRight: Effect.succeed })
  )

/** Implements `Resilience.make`, documented there. */
export const make = (
  config?: Resilience.Config,
  options?: Resilience.Options
): Effect.Effect<Resilience.Service, InvalidPolicyError, Scope.Scope> =>
  Effect.gen(function*() {
    const decoded = yield* validate(config)
    const runtime = yield* Effect.runtime<never>()
    // The policies' own errors carry their verdict; the call's own errors go to the user's classifier.
    const classify = withCarriedVerdicts(options?.classify)

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
        classify
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
          budget: budget === undefined ? undefined : RetryBudget.withKey(budget, key),
          classify
        }))

    // Limiters are made per key on first use, by the fiber of that first call, in the context and
    // scope the pipeline was made in. Not with a nested `Runtime.runSync`: the finalizers it registers keep its
    // synchronous scheduler, which hands their continuations to the global one, past a custom scheduler's reach
    // (the simulator's virtual runtime then never saw a pipeline's scope close).
    const limiterOptions = decoded.rateLimiter === false ? undefined : decoded.rateLimiter
    const limiters = new LruMap<RateLimiter.RateLimiter<RateLimiter.RateLimitedLocallyError>>(10_000)
    const attemptTimeout = decoded.attemptTimeout === false ? undefined : decoded.attemptTimeout
    // One timer for every key, closed with the pipeline's scope: a key's timeout holds no state.
    const timeouts = attemptTimeout === undefined
      ? undefined
      : yield* Effect.orDie(Timeout.keyed({ after: attemptTimeout }))

    const needsLimiter = (key: string) => limiterOptions !== undefined && limiters.use(key) === undefined

    /** Makes what `key` still lacks; run before the first call of a key (decided again when it runs). */
    const prepare = (key: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (limiterOptions !== undefined && needsLimiter(key)) {
          const made = yield* Effect.orDie(RateLimiter.make({
            key,
            requestsPerMinute: limiterOptions.requestsPerMinute,
            tokensPerMinute: limiterOptions.tokensPerMinute,
            burst: limiterOptions.burst,
            onExceeded: limiterOptions.onExceeded
          }))
          limiters.add(key, made)
        }
      }).pipe(
        Effect.provide(runtime.context),
        // Quick, and what it makes is only found again once it is stored: not to be cut in between.
        Effect.uninterruptible
      )

    const deadline = decoded.deadline === false ? undefined : decoded.deadline

    const run = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      runOptions?: Resilience.RunOptions
    ): Effect.Effect<A, E | Resilience.PolicyRejection, R> => {
      const key = runOptions?.key ?? "default"
      const attemptTimeoutFor = timeouts?.get(key)
      const limiterFor = limiterOptions === undefined ? undefined : limiters.use(key)
      if (limiterOptions !== undefined && limiterFor === undefined) {
        // The key's first call (or its first since it was dropped): make its limiter, then run.
        return Effect.zipRight(prepare(key), Effect.suspend(() => run(effect, runOptions)))
      }
      let call: Effect.Effect<A, E | Resilience.PolicyRejection, R> = effect
      const bulkhead = bulkheads?.get(key)
      const breaker = breakers?.get(key)
      if (attemptTimeoutFor !== undefined || bulkhead !== undefined || breaker !== undefined) {
        // `breaker(bulkhead(timeout(effect)))`, each as its own `protect` would run it, in one uninterruptible
        // region instead of one per policy: only the wait for a bulkhead slot and the call itself are
        // interruptible, as with the policies composed one by one, for fewer runtime steps per call.
        // Each policy takes its step on the fiber in the step of the policy outside it, when it is its turn.
        call = Effect.uninterruptibleMask((restore) => {
          let step: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<
            A,
            E | Resilience.PolicyRejection,
            R
          > = attemptTimeoutFor === undefined
            ? () => restore(effect)
            : timeoutInternal.step(effect, attemptTimeoutFor, restore)
          if (bulkhead !== undefined) step = bulkheadInternal.step(step, bulkhead, restore)
          return breaker === undefined
            ? Effect.withFiberRuntime(step)
            : circuitBreakerInternal.protectMasked(breaker, step)
        })
      }
      const policy = runOptions?.retry === false ? undefined : retryPolicy(key)
      if (policy !== undefined) call = Retry.retry(call, policy)
      if (deadline !== undefined) call = Deadline.within(call, { after: deadline, key })
      if (limiterFor !== undefined) call = RateLimiter.protect(call, limiterFor, { tokens: runOptions?.tokens })
      return call
    }

    /** Runs `f` with the limiter of `key`, made first if this is the key's first use; nothing without limiter. */
    const withLimiter = (
      key: string,
      f: (limiter: RateLimiter.RateLimiter<RateLimiter.RateLimitedLocallyError>) => Effect.Effect<void>
    ): Effect.Effect<void> => {
      if (limiterOptions === undefined) return Effect.void
      const withMade = Effect.suspend(() => {
        const limiterFor = limiters.use(key)
        return limiterFor === undefined ? Effect.void : f(limiterFor)
      })
      return needsLimiter(key) ? Effect.zipRight(prepare(key), withMade) : withMade
    }

    return {
      config: decoded,
      run,
      breaker: (key) => breakers?.get(key),
      observe: (key, observation) => withLimiter(key, (limiterFor) => RateLimiter.observe(limiterFor, observation)),
      adjust: (key, tokens) => withLimiter(key, (limiterFor) => RateLimiter.adjust(limiterFor, tokens))
    } satisfies Resilience.Service
  })

/** Implements `Resilience.makeFromConfig`, documented there. */
export const makeFromConfig = (
  config: Config.Config<Resilience.Config>,
  options?: Resilience.Options
): Effect.Effect<Resilience.Service, InvalidPolicyError | ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(config, (value) => make(value, options))
