/**
 * Shared fixtures of the tests against the real provider clients: the OpenAI and Anthropic language models
 * pointed at a `FakeLlmServer` on loopback, decorated with `ResilientLanguageModel`, and bounded polls that let
 * real I/O progress while the `TestClock` stands still.
 */
import type { FakeLlmServer } from "@effect-resilience/testing"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { type MetricData, MetricReader } from "@opentelemetry/sdk-metrics"
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor
} from "@opentelemetry/sdk-trace-base"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"

/** The API key configured on both clients; no event, log, span or error may contain it. */
export const canary = "sk-canary-5f3a9c"

/** The real OpenAI language model (Responses API) pointed at the fake server, with the canary key. */
export const openAi = (
  server: FakeLlmServer.Service,
  model = "gpt-4o"
): Layer.Layer<LanguageModel.LanguageModel> =>
  OpenAiLanguageModel.layer({ model }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make(canary), apiUrl: server.openAiUrl })),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** The real Anthropic language model (Messages API) pointed at the fake server, with the canary key. */
export const anthropic = (
  server: FakeLlmServer.Service,
  model = "claude-sonnet-4-5"
): Layer.Layer<LanguageModel.LanguageModel> =>
  AnthropicLanguageModel.layer({ model }).pipe(
    Layer.provide(AnthropicClient.layer({ apiKey: Redacted.make(canary), apiUrl: server.anthropicUrl })),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** A constant backoff of `backoff`, `maxAttempts` calls, and nothing else unless `extra` turns it on. */
export const config = (
  extra: Partial<ResilientLanguageModel.Options["resilience"] & object> = {},
  backoff = "1 seconds",
  maxAttempts = 3
): NonNullable<ResilientLanguageModel.Options["resilience"]> => ({
  retry: { maxAttempts, backoff: { base: backoff, max: backoff, jitter: "none" } },
  budget: false,
  circuitBreaker: false,
  bulkhead: false,
  attemptTimeout: false,
  ...extra
})

/** `inner` decorated with `ResilientLanguageModel.layer(options)`. */
export const resilient = (
  inner: Layer.Layer<LanguageModel.LanguageModel>,
  options: ResilientLanguageModel.Options
): Layer.Layer<LanguageModel.LanguageModel, never> =>
  ResilientLanguageModel.layer(options).pipe(Layer.provide(inner), Layer.orDie)

/**
 * Lets real time pass for a moment, so that real I/O (sockets) makes progress while the `TestClock` stands
 * still. Used only between polls of a condition, never to wait for an outcome.
 */
export const pause: Effect.Effect<void> = TestServices.provideLive(Effect.sleep("1 millis"))

/** Polls a condition until it holds, yielding to the event loop between polls; dies after `maxPolls` polls. */
export const eventually = <E, R>(
  what: string,
  condition: Effect.Effect<boolean, E, R>,
  maxPolls = 3_000
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    for (let poll = 0; poll < maxPolls; poll++) {
      if (yield* condition) return
      yield* pause
    }
    return yield* Effect.dieMessage(`still waiting, after ${maxPolls} polls, for: ${what}`)
  })

/** Waits until some fiber sleeps on the `TestClock` until exactly `now + millis`, then moves the clock by `millis`. */
export const adjustWhenSleeping = (millis: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* eventually(
      `a sleep until ${now + millis} ms on the TestClock`,
      Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (instant) => instant === now + millis))
    )
    yield* TestClock.adjust(millis)
  })

/** Waits until the server has received `count` requests, and gives them. */
export const awaitRequests = (
  server: FakeLlmServer.Service,
  count: number
): Effect.Effect<ReadonlyArray<FakeLlmServer.RecordedRequest>> =>
  Effect.gen(function*() {
    yield* eventually(`${count} requests at the server`, Effect.map(server.requests, (list) => list.length >= count))
    return yield* server.requests
  })

/** What the in-memory OpenTelemetry SDK recorded: finished spans, and a way to read the metrics now. */
export interface Telemetry {
  readonly spans: () => ReadonlyArray<ReadableSpan>
  readonly metrics: Effect.Effect<ReadonlyArray<MetricData>>
}

/** A metric reader read on demand (`collect`), never on a timer. */
class ManualReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * The layers a user adds to export to OpenTelemetry (`@effect/opentelemetry`'s `Tracer.layer` and `Metrics.layer`
 * over an SDK tracer provider and metric reader), with in-memory exporters, and what they recorded.
 */
export const telemetry = (): {
  readonly layer: Layer.Layer<OtelTracer.OtelTracer>
  readonly recorded: Telemetry
} => {
  const exporter = new InMemorySpanExporter()
  const reader = new ManualReader()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const layer = Layer.mergeAll(
    OtelTracer.layer.pipe(Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider))),
    OtelMetrics.layer(() => reader)
  ).pipe(Layer.provide(OtelResource.layer({ serviceName: "effect-resilience-test" })))
  return {
    layer,
    recorded: {
      spans: () => exporter.getFinishedSpans(),
      metrics: Effect.promise(() => reader.collect()).pipe(
        Effect.map(({ resourceMetrics }) => resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics))
      )
    }
  }
}
