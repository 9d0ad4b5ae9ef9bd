/**
 * Metrics: the counters and histograms every policy feeds.
 *
 * They are ordinary `effect` `Metric`s, so any metrics backend wired to
 * effect (e.g. `@effect/opentelemetry`) exports them with no extra code. Every
 * metric is tagged with `resilience.key`, the protected key (e.g.
 * `"openai/gpt-4o"`).
 *
 * **Details**
 *
 * - The first 1,000 distinct keys of the process (`maxKeys`) get series of
 *   their own; every later key is counted under `resilience.key: "other"`
 *   (`otherKey`): counters and histograms add those keys up, the bulkhead
 *   gauges hold their sum, and the gauges of one key's state
 *   (`resilience.breaker.state`, `resilience.budget.level`) are not kept for
 *   them. A key keeps its label for the life of the process.
 * - `setMaxKeys` changes the limit for keys not labelled yet; run it once at
 *   start-up, before the first call.
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
 * - effect 3's global metric registry keeps every series it was ever asked
 *   for (it has no removal): a label per tenant or per user would grow the
 *   heap by ~2 KB per key, forever. Hence the limit: with keys per tenant, put
 *   the tenant in spans or logs, and keep `maxKeys` near the number of
 *   providers and models you want to watch one by one.
 * - Which keys get their own series is first come, first served: a key first
 *   used after the limit is reached is only ever seen under `"other"`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as internal from "./internal/metrics.js"
import { Issues } from "./internal/validate.js"
import { InvalidPolicyError } from "./PolicyError.js"

/**
 * How many distinct keys get metric series of their own by default: 1,000.
 * Later keys are counted under `otherKey`.
 *
 * @example
 * ```ts
 * import { ResilienceMetrics } from "@effect-resilience/core"
 *
 * console.log(ResilienceMetrics.maxKeys) // 1000
 * ```
 *
 * @since 0.2.0
 * @category metrics
 */
export const maxKeys: number = internal.defaultMaxKeys

/**
 * The `resilience.key` label of every key beyond the limit: `"other"`.
 *
 * @example
 * ```ts
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Metric } from "effect"
 *
 * const others = Metric.value(
 *   ResilienceMetrics.attempts.pipe(
 *     Metric.tagged("resilience.key", ResilienceMetrics.otherKey),
 *     Metric.tagged("resilience.outcome", "success")
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category metrics
 */
export const otherKey: string = internal.otherKey

/**
 * Sets how many distinct keys get metric series of their own (a whole number
 * ≥ 0), process-wide. Keys labelled already keep their series (the registry
 * cannot drop them); a limit below their number only stops new ones. Run it
 * once at start-up, e.g. as a layer.
 *
 * @example
 * ```ts
 * import { ResilienceMetrics } from "@effect-resilience/core"
 * import { Layer } from "effect"
 *
 * // Series for up to 50 providers and models; the rest under "other".
 * const MetricsLive = Layer.effectDiscard(ResilienceMetrics.setMaxKeys(50))
 * ```
 *
 * @since 0.2.0
 * @category metrics
 */
export const setMaxKeys = (maxKeys: number): Effect.Effect<void, InvalidPolicyError> =>
  Effect.suspend(() => {
    const issues = new Issues()
    issues.wholeNumber("maxKeys", maxKeys, 0)
    if (issues.list.length > 0) return Effect.fail(new InvalidPolicyError({ policy: "metrics", issues: issues.list }))
    return Effect.sync(() => internal.setMaxKeys(maxKeys))
  })

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
