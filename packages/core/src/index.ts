/**
 * Backoff: how long to wait before each retry, as `Schedule` values.
 *
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"

/**
 * Classification: the one question resilience asks of every error.
 *
 * @since 0.1.0
 */
export * as Classify from "./Classify.js"

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
 * Reproducible randomness for jitter.
 *
 * @since 0.1.0
 */
export * as SeededRandom from "./SeededRandom.js"
