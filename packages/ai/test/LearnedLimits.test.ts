/**
 * The `@effect/ai` layers feed the provider's rate-limit headers to the pipeline's learned admission, successes
 * included, with no middleware written by the user: the real OpenAI and Anthropic clients against a
 * `FakeLlmServer` on loopback.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"
import { anthropic, awaitRequests, canary, config, openAi, resilient } from "./fixtures.js"

const instants = (requests: ReadonlyArray<FakeLlmServer.RecordedRequest>) => requests.map((request) => request.at)

/** Three calls: one, then two at once; a limit of 60 a minute with none left paces them one second apart. */
const threeCalls = (
  server: FakeLlmServer.Service,
  model: Layer.Layer<LanguageModel.LanguageModel>,
  generate: Effect.Effect<unknown, unknown, LanguageModel.LanguageModel> = LanguageModel.generateText({ prompt: "hi" })
) =>
  Effect.gen(function*() {
    const events: Array<ResilienceEvent.ResilienceEvent> = []
    const program = Effect.gen(function*() {
      yield* generate
      const fiber = yield* Effect.fork(Effect.all([generate, generate], { concurrency: 2 }))
      yield* VirtualTime.adjustWhenSleeping(1_000)
      yield* awaitRequests(server, 2)
      yield* VirtualTime.adjustWhenSleeping(1_000)
      yield* Fiber.join(fiber)
    }).pipe(
      Effect.provide(model),
      Effect.provideService(ResilienceEvent.ResilienceEvents, {
        enabled: true,
        publish: (event) => Effect.sync(() => events.push(event)),
        subscribe: Effect.dieMessage("not subscribed")
      })
    )
    yield* program
    return {
      instants: instants(yield* server.requests),
      learned: events.flatMap((e) => e._tag === "LimitLearned" ? [`${e.resource} ${e.perMinute} ${e.source}`] : [])
    }
  })

describe("ResilientLanguageModel learns the provider's limits from its headers", () => {
  it.scoped("OpenAI: x-ratelimit-limit-requests on a successful response paces the next calls", () =>
    Effect.gen(function*() {
      const headers = { "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0" }
      const server = yield* FakeLlmServer.make({
        responses: { replies: [], default: FakeLlmServer.text("Hello", { headers }) }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const result = yield* threeCalls(server, model)
      assert.deepStrictEqual(result.instants, [0, 1_000, 2_000])
      assert.deepStrictEqual(result.learned, ["requests 60 headers"])
    }))

  it.scoped("Anthropic: anthropic-ratelimit-requests-limit on a successful response paces the next calls", () =>
    Effect.gen(function*() {
      const headers = { "anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0" }
      const server = yield* FakeLlmServer.make({
        messages: { replies: [], default: FakeLlmServer.text("Bonjour", { headers }) }
      })
      const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
      const result = yield* threeCalls(server, model)
      assert.deepStrictEqual(result.instants, [0, 1_000, 2_000])
      assert.deepStrictEqual(result.learned, ["requests 60 headers"])
    }))
})

describe("ResilientLanguageModel.layerHttpClient", () => {
  it.scoped("under the provider client, feeds a streaming response's headers too", () =>
    Effect.gen(function*() {
      const headers = { "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0" }
      const server = yield* FakeLlmServer.make({
        responses: { replies: [], default: FakeLlmServer.stream(["Hel", "lo"], { headers }) }
      })
      const model = ResilientLanguageModel.layer({ key: "openai/gpt-4o", resilience: config() }).pipe(
        Layer.provide(OpenAiLanguageModel.layer({ model: "gpt-4o" })),
        Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make(canary), apiUrl: server.openAiUrl })),
        Layer.provide(ResilientLanguageModel.layerHttpClient),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.orDie
      )
      const result = yield* threeCalls(server, model, Stream.runDrain(LanguageModel.streamText({ prompt: "hi" })))
      assert.deepStrictEqual(result.instants, [0, 1_000, 2_000])
      assert.deepStrictEqual(result.learned, ["requests 60 headers"])
    }))
})
