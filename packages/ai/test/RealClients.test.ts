/**
 * ResilientLanguageModel over the real `@effect/ai-openai` and `@effect/ai-anthropic` clients, pointed at a
 * `FakeLlmServer` on loopback. The server's delays and the pipeline's waits run on the test's `TestClock`; the
 * HTTP exchange is real I/O, so a test polls (a bounded poll) until a request arrived or a wait began, then
 * moves the clock by exactly the expected wait.
 */
import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as AiClassify from "../src/AiClassify.js"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"
import * as StreamGuard from "../src/StreamGuard.js"
import { anthropic, awaitRequests, config, countingWeather, openAi, resilient, Weather } from "./fixtures.js"

const summary = (verdict: ReturnType<typeof AiClassify.classify>): string => `${verdict._tag} ${verdict.reason}`

const instants = (requests: ReadonlyArray<FakeLlmServer.RecordedRequest>) => requests.map((request) => request.at)

const deltas = (parts: ReadonlyArray<Response.AnyPart>): Array<string> =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])

/** Streams through `model`, collecting the parts delivered before the stream ended, and how it ended. */
const collect = (model: Layer.Layer<LanguageModel.LanguageModel>) =>
  Effect.gen(function*() {
    const parts: Array<Response.AnyPart> = []
    const exit = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
      Stream.runForEach((part) => Effect.sync(() => parts.push(part))),
      Effect.provide(model),
      Effect.either
    )
    return { parts, exit }
  })

describe("ResilientLanguageModel over the real clients: generateText", () => {
  it.scoped("OpenAI 429 with Retry-After: retried exactly Retry-After later, then succeeds", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.openAiError.rateLimited({ retryAfter: "2500 millis" })] }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const fiber = yield* Effect.fork(LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(model)))
      yield* awaitRequests(server, 1)
      // `retry-after-ms: 2500` beats both the 1 s backoff and the whole-second `retry-after: 3`.
      yield* VirtualTime.adjustWhenSleeping(2500)
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.text, "Hello from fake")
      assert.deepStrictEqual(instants(yield* server.requests), [0, 2500])
    }))

  it.scoped("OpenAI 429 insufficient_quota: one request, permanent QuotaExhausted", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.openAiError.insufficientQuota()] }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const error = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(model), Effect.flip)
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).response.status, 429)
      assert.strictEqual(summary(AiClassify.classify(error)), "Permanent QuotaExhausted")
      assert.deepStrictEqual(instants(yield* server.requests), [0])
    }))

  it.scoped("Anthropic 529 overloaded: retried after the backoff, then succeeds", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { replies: [FakeLlmServer.anthropicError.overloaded()], default: FakeLlmServer.text("Bonjour") }
      })
      const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
      const fiber = yield* Effect.fork(LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(model)))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.text, "Bonjour")
      assert.deepStrictEqual(instants(yield* server.requests), [0, 1000])
    }))

  it.scoped("Anthropic 400 prompt is too long: one request, permanent ContextLengthExceeded", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { replies: [FakeLlmServer.anthropicError.promptTooLong()] }
      })
      const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
      const error = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(model), Effect.flip)
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).response.status, 400)
      assert.strictEqual(summary(AiClassify.classify(error)), "Permanent ContextLengthExceeded")
      assert.deepStrictEqual(instants(yield* server.requests), [0])
    }))

  it.scoped("a tool call after a 503: the provider call is retried, the handler runs exactly once", () =>
    Effect.gen(function*() {
      const { executions, handlers } = countingWeather((city) => `Sunny in ${city}`)
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.openAiError.unavailable(),
            FakeLlmServer.toolCall("GetWeather", { city: "Paris" }, { id: "call_1" })
          ]
        }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const fiber = yield* Effect.fork(
        LanguageModel.generateText({ prompt: "Weather in Paris?", toolkit: Weather }).pipe(
          Effect.provide(model),
          Effect.provide(handlers)
        )
      )
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(response.toolCalls.map((call) => [call.id, call.name, call.params]), [
        ["call_1", "GetWeather", { city: "Paris" }]
      ])
      assert.deepStrictEqual(response.toolResults.map((result) => result.result), ["Sunny in Paris"])
      assert.strictEqual(executions(), 1)
      assert.deepStrictEqual(instants(yield* server.requests), [0, 1000])
    }))
})

describe("ResilientLanguageModel over the real clients: streams that fail before content", () => {
  it.scoped("Anthropic: an overloaded error event at stream start is retried; the caller sees one clean stream", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [
            FakeLlmServer.stream(["x"], { interruption: FakeLlmServer.errorEventAfter(0) }),
            FakeLlmServer.stream(["Bon", "jour"])
          ]
        }
      })
      const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
      const fiber = yield* Effect.fork(collect(model))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.isTrue(exit._tag === "Right")
      assert.deepStrictEqual(deltas(parts), ["Bon", "jour"])
      assert.isFalse(parts.some((part) => part.type === "error"))
      // One response: the failed attempt's held-back parts never reached the caller.
      assert.strictEqual(parts.filter((part) => part.type === "response-metadata").length, 1)
      assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
      assert.deepStrictEqual(instants(yield* server.requests), [0, 1000])
    }))

  it.scoped("OpenAI: a 503 on open is retried; the caller sees one clean stream", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.openAiError.unavailable({ retryAfter: "3 seconds" }),
            FakeLlmServer.stream(["a", "b"])
          ]
        }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const fiber = yield* Effect.fork(collect(model))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(3000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.isTrue(exit._tag === "Right")
      assert.deepStrictEqual(deltas(parts), ["a", "b"])
      assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
      assert.deepStrictEqual(instants(yield* server.requests), [0, 3000])
    }))

  it.scoped("OpenAI: a connection dropped before the first delta is retried (a broken body is Network)", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.stream(["x"], { interruption: FakeLlmServer.dropAfter(0) }),
            FakeLlmServer.stream(["a", "b"])
          ]
        }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const fiber = yield* Effect.fork(collect(model))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.isTrue(exit._tag === "Right")
      assert.deepStrictEqual(deltas(parts), ["a", "b"])
      assert.deepStrictEqual(instants(yield* server.requests), [0, 1000])
    }))
})

