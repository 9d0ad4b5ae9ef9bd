/**
 * Metrics: the counters and histograms every policy feeds.
 *
 * They are ordinary `effect` `Metric`s, so any metrics backend wired to
 * effect (e.g. `@effect/opentelemetry`) exports them with no extra code. Every
 * metric is tagged with `resilience.key`, the protected key (e.g.
 * `"openai/gpt-4o"`).
 *
 * **Gotchas**
 *
 * - A series is named by its metric and all its tags, in the order they were
 *   added. The library always writes `resilience.key` first, then the
 *   metric's own tag (`resilience.outcome`, `resilience.basis`,
 *   `resilience.why`). `Metric.value` of a metric tagged with
 *   `resilience.key` only reads a series nobody writes, and stays at 0: tag it
 *   with both, in that order, or sum the key's series from `Metric.snapshot`
 *   (see the examples of `retryDelay` and `retriesExhausted`).
 * - Exporters (e.g. `@effect/opentelemetry`) export every series with its
 *   tags; a backend sums over a tag when asked.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Calls made through `Retry`, tagged with `resilience.outcome`: `success`,
 * `transient` or `permanent`.
 *
 * @example
 * ```ts
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * export const successes = Metric.value(
 *   ResilienceMetrics.attempts.pipe(Metric.tagged("resilience.key", "openai"), Metric.tagged("resilience.outcome", "success"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const attempts: Metric.Metric.Counter<number> = Metric.counter("resilience.attempts", {
  description: "Calls made through a retry policy, by outcome (success, transient, permanent)",
  incremental: true
})

/**
 * The delays `Retry` waited before retrying, in milliseconds, tagged with
 * `resilience.basis`: `Backoff` or `RetryAfter`.
 *
 * @example
 * ```ts
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Effect, Metric } from "effect"
 *
 * // `Retry` records each delay under its key, then its basis: "Backoff" or "RetryAfter".
 * export const delays = (key: string, basis: "Backoff" | "RetryAfter") =>
 *   Metric.value(ResilienceMetrics.retryDelay.pipe(Metric.tagged("resilience.key", key), Metric.tagged("resilience.basis", basis)))
 *
 * // Both bases together: how many retries waited, and how long in all (ms).
 * export const allDelays = (key: string) =>
 *   Effect.map(
 *     Effect.all([delays(key, "Backoff"), delays(key, "RetryAfter")]),
 *     ([backoff, retryAfter]) => ({ count: backoff.count + retryAfter.count, sum: backoff.sum + retryAfter.sum })
 *   )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const retryDelay: Metric.Metric.Histogram<number> = Metric.histogram(
  "resilience.retry.delay",
  // 1 ms to ~65 s, doubling: covers a fast backoff and a long Retry-After alike.
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 17 }),
  "Delay before a retry, in milliseconds"
)

/**
 * Logical calls on which `Retry` gave up on a transient failure, tagged with
 * `resilience.why` (see `ResilienceEvent.StopReason`).
 *
 * @example
 * ```ts
 * import type { ResilienceEvent } from "@effect-resilience/core"
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Effect, Metric, MetricState } from "effect"
 *
 * // `Retry` counts under its key, then the reason it stopped.
 * export const exhausted = (key: string, why: ResilienceEvent.StopReason) =>
 *   Metric.value(
 *     ResilienceMetrics.retriesExhausted.pipe(Metric.tagged("resilience.key", key), Metric.tagged("resilience.why", why))
 *   )
 *
 * // Every reason together: sum the key's series from a snapshot (reading no series that was never written).
 * export const exhaustedForAnyReason = (key: string) =>
 *   Effect.map(Metric.snapshot, (pairs) =>
 *     pairs.reduce(
 *       (total, { metricKey, metricState }) =>
 *         metricKey.name === "resilience.retries.exhausted" &&
 *           metricKey.tags.some((tag) => tag.key === "resilience.key" && tag.value === key) &&
 *           MetricState.isCounterState(metricState)
 *           ? total + Number(metricState.count)
 *           : total,
 *       0
 *     ))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesExhausted: Metric.Metric.Counter<number> = Metric.counter("resilience.retries.exhausted", {
  description: "Logical calls that stopped retrying on a transient failure, by reason",
  incremental: true
})
