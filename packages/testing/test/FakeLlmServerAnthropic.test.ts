/**
 * FakeLlmServer against the real `@effect/ai-anthropic` client (Messages API),
 * over loopback HTTP with the undici client.
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FakeLlmServer } from "../src/index.js"
import {
  anthropic,
  finishOf,
  generateWeather,
  responseError,
  streamFailure,
  streamParts,
  streamWeatherCalls,
  textDeltas
} from "./clients.js"

/** Runs `generateText` and gives the `HttpResponseError` it fails with. */
const failure = (server: FakeLlmServer.Service) => responseError(anthropic(server))

describe("FakeLlmServer (Anthropic Messages)", () => {
  it.scoped("answers generateText and records the request with x-api-key redacted", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { default: FakeLlmServer.text("Bonjour", { usage: { inputTokens: 30, outputTokens: 2 } }) }
      })
      const response = yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(
        Effect.provide(anthropic(server))
      )
      expect(response.text).toBe("Bonjour")
      expect(response.finishReason).toBe("stop")
      expect([response.usage.inputTokens, response.usage.outputTokens]).toEqual([30, 2])
      const [request] = yield* server.requests
      expect(request.path).toBe("/v1/messages?beta=true")
      expect(request.provider).toBe("anthropic")
      expect(request.model).toBe("claude-sonnet-4-5")
      expect(request.headers["x-api-key"]).toBe("<redacted>")
      expect(request.headers["anthropic-version"]).toBe("2023-06-01")
      expect(JSON.stringify(request)).not.toContain("sk-ant-secret")
    }))

  it.scoped("streams the scripted deltas in order", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { replies: [FakeLlmServer.stream(["Bon", "jour"], { usage: { inputTokens: 9, outputTokens: 5 } })] }
      })
      const parts = yield* streamParts(anthropic(server))
      expect(textDeltas(parts)).toEqual(["Bon", "jour"])
      expect(finishOf(parts)).toEqual(["stop", 9, 5])
      const [request] = yield* server.requests
      expect([request.path, request.stream]).toEqual(["/v1/messages", true])
    }))

  it.scoped("a tool_use block decodes and runs the tool, streamed or not", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [
            FakeLlmServer.toolCall("GetWeather", { city: "Rome" }, { id: "toolu_1" }),
            FakeLlmServer.toolCall("GetWeather", { city: "Oslo" }, { id: "toolu_2" })
          ]
        }
      })
      const response = yield* generateWeather(anthropic(server))
      expect(response.toolCalls.map((call) => [call.id, call.name, call.params])).toEqual([
        ["toolu_1", "GetWeather", { city: "Rome" }]
      ])
      expect(response.toolResults.map((result) => result.result)).toEqual(["Sunny in Rome"])
      expect(yield* streamWeatherCalls(anthropic(server))).toEqual([["toolu_2", "GetWeather", { city: "Oslo" }]])
    }))

  it.scoped("each scripted error arrives as an HttpResponseError with status, headers and body", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [
            FakeLlmServer.anthropicError.overloaded(),
            FakeLlmServer.anthropicError.rateLimited({ retryAfter: "30 seconds" }),
            FakeLlmServer.anthropicError.promptTooLong(),
            FakeLlmServer.anthropicError.apiError()
          ]
        }
      })
      const overloaded = yield* failure(server)
      expect(overloaded.reason).toBe("StatusCode")
      expect(overloaded.response.status).toBe(529)
      expect(JSON.parse(overloaded.body!)).toEqual({
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" }
      })
      expect(overloaded.response.headers["request-id"]).toBe("req_fake_1")

      const limited = yield* failure(server)
      expect(limited.response.status).toBe(429)
      expect(limited.response.headers["retry-after"]).toBe("30")
      // At TestClock 0 + 30 s.
      expect(limited.response.headers["anthropic-ratelimit-requests-reset"]).toBe("1970-01-01T00:00:30Z")
      expect(JSON.parse(limited.body!).error.type).toBe("rate_limit_error")

      const tooLong = yield* failure(server)
      expect(tooLong.response.status).toBe(400)
      expect(JSON.parse(tooLong.body!).error).toEqual({
        type: "invalid_request_error",
        message: "prompt is too long: 210000 tokens > 200000 maximum"
      })

      // Non-streaming Anthropic: a 4xx body is decoded as `BetaErrorResponse` first and rebuilt without a
      // `description`; a 5xx (529 included) keeps the body JSON in `description` too. `body` is always there.
      expect([overloaded.description !== undefined, limited.description, tooLong.description]).toEqual([
        true,
        undefined,
        undefined
      ])
      // Hazard: the client's error keeps the request headers, the x-api-key included, in clear.
      expect(JSON.stringify(overloaded)).toContain("sk-ant-secret")
      const apiError = yield* failure(server)
      expect(apiError.response.status).toBe(500)
      expect(JSON.parse(apiError.body!).error.type).toBe("api_error")
    }))

  it.scoped("a mid-stream error event reaches the stream as an error part", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [FakeLlmServer.stream(["a", "b", "c"], { interruption: FakeLlmServer.errorEventAfter(1) })]
        }
      })
      const parts = yield* streamParts(anthropic(server))
      expect(textDeltas(parts)).toEqual(["a"])
      const error = parts.find((part) => part.type === "error")
      expect(error?.type === "error" && error.error).toEqual({ type: "overloaded_error", message: "Overloaded" })
      expect(parts.some((part) => part.type === "finish")).toBe(false)
    }))

  it.scoped("a dropped connection mid-stream fails the stream", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { replies: [FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.dropAfter(1) })] }
      })
      const { deltas, error } = yield* streamFailure(anthropic(server))
      expect(deltas).toEqual(["a"])
      assert.strictEqual(error._tag, "HttpResponseError")
      const responseError = error as AiError.HttpResponseError
      expect([responseError.reason, responseError.response.status]).toEqual(["Decode", 200])
    }))

  it.scoped("seeded faults: overloaded is a 529 overloaded_error", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ faults: { errors: { overloaded: 1 }, seed: 7 } })
      const error = yield* failure(server)
      expect(error.response.status).toBe(529)
      expect(JSON.parse(error.body!).error.type).toBe("overloaded_error")
    }))
})
