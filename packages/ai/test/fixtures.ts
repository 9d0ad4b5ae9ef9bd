/**
 * Shared fixtures of the tests against the real provider clients: the OpenAI and Anthropic language models
 * pointed at a `FakeLlmServer` on loopback, decorated with `ResilientLanguageModel`, a weather tool whose
 * handler counts its runs, and a bounded poll for the server's requests (`VirtualTime.eventually`, which lets
 * real I/O progress while the `TestClock` stands still).
 */
import { type FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
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
  backoff: Duration.DurationInput = "1 seconds",
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

/** A tool that tells the weather in a city. */
export const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: { city: Schema.String },
  success: Schema.String
})

/** The toolkit of `GetWeather`. */
export const Weather = Toolkit.make(GetWeather)

/**
 * `Weather`'s handlers, which count how many times the tool ran: `answer` gives the result of the n-th run
 * (counted from 1) for a city.
 */
export const countingWeather = (answer: (city: string, run: number) => string): {
  readonly handlers: Layer.Layer<Tool.Handler<"GetWeather">>
  readonly executions: () => number
} => {
  let executions = 0
  return {
    handlers: Weather.toLayer({ GetWeather: ({ city }) => Effect.sync(() => answer(city, ++executions)) }),
    executions: () => executions
  }
}

/** Waits until the server has received `count` requests, and gives them. */
export const awaitRequests = (
  server: FakeLlmServer.Service,
  count: number
): Effect.Effect<ReadonlyArray<FakeLlmServer.RecordedRequest>> =>
  Effect.gen(function*() {
    yield* VirtualTime.eventually(
      `${count} requests at the server`,
      Effect.map(server.requests, (list) => list.length >= count)
    )
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
