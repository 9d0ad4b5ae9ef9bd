/**
 * Retry-After and rate-limit headers, read without ever throwing.
 *
 * @since 0.1.0
 */
export * as RateLimitHeaders from "./RateLimitHeaders.js"

/**
 * Which HttpClient failures and statuses are worth another request, and when.
 *
 * @since 0.1.0
 */
export * as HttpClassify from "./HttpClassify.js"

/**
 * An HttpClient whose requests pass through a Resilience pipeline, as a Layer.
 *
 * @since 0.1.0
 */
export * as ResilientHttpClient from "./ResilientHttpClient.js"
