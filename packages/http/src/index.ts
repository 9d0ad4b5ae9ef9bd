/**
 * Retry-After and rate-limit headers, read without ever throwing.
 *
 * @since 0.1.0
 */
export * as RateLimitHeaders from "./RateLimitHeaders.js"
