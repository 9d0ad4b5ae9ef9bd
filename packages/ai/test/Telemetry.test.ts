/**
 * What an OpenTelemetry user sees with no glue code: `@effect/opentelemetry`'s tracer and metrics layers over
 * in-memory exporters, and the resilient model over the real OpenAI and Anthropic clients and the fake server.
 */
import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import type { DataPoint, Histogram, MetricData } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { anthropic, awaitRequests, config, openAi, resilient, telemetry } from "./fixtures.js"

const byName = (metrics: ReadonlyArray<MetricData>, name: string): MetricData => {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name)
  assert.isDefined(metric, `no metric ${name} among ${metrics.map((m) => m.descriptor.name).join(", ")}`)
  return metric!
}

/** The data points of a metric whose attributes include `attributes`. */
const points = (metric: MetricData, attributes: Record<string, string>): ReadonlyArray<DataPoint<unknown>> =>
  (metric.dataPoints as ReadonlyArray<DataPoint<unknown>>).filter((point) =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value)
  )

const value = (metric: MetricData, attributes: Record<string, string>): unknown => {
  const found = points(metric, attributes)
  assert.strictEqual(found.length, 1, `${metric.descriptor.name} ${JSON.stringify(attributes)}`)
  return found[0].value
}

const attempts = (spans: ReadonlyArray<ReadableSpan>) =>
  spans.filter((span) => span.name === "resilience.attempt")
    .sort((a, b) => Number(a.attributes["resilience.attempt"]) - Number(b.attributes["resilience.attempt"]))

describe("Telemetry through @effect/opentelemetry", () => {
  it.scoped("a 429 then a success: two attempt spans with verdict, reason and delay; the model span names the provider", () =>
    Effect.gen(function*() {
      const { layer, recorded } = telemetry()
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.openAiError.rateLimited({ retryAfter: "1500 millis" })] }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(model)))
        yield* awaitRequests(server, 1)
        yield* VirtualTime.adjustWhenSleeping(1500)
        const response = yield* Fiber.join(fiber)
        assert.strictEqual(response.text, "Hello from fake")

        // Spans: the pipeline saw an exporting tracer (`tracing: "auto"`) and made one span per attempt.
        const spans = recorded.spans()
        const [first, second] = attempts(spans)
        assert.strictEqual(attempts(spans).length, 2)
        assert.deepStrictEqual(
          {
            key: first.attributes["resilience.key"],
            attempt: first.attributes["resilience.attempt"],
            verdict: first.attributes["resilience.verdict"],
            reason: first.attributes["resilience.reason"],
            delay: first.attributes["resilience.retry.delay_ms"],
            basis: first.attributes["resilience.retry.basis"]
          },
          {
            key: "openai/gpt-4o",
            attempt: 1,
            verdict: "Transient",
            reason: "RateLimited",
            delay: 1500,
            basis: "RetryAfter"
          }
        )
        assert.deepStrictEqual(
          [second.attributes["resilience.key"], second.attributes["resilience.attempt"]],
          ["openai/gpt-4o", 2]
        )
        // Each attempt span names the provider and the model it called.
        for (const attempt of [first, second]) {
          assert.deepStrictEqual(
            [attempt.attributes["gen_ai.system"], attempt.attributes["gen_ai.request.model"]],
            ["openai", "gpt-4o"]
          )
        }
        assert.isUndefined(second.attributes["resilience.verdict"])
        // The attempt spans are children of the (outer) LanguageModel span, which names provider and model.
        const outer = spans.find((span) =>
          span.name === "LanguageModel.generateText" && span.attributes["resilience.key"] === "openai/gpt-4o"
        )
        assert.isDefined(outer)
        assert.strictEqual(outer!.attributes["gen_ai.system"], "openai")
        assert.strictEqual(outer!.attributes["gen_ai.request.model"], "gpt-4o")
        assert.strictEqual(first.parentSpanContext?.spanId, outer!.spanContext().spanId)
        assert.strictEqual(second.parentSpanContext?.spanId, outer!.spanContext().spanId)

        // Metrics, with the documented names and labels.
        const metrics = yield* recorded.metrics
        const counted = byName(metrics, "resilience.attempts")
        assert.strictEqual(value(counted, { "resilience.key": "openai/gpt-4o", "resilience.outcome": "transient" }), 1)
        assert.strictEqual(value(counted, { "resilience.key": "openai/gpt-4o", "resilience.outcome": "success" }), 1)
        assert.strictEqual(
          points(counted, { "resilience.key": "openai/gpt-4o", "resilience.outcome": "permanent" }).length,
          0
        )
        const delays = value(byName(metrics, "resilience.retry.delay"), {
          "resilience.key": "openai/gpt-4o",
          "resilience.basis": "RetryAfter"
        }) as Histogram
        assert.deepStrictEqual([delays.count, delays.sum], [1, 1500])
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("an Anthropic 529 opens the breaker: the state gauge reads 2 (open), a refused call is counted", () =>
    Effect.gen(function*() {
      const { layer, recorded } = telemetry()
      const server = yield* FakeLlmServer.make({ messages: { replies: [FakeLlmServer.anthropicError.overloaded()] } })
      const key = "anthropic/claude-sonnet-4-5"
      const model = resilient(anthropic(server), {
        key,
        resilience: config({ circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } } }, "1 seconds", 1)
      })
      yield* Effect.gen(function*() {
        const [first, second] = yield* Effect.all([
          Effect.flip(LanguageModel.generateText({ prompt: "hi" })),
          Effect.flip(LanguageModel.generateText({ prompt: "hi" }))
        ]).pipe(Effect.provide(model))
        assert.strictEqual(first._tag, "HttpResponseError")
        assert.strictEqual(second._tag, "UnknownError")
        assert.strictEqual((yield* server.requests).length, 1)

        const metrics = yield* recorded.metrics
        assert.strictEqual(value(byName(metrics, "resilience.breaker.state"), { "resilience.key": key }), 2)
        assert.strictEqual(value(byName(metrics, "resilience.breaker.rejected"), { "resilience.key": key }), 1)
        const counted = byName(metrics, "resilience.attempts")
        assert.strictEqual(value(counted, { "resilience.key": key, "resilience.outcome": "transient" }), 2)

        const spans = attempts(recorded.spans())
        assert.deepStrictEqual(
          spans.map((span) => [span.attributes["resilience.verdict"], span.attributes["resilience.reason"]]),
          [["Transient", "Overloaded"], ["Transient", "Unavailable"]]
        )
        const outer = recorded.spans().filter((span) => span.attributes["resilience.key"] === key)
        assert.isTrue(outer.some((span) => span.attributes["gen_ai.system"] === "anthropic"))
        assert.isTrue(outer.some((span) => span.attributes["gen_ai.request.model"] === "claude-sonnet-4-5"))
      }).pipe(Effect.provide(layer))
    }))
})
