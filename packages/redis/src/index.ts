/**
 * @since 0.1.0
 */

/**
 * Core's `StateStore` on Redis: shared circuit-breaker, retry-budget and rate-limiter state, failing open to local state.
 *
 * @since 0.1.0
 */
export * as RedisStateStore from "./RedisStateStore.js"
