import { CircuitBreaker, ProviderError } from "@effect-resilience/core"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"
import * as StreamGuard from "../src/StreamGuard.js"
import { config, drain, interruptionOf, scripted, sunnyWeather, toolCall, weatherToolkit } from "./scripted.js"
import { delta, errorPart, finish, metadata, responseError, text, textEnd, textStart, transport } from "./scripted.js"

const resilient = (inner: LanguageModel.Service, options: ResilientLanguageModel.Options) =>
  ResilientLanguageModel.make(options).pipe(Effect.provideService(LanguageModel.LanguageModel, inner))

const key = "openai/gpt-4o"

// ---------------------------------------------------------------------------
// generateText
// ---------------------------------------------------------------------------

describe("ResilientLanguageModel.generateText", () => {
  it.scoped("retries a transient AiError after exactly the provider's Retry-After", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        generate: [
          Effect.fail(
            responseError(429, { error: { code: "rate_limit_exceeded", type: "requests" } }, { "retry-after": "5" })
          ),
          Effect.succeed(text("hello"))
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(model.generateText({ prompt: "hi" }))
      yield* TestClock.adjust("4999 millis")
      assert.deepStrictEqual(calls, [0])
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(calls, [0, 5000])
      assert.strictEqual(response.text, "hello")
      assert.strictEqual(response.usage.totalTokens, 15)
    }))

  it.scoped("makes exactly one call for insufficient_quota and fails with the provider's error", () =>
    Effect.gen(function*() {
      const quota = responseError(429, { error: { code: "insufficient_quota", type: "insufficient_quota" } })
      const { calls, service } = yield* scripted({ generate: [Effect.fail(quota), Effect.succeed(text("never"))] })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(Effect.flip(model.generateText({ prompt: "hi" })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(calls.length, 1)
      // The same error (effect's spans hand on a copy of it, not the instance)
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).body, quota.body)
      assert.strictEqual((error as AiError.HttpResponseError).response.status, 429)
    }))

  it.scoped("keeps the provider's last AiError when the retries are exhausted", () =>
    Effect.gen(function*() {
      const overloaded = responseError(529, {
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" }
      })
      const { calls, service } = yield* scripted({
        generate: [Effect.fail(overloaded), Effect.fail(overloaded), Effect.fail(overloaded)]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(Effect.flip(model.generateText({ prompt: "hi" })))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      assert.deepStrictEqual(calls, [0, 1000, 2000])
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).body, overloaded.body)
      assert.strictEqual((error as AiError.HttpResponseError).response.status, 529)
    }))

  it.scoped("retries generateObject's provider call and decodes the object once it succeeds", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        generate: [
          Effect.fail(responseError(503, { error: { code: 503, status: "UNAVAILABLE" } }, { "retry-after": "2" })),
          Effect.succeed(text("{\"city\":\"Paris\",\"celsius\":21}"))
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(
        model.generateObject({
          prompt: "weather?",
          schema: Schema.Struct({ city: Schema.String, celsius: Schema.Number })
        })
      )
      yield* TestClock.adjust("2 seconds")
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(calls, [0, 2000])
      assert.deepStrictEqual(response.value, { city: "Paris", celsius: 21 })
    }))

  const Weather = weatherToolkit(ProviderError.TransientError)

  it.scoped("runs a tool handler exactly once per model response, even when the provider call was retried", () =>
    Effect.gen(function*() {
      const sunny = sunnyWeather()
      const handlers = Weather.toLayer({ GetWeather: sunny.handler })
      const { calls, service } = yield* scripted({
        generate: [
          Effect.fail(
            responseError(529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
          ),
          Effect.succeed(toolCall)
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(
        model.generateText({ prompt: "weather?", toolkit: Weather }).pipe(Effect.provide(handlers))
      )
      yield* TestClock.adjust("1 second")
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(calls, [0, 1000])
      assert.strictEqual(sunny.executions(), 1)
      assert.strictEqual(response.toolCalls.length, 1)
      assert.deepStrictEqual(response.toolResults.map((part) => part.result), ["sunny in Paris (1)"])
    }))

  it.scoped("does not retry a tool handler's own failure, even a transient one", () =>
    Effect.gen(function*() {
      let executions = 0
      const handlers = Weather.toLayer({
        GetWeather: () =>
          Effect.suspend(() =>
            Effect.fail(
              new ProviderError.TransientError({
                provider: "weather",
                reason: "Unavailable",
                message: `weather service down (${++executions})`
              })
            )
          )
      })
      const { calls, service } = yield* scripted({ generate: [Effect.succeed(toolCall), Effect.succeed(toolCall)] })
      const model = yield* resilient(service, { key, resilience: config() })
      const fiber = yield* Effect.fork(
        Effect.flip(model.generateText({ prompt: "weather?", toolkit: Weather }).pipe(Effect.provide(handlers)))
      )
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.isTrue(ProviderError.isTransientError(error))
      assert.strictEqual((error as ProviderError.TransientError).message, "weather service down (1)")
      assert.strictEqual(executions, 1)
      assert.strictEqual(calls.length, 1)
    }))

  it.scoped("fails with an AiError whose cause is the CircuitOpenError when the breaker is open", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        generate: [Effect.fail(responseError(500, { error: { code: "server_error", type: "server_error" } }))]
      })
      const model = yield* resilient(service, {
        key,
        resilience: config({ retry: false, circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } } })
      })
      const first = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(first._tag, "HttpResponseError")
      assert.isFalse(ResilientLanguageModel.isPolicyRejection(first))
      const second = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(calls.length, 1)
      assert.strictEqual(second._tag, "UnknownError")
      assert.isTrue(AiError.isAiError(second))
      assert.isTrue(ResilientLanguageModel.isPolicyRejection(second))
      const rejection = ResilientLanguageModel.rejection(second)
      assert.isTrue(Option.isSome(rejection) && CircuitBreaker.isCircuitOpenError(rejection.value))
    }))
})

