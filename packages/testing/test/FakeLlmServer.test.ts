/**
 * FakeLlmServer against the real `@effect/ai-openai` client (Responses API),
 * over loopback HTTP with the undici client.
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { FakeLlmServer } from "../src/index.js"
import {
  finishOf,
  generateWeather,
  openAi,
  responseError,
  streamFailure,
  streamParts,
  streamWeatherCalls,
  textDeltas,
  Weather,
  WeatherHandlers
} from "./clients.js"

/** Runs `generateText` and gives the `HttpResponseError` it fails with. */
const failure = (server: FakeLlmServer.Service, model = "gpt-4o") => responseError(openAi(server, model))

describe("FakeLlmServer (OpenAI Responses)", () => {
  it.scoped("answers generateText with the default text and usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make()
      const response = yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(Effect.provide(openAi(server)))
      expect(response.text).toBe("Hello from fake")
      expect(response.finishReason).toBe("stop")
      expect(response.usage.inputTokens).toBe(12)
      expect(response.usage.outputTokens).toBe(4)
    }))

  it.scoped("records every request with the API key redacted", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make()
      yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(Effect.provide(openAi(server, "gpt-4o-mini")))
      const [request] = yield* server.requests
      expect(request.n).toBe(1)
      expect(request.at).toBe(0) // the TestClock of this test
      expect(request.method).toBe("POST")
      expect(request.path).toBe("/v1/responses")
      expect(request.endpoint).toBe("responses")
      expect(request.provider).toBe("openai")
      expect(request.model).toBe("gpt-4o-mini")
      expect(request.stream).toBe(false)
      expect(request.headers["authorization"]).toBe("<redacted>")
      expect(request.headers["accept"]).toBe("application/json")
      expect(JSON.stringify(request)).not.toContain("sk-test-secret")
      expect((request.body as { input: ReadonlyArray<unknown> }).input).toEqual([
        { role: "user", content: [{ type: "input_text", text: "Say hello" }] }
      ])
      expect(request.source).toBe("default")
      expect(request.reply?._tag).toBe("Text")
    }))

  it.scoped("streams the scripted deltas in order, then finishes with the usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [FakeLlmServer.stream(["Hel", "lo", " world"], { usage: { inputTokens: 7, outputTokens: 3 } })]
        }
      })
      const all = yield* streamParts(openAi(server))
      expect(textDeltas(all)).toEqual(["Hel", "lo", " world"])
      expect(finishOf(all)).toEqual(["stop", 7, 3])
      const [request] = yield* server.requests
      expect(request.stream).toBe(true)
    }))

  it.scoped("a tool call round-trip decodes and runs the tool", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [FakeLlmServer.toolCall("GetWeather", { city: "Paris" }, { id: "call_1" })],
          default: FakeLlmServer.text("It is sunny in Paris")
        }
      })
      const first = yield* generateWeather(openAi(server), "Weather in Paris?")
      expect(first.toolCalls.map((call) => [call.id, call.name, call.params])).toEqual([
        ["call_1", "GetWeather", { city: "Paris" }]
      ])
      expect(first.toolResults.map((result) => result.result)).toEqual(["Sunny in Paris"])
      expect(first.finishReason).toBe("tool-calls")
      // The agent's next turn sends the tool's result back.
      const second = yield* LanguageModel.generateText({
        prompt: [
          { role: "user", content: "Weather in Paris?" },
          { role: "assistant", content: first.content.filter((part) => part.type === "tool-call") },
          { role: "tool", content: first.content.filter((part) => part.type === "tool-result") }
        ],
        toolkit: Weather
      }).pipe(Effect.provide(openAi(server)), Effect.provide(WeatherHandlers))
      expect(second.text).toBe("It is sunny in Paris")
      const requests = yield* server.requests
      const input = (requests[1].body as { input: ReadonlyArray<{ type?: string }> }).input
      expect(input.filter((item) => item.type === "function_call_output")).toEqual([
        { type: "function_call_output", call_id: "call_1", output: "\"Sunny in Paris\"" }
      ])
    }))

  it.scoped("a streamed tool call decodes", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.toolCall("GetWeather", { city: "Oslo" }, { id: "call_7" })] }
      })
      expect(yield* streamWeatherCalls(openAi(server))).toEqual([["call_7", "GetWeather", { city: "Oslo" }]])
    }))

  it.scoped("each scripted error arrives as an HttpResponseError with status, headers and body", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.openAiError.insufficientQuota(),
            FakeLlmServer.openAiError.rateLimited({ retryAfter: "1500 millis" }),
            FakeLlmServer.openAiError.contextLengthExceeded(),
            FakeLlmServer.openAiError.serverError(),
            FakeLlmServer.openAiError.unavailable({ retryAfter: "3 seconds" })
          ]
        }
      })
      const quota = yield* failure(server)
      expect(quota.reason).toBe("StatusCode")
      expect(quota.response.status).toBe(429)
      expect(JSON.parse(quota.description!)).toEqual({
        error: {
          message: expect.stringContaining("You exceeded your current quota"),
          type: "insufficient_quota",
          param: null,
          code: "insufficient_quota"
        }
      })
      expect(quota.response.headers["x-should-retry"]).toBe("false")
      expect(quota.response.headers["x-request-id"]).toBe("req_fake_1")
      // The provider's body is on the error twice: `description` (compact JSON) and `body` (pretty JSON).
      expect(JSON.parse(quota.body!).error.code).toBe("insufficient_quota")
      // Hazard: the client's error keeps the request headers, API key included, in clear.
      expect(quota.message).not.toContain("sk-test-secret")
      expect(JSON.stringify(quota)).toContain("sk-test-secret")

      const limited = yield* failure(server)
      expect(limited.response.status).toBe(429)
      expect(limited.response.headers["retry-after"]).toBe("2")
      expect(limited.response.headers["retry-after-ms"]).toBe("1500")
      expect(limited.response.headers["x-ratelimit-remaining-requests"]).toBe("0")
      expect(limited.response.headers["x-ratelimit-reset-requests"]).toBe("1.5s")
      expect(JSON.parse(limited.description!).error.code).toBe("rate_limit_exceeded")
      expect(JSON.parse(limited.description!).error.type).toBe("requests")

      const tooLong = yield* failure(server)
      expect(tooLong.response.status).toBe(400)
      expect(JSON.parse(tooLong.description!).error).toMatchObject({
        type: "invalid_request_error",
        code: "context_length_exceeded"
      })

      const serverError = yield* failure(server)
      expect(serverError.response.status).toBe(500)
      const unavailable = yield* failure(server)
      expect(unavailable.response.status).toBe(503)
      expect(unavailable.response.headers["retry-after"]).toBe("3")
      expect(unavailable.message).toContain("503 POST")
    }))

  it.scoped("an HTTP error on a streaming call fails the stream before any part", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.openAiError.rateLimited({ retryAfter: "2 seconds" })] }
      })
      const parts: Array<string> = []
      const error = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
        Stream.runForEach((part) => Effect.sync(() => parts.push(part.type))),
        Effect.provide(openAi(server)),
        Effect.flip
      )
      expect(parts).toEqual([])
      assert.strictEqual(error._tag, "HttpResponseError")
      const responseError = error as AiError.HttpResponseError
      expect([responseError.reason, responseError.response.status, responseError.method]).toEqual([
        "StatusCode",
        429,
        "streamRequest"
      ])
      expect(responseError.response.headers["retry-after-ms"]).toBe("2000")
      expect(JSON.parse(responseError.body!).error.code).toBe("rate_limit_exceeded")
    }))

  it.scoped("decide answers by model name", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          decide: (request) =>
            request.model === "gpt-small" ? FakeLlmServer.openAiError.contextLengthExceeded() : undefined,
          default: FakeLlmServer.text("large enough")
        }
      })
      const small = yield* failure(server, "gpt-small")
      expect(small.response.status).toBe(400)
      const large = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(openAi(server, "gpt-large"))
      )
      expect(large.text).toBe("large enough")
      expect((yield* server.requests).map((request) => request.source)).toEqual(["decide", "default"])
    }))

  it.scoped("a mid-stream error event reaches the stream as an error part, not a failure", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.stream(["one", "two", "three"], {
              interruption: FakeLlmServer.errorEventAfter(2, { code: "rate_limit_exceeded", message: "Slow down" })
            })
          ]
        }
      })
      const parts = yield* streamParts(openAi(server))
      expect(textDeltas(parts)).toEqual(["one", "two"])
      const error = parts.find((part) => part.type === "error")
      expect(error?.type === "error" && error.error).toMatchObject({
        type: "error",
        code: "rate_limit_exceeded",
        message: "Slow down",
        param: null,
        sequence_number: 6
      })
      // `response.failed` is decoded as a `finish` part (reason "other" — the client maps no failure reason).
      expect(parts.at(-1)?.type).toBe("finish")
    }))

  it.scoped("a dropped connection mid-stream fails the stream after the delivered deltas", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [FakeLlmServer.stream(["one", "two", "three"], { interruption: FakeLlmServer.dropAfter(1) })]
        }
      })
      const { deltas, error } = yield* streamFailure(openAi(server))
      expect(deltas).toEqual(["one"])
      // The client surfaces a broken body as a `Decode` response error with the (already sent) 200 status.
      assert.strictEqual(error._tag, "HttpResponseError")
      const responseError = error as AiError.HttpResponseError
      expect([responseError.reason, responseError.response.status]).toEqual(["Decode", 200])
    }))

  it.scoped("a dropped connection before the answer is an HttpRequestError (Transport)", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ responses: { replies: [FakeLlmServer.drop()] } })
      const error = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(openAi(server)),
        Effect.flip
      )
      expect(error._tag).toBe("HttpRequestError")
      expect((error as AiError.HttpRequestError).reason).toBe("Transport")
    }))

  it.scoped("seeded faults answer with the provider's error for their kind", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ faults: { errors: { unavailable: 1 }, seed: 1 } })
      const error = yield* failure(server)
      expect(error.response.status).toBe(503)
      expect((yield* server.requests)[0].source).toBe("fault")
    }))
})
