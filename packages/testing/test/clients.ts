/**
 * Shared scaffolding of the tests that run the real provider clients against a `FakeLlmServer` on loopback:
 * the OpenAI and Anthropic language models pointed at the server, a weather tool, and small readers of what a
 * call gave back.
 */
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { FakeLlmServer } from "../src/index.js"

/** The real OpenAI language model (Responses API), pointed at the fake server, with the API key `apiKey`. */
export const openAi = (
  server: FakeLlmServer.Service,
  model = "gpt-4o",
  apiKey = "sk-test-secret"
): Layer.Layer<LanguageModel.LanguageModel> =>
  OpenAiLanguageModel.layer({ model }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make(apiKey), apiUrl: server.openAiUrl })),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** The real Anthropic language model (Messages API), pointed at the fake server, with the API key `apiKey`. */
export const anthropic = (
  server: FakeLlmServer.Service,
  model = "claude-sonnet-4-5",
  apiKey = "sk-ant-secret"
): Layer.Layer<LanguageModel.LanguageModel> =>
  AnthropicLanguageModel.layer({ model }).pipe(
    Layer.provide(AnthropicClient.layer({ apiKey: Redacted.make(apiKey), apiUrl: server.anthropicUrl })),
    Layer.provide(NodeHttpClient.layerUndici)
  )

/** A tool that tells the weather in a city. */
export const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: { city: Schema.String },
  success: Schema.String
})

/** The toolkit of `GetWeather`. */
export const Weather = Toolkit.make(GetWeather)

/** `Weather`'s handlers: it is always sunny. */
export const WeatherHandlers = Weather.toLayer({ GetWeather: ({ city }) => Effect.succeed(`Sunny in ${city}`) })

/** Asks `model` about the weather with the `Weather` toolkit (its handlers run), and gives the response. */
export const generateWeather = (model: Layer.Layer<LanguageModel.LanguageModel>, prompt = "Weather?") =>
  LanguageModel.generateText({ prompt, toolkit: Weather }).pipe(
    Effect.provide(model),
    Effect.provide(WeatherHandlers)
  )

/** Streams a question about the weather through `model` with the `Weather` toolkit, and gives the tool calls. */
export const streamWeatherCalls = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.streamText({ prompt: "Weather?", toolkit: Weather }).pipe(
    Stream.runCollect,
    Effect.provide(model),
    Effect.provide(WeatherHandlers),
    Effect.map((parts) => toolCalls(Chunk.toReadonlyArray(parts)))
  )

/** Forks `generateText` through `model`, which gives the response with the `Clock` instant it arrived at. */
export const forkGenerateTimed = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.generateText({ prompt: "hi" }).pipe(
    Effect.provide(model),
    Effect.zip(Clock.currentTimeMillis),
    Effect.fork
  )

/** Runs `generateText` through `model` and gives the `HttpResponseError` it fails with. */
export const responseError = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.generateText({ prompt: "hi" }).pipe(
    Effect.provide(model),
    Effect.flip,
    Effect.map((error) => {
      assert.strictEqual(error._tag, "HttpResponseError")
      return error as AiError.HttpResponseError
    })
  )

/** Streams `prompt` through `model` to its end, and gives every part. */
export const streamParts = (
  model: Layer.Layer<LanguageModel.LanguageModel>,
  prompt = "hi"
): Effect.Effect<ReadonlyArray<Response.AnyPart>, AiError.AiError> =>
  LanguageModel.streamText({ prompt }).pipe(
    Stream.runCollect,
    Effect.provide(model),
    Effect.map(Chunk.toReadonlyArray)
  )

/** Streams through `model` until the stream fails, and gives the text deltas delivered before it failed and the failure. */
export const streamFailure = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  Effect.gen(function*() {
    const deltas: Array<string> = []
    const error = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
      Stream.runForEach((part) => Effect.sync(() => part.type === "text-delta" && deltas.push(part.delta))),
      Effect.provide(model),
      Effect.flip
    )
    return { deltas, error }
  })

/** The text deltas among `parts`, in order. */
export const textDeltas = (parts: ReadonlyArray<Response.AnyPart>): Array<string> =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])

/** The tool calls among `parts`, each as `[id, name, params]`. */
export const toolCalls = (parts: ReadonlyArray<Response.AnyPart>): Array<readonly [string, string, unknown]> =>
  parts.flatMap((part) => part.type === "tool-call" ? [[part.id, part.name, part.params] as const] : [])

/** The `finish` part among `parts` as `[reason, inputTokens, outputTokens]`, or `false` when there is none. */
export const finishOf = (
  parts: ReadonlyArray<Response.AnyPart>
): false | readonly [string, number | undefined, number | undefined] => {
  const finish = parts.find((part) => part.type === "finish")
  return finish?.type === "finish" && [finish.reason, finish.usage.inputTokens, finish.usage.outputTokens]
}