// ---------------------------------------------------------------------------
// streamText
// ---------------------------------------------------------------------------

describe("ResilientLanguageModel.streamText", () => {
  it.scoped("retries an error part sent before any content, and the caller sees one clean stream", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [
          Stream.make(metadata, textStart, errorPart({ type: "overloaded_error", message: "Overloaded" })),
          Stream.make(metadata, textStart, delta("Hel"), delta("lo"), textEnd, finish)
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "hi" }), seen))
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(calls, [0])
      assert.deepStrictEqual(seen, [])
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result._tag === "Right")
      assert.deepStrictEqual(calls, [0, 1000])
      assert.deepStrictEqual(seen, ["response-metadata", "text-start", "delta:Hel", "delta:lo", "text-end", "finish"])
    }))

  it.scoped("retries a failed stream before content, not a permanent error part", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [
          Stream.concat(Stream.make(metadata), Stream.fail(transport)),
          Stream.make(metadata, errorPart({ type: "error", code: "insufficient_quota", message: "pay" })),
          Stream.make(metadata, delta("never"))
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "hi" }), seen))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(calls, [0, 1000])
      assert.deepStrictEqual(seen, [])
      assert.isTrue(result._tag === "Left")
      if (result._tag === "Left") {
        assert.strictEqual(result.left._tag, "UnknownError")
        const cause = (result.left as AiError.UnknownError).cause
        assert.isTrue(StreamGuard.isStreamErrorPart(cause))
      }
    }))

  it.scoped("never retries a failure after 3 content parts and says how many were delivered", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [
          Stream.concat(Stream.make(metadata, textStart, delta("a"), delta("b"), delta("c")), Stream.fail(transport)),
          Stream.make(metadata, delta("never"))
        ]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "hi" }), seen))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(seen, ["response-metadata", "text-start", "delta:a", "delta:b", "delta:c"])
      const interrupted = interruptionOf(result, ResilientLanguageModel.interruption)
      assert.strictEqual(interrupted.contentParts, 3)
      assert.strictEqual(interrupted.cause, transport)
      assert.isFalse(result._tag === "Left" && ResilientLanguageModel.isPolicyRejection(result.left))
    }))

  it.scoped("turns an error part after content into an interruption, delivering what came before it", () =>
    Effect.gen(function*() {
      const payload = { type: "error", code: "server_error", message: "oops" }
      const { calls, service } = yield* scripted({
        stream: [Stream.make(textStart, delta("a"), delta("b"), errorPart(payload), delta("lost"))]
      })
      const model = yield* resilient(service, { key, resilience: config() })
      const seen: Array<string> = []
      const result = yield* drain(model.streamText({ prompt: "hi" }), seen)
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(seen, ["text-start", "delta:a", "delta:b"])
      const interrupted = interruptionOf(result, ResilientLanguageModel.interruption)
      assert.strictEqual(interrupted.contentParts, 2)
      const cause = interrupted.cause
      assert.isTrue(StreamGuard.isStreamErrorPart(cause) && cause.error === payload)
    }))

  it.scoped("ends a stream that stalls after content at exactly the idle timeout", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [Stream.concat(Stream.make(textStart, delta("a")), Stream.never)]
      })
      const model = yield* resilient(service, {
        key,
        resilience: config(),
        stream: { idleTimeout: "10 seconds" }
      })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(
        drain(model.streamText({ prompt: "hi" }), seen).pipe(Effect.zip(Clock.currentTimeMillis))
      )
      yield* TestClock.adjust("9999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const [result, failedAt] = yield* Fiber.join(fiber)
      assert.strictEqual(failedAt, 10_000)
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(seen, ["text-start", "delta:a"])
      const interrupted = interruptionOf(result, ResilientLanguageModel.interruption)
      assert.strictEqual(interrupted.contentParts, 1)
      const cause = interrupted.cause
      assert.isTrue(StreamGuard.isStreamTimeoutError(cause) && cause.phase === "Idle")
    }))

  it.scoped("retries a stream that stalls before content, at exactly the idle timeout plus the backoff", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [
          Stream.concat(Stream.make(metadata), Stream.never),
          Stream.make(metadata, delta("ok"), finish)
        ]
      })
      const model = yield* resilient(service, { key, resilience: config(), stream: { idleTimeout: "10 seconds" } })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "hi" }), seen))
      yield* TestClock.adjust("10999 millis")
      assert.deepStrictEqual(calls, [0])
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result._tag === "Right")
      assert.deepStrictEqual(calls, [0, 11_000])
      assert.deepStrictEqual(seen, ["response-metadata", "delta:ok", "finish"])
    }))

  it.scoped("times out a stream without content at exactly the first-content timeout", () =>
    Effect.gen(function*() {
      // Parts keep coming (no idle timeout), but none of them is content.
      const keepAlive = Stream.repeatEffect(Effect.as(Effect.sleep("1 second"), textStart))
      const { calls, service } = yield* scripted({ stream: [keepAlive, Stream.make(delta("ok"))] })
      const model = yield* resilient(service, {
        key,
        resilience: config(),
        stream: { firstContentTimeout: "30 seconds", idleTimeout: "5 seconds" }
      })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "hi" }), seen))
      yield* TestClock.adjust("31 seconds")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result._tag === "Right")
      assert.deepStrictEqual(calls, [0, 31_000])
      assert.deepStrictEqual(seen, ["delta:ok"])
    }))

  it.scoped("delivers a stream that ends without content as it is", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({ stream: [Stream.make(metadata, finish)] })
      const model = yield* resilient(service, { key, resilience: config() })
      const seen: Array<string> = []
      const result = yield* drain(model.streamText({ prompt: "hi" }), seen)
      assert.isTrue(result._tag === "Right")
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(seen, ["response-metadata", "finish"])
    }))
})

