/**
 * Metrics: the counters and histograms every policy feeds.
 *
 * They are ordinary `effect` `Metric`s, so any metrics backend wired to
 * effect (e.g. `@effect/opentelemetry`) exports them with no extra code. Every
 * metric is tagged with `resilience.key`, the protected key (e.g.
 * `"openai/gpt-4o"`).
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
 * const successes = Metric.value(
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
 * import { Metric } from "effect"
 *
 * const delays = Metric.value(ResilienceMetrics.retryDelay.pipe(Metric.tagged("resilience.key", "openai")))
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
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const exhausted = Metric.value(ResilienceMetrics.retriesExhausted.pipe(Metric.tagged("resilience.key", "openai")))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesExhausted: Metric.Metric.Counter<number> = Metric.counter("resilience.retries.exhausted", {
  description: "Logical calls that stopped retrying on a transient failure, by reason",
  incremental: true
})
