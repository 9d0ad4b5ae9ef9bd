/**
 * Backoff: how long to wait before each retry, as `Schedule` values.
 *
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"

/**
 * Bulkhead: a cap on concurrent calls per key, with a bounded queue.
 *
 * @since 0.1.0
 */
export * as Bulkhead from "./Bulkhead.js"

/**
 * CircuitBreaker: stop calling a provider that is down, and find out when it is back.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * Classification: the one question resilience asks of every error.
 *
 * @since 0.1.0
 */
export * as Classify from "./Classify.js"

/**
 * Deadline: the total time a caller allows for one logical call.
 *
 * @since 0.1.0
 */
export * as Deadline from "./Deadline.js"

/**
 * Fallback: an ordered list of providers or models, each under its own policy; the first that serves the call wins.
 *
 * @since 0.1.0
 */
export * as Fallback from "./Fallback.js"

/**
 * Hedge: a second call started when the first is slow; the first success wins, the other is interrupted.
 *
 * @since 0.1.0
 */
export * as Hedge from "./Hedge.js"

/**
 * The error for a policy built from invalid options.
 *
 * @since 0.1.0
 */
export * as PolicyError from "./PolicyError.js"

/**
 * The typed errors of a provider call.
 *
 * @since 0.1.0
 */
export * as ProviderError from "./ProviderError.js"

/**
 * RateLimiter: admission by requests and tokens per minute, adaptive to what the provider reports.
 *
 * @since 0.1.0
 */
export * as RateLimiter from "./RateLimiter.js"

/**
 * Resilience: every policy composed, in the right order, into one pipeline.
 *
 * @since 0.1.0
 */
export * as Resilience from "./Resilience.js"

/**
 * Events: every decision the resilience policies take, as data.
 *
 * @since 0.1.0
 */
export * as ResilienceEvent from "./ResilienceEvent.js"

/**
 * Metrics: the counters and histograms every policy feeds.
 *
 * @since 0.1.0
 */
export * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * Retry: call again on transient failures, with backoff, honouring the provider's Retry-After.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * RetryBudget: a cap on retry amplification across all calls for a key.
 *
 * @since 0.1.0
 */
export * as RetryBudget from "./RetryBudget.js"

/**
 * Reproducible randomness for jitter.
 *
 * @since 0.1.0
 */
export * as SeededRandom from "./SeededRandom.js"

/**
 * StateStore: where circuit-breaker and retry-budget state lives.
 *
 * @since 0.1.0
 */
export * as StateStore from "./StateStore.js"

/**
 * Timeout: a time limit for each attempt.
 *
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"