describe("ResilientLanguageModel admission", () => {
  it.scoped("charges the rate limiter with the prompt's estimated tokens, corrected by the reported usage", () =>
    Effect.gen(function*() {
      const answers = ["a", "b", "c", "d"].map((value) => Effect.succeed(text(value)))
      const { calls, service } = yield* scripted({ generate: answers })
      const model = yield* resilient(service, {
        key,
        resilience: config({ rateLimiter: { tokensPerMinute: 100, onExceeded: "fail" } })
      })
      // 240 characters are 60 tokens, charged up front; each response reports 15 tokens used, so the
      // charge is corrected to 15: 15, 30, 45 used, then a fourth 60-token admission exceeds the 100.
      const prompt = "x".repeat(240)
      yield* model.generateText({ prompt })
      yield* model.generateText({ prompt })
      yield* model.generateText({ prompt })
      const error = yield* Effect.flip(model.generateText({ prompt }))
      assert.strictEqual(calls.length, 3)
      const rejection = ResilientLanguageModel.rejection(error)
      assert.isTrue(Option.isSome(rejection) && rejection.value._tag === "RateLimitedLocallyError")
    }))

  it.scoped("charges what the response reports when it is more than the estimate", () =>
    Effect.gen(function*() {
      const costly: Array<Response.PartEncoded> = [
        { type: "text", text: "long answer" },
        { ...finish, usage: { inputTokens: 10, outputTokens: 85, totalTokens: 95 } }
      ]
      const { calls, service } = yield* scripted({ generate: [Effect.succeed(costly), Effect.succeed(text("b"))] })
      const model = yield* resilient(service, {
        key,
        resilience: config({ rateLimiter: { tokensPerMinute: 100, onExceeded: "fail" } })
      })
      // 40 characters are 10 tokens: on the estimate alone a second call would fit; the 95 reported do not leave 10.
      const prompt = "x".repeat(40)
      yield* model.generateText({ prompt })
      const error = yield* Effect.flip(model.generateText({ prompt }))
      assert.strictEqual(calls.length, 1)
      assert.isTrue(Option.isSome(ResilientLanguageModel.rejection(error)))
    }))

  it.scoped("corrects a stream's charge with the usage of its finish part", () =>
    Effect.gen(function*() {
      const costlyFinish: Response.StreamPartEncoded = {
        ...finish,
        usage: { inputTokens: 10, outputTokens: 85, totalTokens: 95 }
      }
      const { calls, service } = yield* scripted({
        stream: [Stream.make(metadata, textStart, delta("a"), textEnd, costlyFinish)],
        generate: [Effect.succeed(text("b"))]
      })
      const model = yield* resilient(service, {
        key,
        resilience: config({ rateLimiter: { tokensPerMinute: 100, onExceeded: "fail" } })
      })
      const prompt = "x".repeat(40)
      yield* Stream.runDrain(model.streamText({ prompt }))
      const error = yield* Effect.flip(model.generateText({ prompt }))
      assert.strictEqual(calls.length, 1)
      assert.isTrue(Option.isSome(ResilientLanguageModel.rejection(error)))
    }))

  it.scoped("charges nothing when estimateTokens is false", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({ generate: [Effect.succeed(text("a")), Effect.succeed(text("b"))] })
      const model = yield* resilient(service, {
        key,
        estimateTokens: false,
        resilience: config({ rateLimiter: { tokensPerMinute: 100, onExceeded: "fail" } })
      })
      const prompt = "x".repeat(240)
      yield* model.generateText({ prompt })
      yield* model.generateText({ prompt })
      assert.strictEqual(calls.length, 2)
    }))
})

describe("ResilientLanguageModel.estimateTokens", () => {
  it("counts ~4 characters a token, rounded up", () => {
    assert.strictEqual(ResilientLanguageModel.estimateTokens(Prompt.make("Hello, world")), 3)
    assert.strictEqual(ResilientLanguageModel.estimateTokens(Prompt.make("x".repeat(401))), 101)
    assert.strictEqual(Duration.toMillis(Duration.seconds(1)), 1000)
  })
})