describe("ResilientLanguageModel over the real clients: streams that fail after content", () => {
  const interruptedAfter = (error: AiError.AiError): number => {
    const interruption = ResilientLanguageModel.interruption(error)
    assert.isTrue(Option.isSome(interruption), `not an interruption: ${error._tag}`)
    return Option.getOrThrow(interruption).contentParts
  }

  it.scoped("OpenAI: an error event after 3 deltas is not retried; the error says 3 content parts", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [FakeLlmServer.stream(["a", "b", "c", "d"], { interruption: FakeLlmServer.errorEventAfter(3) })]
        }
      })
      const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
      const { exit, parts } = yield* collect(model)
      assert.deepStrictEqual(deltas(parts), ["a", "b", "c"])
      assert.isTrue(exit._tag === "Left")
      if (exit._tag === "Left") {
        assert.strictEqual(interruptedAfter(exit.left), 3)
        const cause = Option.getOrThrow(ResilientLanguageModel.interruption(exit.left)).cause
        assert.isTrue(StreamGuard.isStreamErrorPart(cause))
      }
      assert.deepStrictEqual(instants(yield* server.requests), [0])
    }))

  it.scoped("Anthropic: an error event after 3 deltas is not retried; the error says 3 content parts", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [FakeLlmServer.stream(["a", "b", "c", "d"], { interruption: FakeLlmServer.errorEventAfter(3) })]
        }
      })
      const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
      const { exit, parts } = yield* collect(model)
      assert.deepStrictEqual(deltas(parts), ["a", "b", "c"])
      assert.isTrue(exit._tag === "Left" && interruptedAfter(exit.left) === 3)
      assert.deepStrictEqual(instants(yield* server.requests), [0])
    }))

  for (const provider of ["openai", "anthropic"] as const) {
    it.scoped(`${provider}: a connection dropped after 3 deltas is not retried; the error says 3 content parts`, () =>
      Effect.gen(function*() {
        const reply = FakeLlmServer.stream(["a", "b", "c", "d"], { interruption: FakeLlmServer.dropAfter(3) })
        const server = yield* FakeLlmServer.make(
          provider === "openai" ? { responses: { replies: [reply] } } : { messages: { replies: [reply] } }
        )
        const model = provider === "openai"
          ? resilient(openAi(server), { key: "openai/gpt-4o", resilience: config() })
          : resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: config() })
        const { exit, parts } = yield* collect(model)
        assert.deepStrictEqual(deltas(parts), ["a", "b", "c"])
        assert.isTrue(exit._tag === "Left")
        if (exit._tag === "Left") {
          assert.strictEqual(interruptedAfter(exit.left), 3)
          const cause = Option.getOrThrow(ResilientLanguageModel.interruption(exit.left)).cause as AiError.AiError
          assert.strictEqual(cause._tag, "HttpResponseError")
          assert.strictEqual(summary(AiClassify.classify(cause)), "Transient Network")
        }
        assert.deepStrictEqual(instants(yield* server.requests), [0])
      }))
  }
})

describe("ResilientLanguageModel over the real clients: stalled streams", () => {
  it.scoped("a stall before any content: the idle timeout fires at exactly 5 s and the stream is retried", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: {
          replies: [
            FakeLlmServer.stream(["x"], { interruption: FakeLlmServer.stallAfter(0) }),
            FakeLlmServer.stream(["a", "b"])
          ]
        }
      })
      const model = resilient(openAi(server), {
        key: "openai/gpt-4o",
        resilience: config(),
        stream: { idleTimeout: "5 seconds" }
      })
      const fiber = yield* Effect.fork(collect(model))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(5000)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.isTrue(exit._tag === "Right")
      assert.deepStrictEqual(deltas(parts), ["a", "b"])
      assert.deepStrictEqual(instants(yield* server.requests), [0, 6000])
    }))

  it.scoped("a stall after 2 deltas: the idle timeout ends the stream, not retried, 2 content parts delivered", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: {
          replies: [FakeLlmServer.stream(["a", "b", "c"], { interruption: FakeLlmServer.stallAfter(2) })]
        }
      })
      const model = resilient(anthropic(server), {
        key: "anthropic/claude-sonnet-4-5",
        resilience: config(),
        stream: { idleTimeout: "5 seconds" }
      })
      const fiber = yield* Effect.fork(collect(model))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(5000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(deltas(parts), ["a", "b"])
      assert.isTrue(exit._tag === "Left")
      if (exit._tag === "Left") {
        const interruption = Option.getOrThrow(ResilientLanguageModel.interruption(exit.left))
        assert.strictEqual(interruption.contentParts, 2)
        assert.isTrue(StreamGuard.isStreamTimeoutError(interruption.cause))
      }
      assert.deepStrictEqual(instants(yield* server.requests), [0])
    }))
})
