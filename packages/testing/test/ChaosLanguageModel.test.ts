import { PolicyError, ProviderError } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ChaosLanguageModel from "../src/ChaosLanguageModel.js"
import * as FaultInjection from "../src/FaultInjection.js"
import { SeededRandom } from "../src/index.js"

// ---------------------------------------------------------------------------
// An inner model whose provider calls always succeed, recording their instants
// ---------------------------------------------------------------------------

const finish: Response.FinishPartEncoded = {
  type: "finish",
  reason: "stop",
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }
}

const streamed: ReadonlyArray<Response.StreamPartEncoded> = [
  { type: "response-metadata", id: "resp_1" },
  { type: "text-start", id: "t1" },
  { type: "text-delta", id: "t1", delta: "a" },
  { type: "text-delta", id: "t1", delta: "b" },
  { type: "text-delta", id: "t1", delta: "c" },
  { type: "text-end", id: "t1" },
  finish
]

/** A healthy inner model; `calls` holds the instant (ms) of each provider call, `opened` of each stream. */
const healthy = (generate: Array<Response.PartEncoded> = [{ type: "text", text: "hello" }, finish]) =>
  Effect.gen(function*() {
    const calls: Array<number> = []
    const opened: Array<number> = []
    const service = yield* LanguageModel.make({
      generateText: () =>
        Effect.as(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => calls.push(now))), generate),
      streamText: () =>
        Stream.unwrap(
          Effect.flatMap(
            Clock.currentTimeMillis,
            (now) => Effect.sync(() => (opened.push(now), Stream.fromIterable(streamed)))
          )
        )
    })
    return { service, calls, opened }
  })

const chaos = (config: ChaosLanguageModel.Config, generate?: Array<Response.PartEncoded>) =>
  Effect.gen(function*() {
    const inner = yield* healthy(generate)
    const model = yield* ChaosLanguageModel.make(config).pipe(
      Effect.provideService(LanguageModel.LanguageModel, inner.service)
    )
    return { ...inner, model }
  })

/** One line per outcome: `ok`, the status of a response error, or the reason of a request error. */
const outcome = (result: Either.Either<unknown, AiError.AiError>): string => {
  if (Either.isRight(result)) return "ok"
  const error = result.left
  return error._tag === "HttpResponseError" ? String(error.response.status) : error._tag === "HttpRequestError"
    ? error.reason
    : error._tag
}

const responseError = (result: Either.Either<unknown, AiError.AiError>): AiError.HttpResponseError => {
  assert.isTrue(Either.isLeft(result))
  const error = (result as Either.Left<AiError.AiError, unknown>).left
  assert.strictEqual(error._tag, "HttpResponseError")
  return error as AiError.HttpResponseError
}

describe("ChaosLanguageModel", () => {
  it.effect("answers with 503 exactly inside the outage window from t = 10 s to t = 70 s", () =>
    Effect.gen(function*() {
      const { calls, model } = yield* chaos({ outages: [{ from: "10 seconds", to: "70 seconds" }] })
      const seen: Array<string> = []
      for (let t = 0; t <= 80_000; t += 5_000) {
        if (t > 0) yield* TestClock.adjust("5 seconds")
        seen.push(`${t / 1000}s:${outcome(yield* Effect.either(model.generateText({ prompt: "hi" })))}`)
      }
      assert.deepStrictEqual(seen, [
        "0s:ok",
        "5s:ok",
        "10s:503",
        "15s:503",
        "20s:503",
        "25s:503",
        "30s:503",
        "35s:503",
        "40s:503",
        "45s:503",
        "50s:503",
        "55s:503",
        "60s:503",
        "65s:503",
        "70s:ok",
        "75s:ok",
        "80s:ok"
      ])
      // The provider was never called inside the window.
      assert.deepStrictEqual(calls, [0, 5000, 70000, 75000, 80000])
    }))

  it.effect("an outage's 503 has the shape of the OpenAI client's error, with no credential", () =>
    Effect.gen(function*() {
      const { model } = yield* chaos({ provider: "openai", outages: [{ from: 0, to: "1 minute" }] })
      const error = responseError(yield* Effect.either(model.generateText({ prompt: "hi" })))
      assert.strictEqual(error.reason, "StatusCode")
      assert.strictEqual(error.module, "OpenAiClient")
      assert.strictEqual(error.method, "createResponse")
      assert.strictEqual(error.response.status, 503)
      assert.deepStrictEqual(error.response.headers, { "content-type": "application/json" })
      assert.deepStrictEqual(JSON.parse(error.body!), {
        error: { message: "service unavailable", type: "server_error", param: null, code: null }
      })
      assert.deepStrictEqual(error.request.headers, { "content-type": "application/json" })
      assert.notMatch(JSON.stringify(error), /authorization|api-key|sk-/i)
    }))

  it.effect("an empty bucket answers 429 with retry-after, and a refilled one lets the call through", () =>
    Effect.gen(function*() {
      // 2 a second: a burst of 2, then a token every 500 ms.
      const { calls, model } = yield* chaos({ provider: "openai", rateLimit: { limit: 2, window: "1 second" } })
      const call = Effect.either(model.generateText({ prompt: "hi" }))
      assert.deepStrictEqual([outcome(yield* call), outcome(yield* call)], ["ok", "ok"])
      const limited = responseError(yield* call)
      assert.strictEqual(limited.response.status, 429)
      assert.deepStrictEqual(limited.response.headers, {
        "content-type": "application/json",
        "retry-after": "1",
        "retry-after-ms": "500"
      })
      assert.deepStrictEqual(JSON.parse(limited.body!), {
        error: { message: "rate limit reached", type: "requests", param: null, code: "rate_limit_exceeded" }
      })
      yield* TestClock.adjust("499 millis")
      const early = responseError(yield* call)
      assert.strictEqual(early.response.headers["retry-after-ms"], "1")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(outcome(yield* call), "ok")
      assert.strictEqual(outcome(yield* call), "429")
      assert.deepStrictEqual(calls, [0, 0, 500])
    }))

  it.effect("an Anthropic 429 has Anthropic's body and a retry-after in whole seconds", () =>
    Effect.gen(function*() {
      const { model } = yield* chaos({ provider: "anthropic", rateLimit: { limit: 1, window: "1 minute" } })
      yield* model.generateText({ prompt: "hi" })
      const error = responseError(yield* Effect.either(model.generateText({ prompt: "hi" })))
      assert.strictEqual(error.module, "AnthropicClient")
      assert.strictEqual(error.method, "createMessage")
      assert.strictEqual(error.response.status, 429)
      assert.deepStrictEqual(error.response.headers, { "content-type": "application/json", "retry-after": "60" })
      assert.deepStrictEqual(JSON.parse(error.body!), {
        type: "error",
        error: { type: "rate_limit_error", message: "rate limit reached" }
      })
    }))

  const mixed: ChaosLanguageModel.Config = {
    errors: { serverError: 0.2, overloaded: 0.2, network: 0.1, unavailable: 0.1 },
    seed: 42
  }
  const sequenceOf = (config: ChaosLanguageModel.Config, n: number) =>
    Effect.gen(function*() {
      const { model } = yield* chaos(config)
      const seen: Array<string> = []
      for (let i = 0; i < n; i++) seen.push(outcome(yield* Effect.either(model.generateText({ prompt: "hi" }))))
      return seen
    })

  it.effect("with seed 42 the error rates give a fixed sequence, the same on every run", () =>
    Effect.gen(function*() {
      const first = yield* sequenceOf(mixed, 16)
      assert.deepStrictEqual(first, [
        "ok",
        "ok",
        "503",
        "ok",
        "ok",
        "500",
        "Transport",
        "500",
        "ok",
        "ok",
        "Transport",
        "ok",
        "503",
        "ok",
        "500",
        "529"
      ])
      assert.deepStrictEqual(yield* sequenceOf(mixed, 16), first)
      assert.notDeepEqual(yield* sequenceOf({ ...mixed, seed: 43 }, 16), first)
    }))

  it.effect("without a seed of its own, a seeded Random gives the same sequence", () =>
    Effect.gen(function*() {
      const { seed: _, ...unseeded } = mixed
      const first = yield* sequenceOf(unseeded, 16).pipe(SeededRandom.withSeed(42))
      assert.deepStrictEqual(yield* sequenceOf(unseeded, 16).pipe(SeededRandom.withSeed(42)), first)
      assert.strictEqual(new Set(first).size, 5)
    }))

  it.effect("raises every kind as the provider's client would", () =>
    Effect.gen(function*() {
      const shape = (kind: FaultInjection.ErrorKind, provider: ChaosLanguageModel.Provider) =>
        Effect.gen(function*() {
          const { model } = yield* chaos({ provider, errors: { [kind]: { rate: 1, retryAfter: "2 seconds" } } })
          const result = yield* Effect.either(model.generateText({ prompt: "hi" }))
          if (Either.isRight(result)) return "ok"
          const error = result.left
          if (error._tag !== "HttpResponseError") return error._tag === "HttpRequestError" ? error.reason : error._tag
          const body = JSON.parse(error.body!)
          const code = provider === "openai"
            ? typeof body === "string" ? "html" : `${body.error.type}/${body.error.code}`
            : body.error.type
          return `${error.response.status} ${code} ${error.response.headers["retry-after"]}`
        })
      const kinds: ReadonlyArray<FaultInjection.ErrorKind> = [
        "rateLimited",
        "overloaded",
        "serverError",
        "unavailable",
        "timeout",
        "network",
        "unauthorized",
        "quotaExhausted",
        "invalidRequest",
        "contextLengthExceeded"
      ]
      const openai = yield* Effect.forEach(kinds, (kind) => shape(kind, "openai"))
      const anthropic = yield* Effect.forEach(kinds, (kind) => shape(kind, "anthropic"))
      assert.deepStrictEqual(openai, [
        "429 requests/rate_limit_exceeded 2",
        "529 server_error/null 2",
        "500 server_error/null 2",
        "503 server_error/null 2",
        "504 html 2",
        "Transport",
        "401 invalid_request_error/invalid_api_key 2",
        "429 insufficient_quota/insufficient_quota 2",
        "400 invalid_request_error/null 2",
        "400 invalid_request_error/context_length_exceeded 2"
      ])
      assert.deepStrictEqual(anthropic, [
        "429 rate_limit_error 2",
        "529 overloaded_error 2",
        "500 api_error 2",
        "503 api_error 2",
        "504 timeout_error 2",
        "Transport",
        "401 authentication_error 2",
        "400 invalid_request_error 2",
        "400 invalid_request_error 2",
        "400 invalid_request_error 2"
      ])
    }))

  it.effect("a network fault is an HttpRequestError with reason Transport, its cause the injected error", () =>
    Effect.gen(function*() {
      const { calls, model } = yield* chaos({ provider: "anthropic", errors: { network: 1 } })
      const error = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(error._tag, "HttpRequestError")
      const request = error as AiError.HttpRequestError
      assert.strictEqual(request.reason, "Transport")
      assert.strictEqual(request.module, "AnthropicClient")
      assert.isTrue(ProviderError.isTransientError(request.cause))
      assert.strictEqual(request.description, "anthropic: connection reset (injected)")
      assert.deepStrictEqual(calls, [])
    }))

  it.effect("delays each answer by the injected latency, exactly, in Clock time", () =>
    Effect.gen(function*() {
      const { calls, model } = yield* chaos({ latency: { kind: "fixed", duration: "250 millis" } })
      const fiber = yield* Effect.fork(Effect.zip(model.generateText({ prompt: "hi" }), Clock.currentTimeMillis))
      yield* TestClock.adjust("249 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const [response, at] = yield* Fiber.join(fiber)
      assert.strictEqual(response.text, "hello")
      assert.strictEqual(at, 250)
      assert.deepStrictEqual(calls, [250])
    }))

  const GetWeather = Tool.make("GetWeather", {
    parameters: { city: Schema.String },
    success: Schema.String
  })
  const Weather = Toolkit.make(GetWeather)
  const toolCall: Array<Response.PartEncoded> = [
    { type: "tool-call", id: "call_1", name: "GetWeather", params: { city: "Paris" } },
    { ...finish, reason: "tool-calls" }
  ]

  it.effect("runs a tool handler exactly once per response, in the outer service, and never for a failed call", () =>
    Effect.gen(function*() {
      let executions = 0
      const handlers = Weather.toLayer({
        GetWeather: ({ city }) => Effect.sync(() => `sunny in ${city} (${++executions})`)
      })
      // The first call falls in the outage, the second passes.
      const { calls, model } = yield* chaos({ outages: [{ from: 0, to: "1 second" }] }, toolCall)
      const call = model.generateText({ prompt: "weather?", toolkit: Weather }).pipe(Effect.provide(handlers))
      assert.strictEqual(outcome(yield* Effect.either(call)), "503")
      assert.strictEqual(executions, 0)
      yield* TestClock.adjust("1 second")
      const response = yield* call
      assert.strictEqual(executions, 1)
      assert.deepStrictEqual(response.toolResults.map((part) => part.result), ["sunny in Paris (1)"])
      assert.deepStrictEqual(calls, [1000])
    }))

  const collect = (stream: Stream.Stream<Response.StreamPart<any>, AiError.AiError>) =>
    Effect.either(
      Effect.map(
        Stream.runCollect(stream),
        (parts) =>
          Chunk.toReadonlyArray(parts).map((part) =>
            part.type === "text-delta" ? `delta:${part.delta}` : part.type === "error" ? part.error : part.type
          )
      )
    )

  it.effect("a stream fails to open, before any part, inside an outage", () =>
    Effect.gen(function*() {
      const { model, opened } = yield* chaos({
        provider: "anthropic",
        outages: [{ from: 0, to: "10 seconds", error: "overloaded" }]
      })
      const error = responseError(yield* collect(model.streamText({ prompt: "hi" })))
      assert.strictEqual(error.response.status, 529)
      assert.strictEqual(error.method, "streamRequest")
      assert.deepStrictEqual(opened, [])
      yield* TestClock.adjust("10 seconds")
      const result = yield* collect(model.streamText({ prompt: "hi" }))
      assert.deepStrictEqual(
        result,
        Either.right(["response-metadata", "text-start", "delta:a", "delta:b", "delta:c", "text-end", "finish"])
      )
      assert.deepStrictEqual(opened, [10000])
    }))

  it.effect("injects an in-stream error part after k content parts and ends the stream there", () =>
    Effect.gen(function*() {
      const anthropic = yield* chaos({ provider: "anthropic", midStream: { afterParts: 2 } })
      assert.deepStrictEqual(
        yield* collect(anthropic.model.streamText({ prompt: "hi" })),
        Either.right([
          "response-metadata",
          "text-start",
          "delta:a",
          "delta:b",
          { type: "overloaded_error", message: "Overloaded" }
        ])
      )
      const openai = yield* chaos({ provider: "openai", midStream: { afterParts: 1 } })
      assert.deepStrictEqual(
        yield* collect(openai.model.streamText({ prompt: "hi" })),
        Either.right([
          "response-metadata",
          "text-start",
          "delta:a",
          { type: "error", code: "server_error", message: "internal server error", param: null, sequence_number: 1 }
        ])
      )
      const atOnce = yield* chaos({ midStream: { afterParts: 0, error: "overloaded" } })
      assert.deepStrictEqual(
        yield* collect(atOnce.model.streamText({ prompt: "hi" })),
        Either.right([
          { type: "error", code: "server_error", message: "overloaded", param: null, sequence_number: 0 }
        ])
      )
    }))

  it.effect("breaks a seeded share of the streams mid-way, the same ones on every run", () =>
    Effect.gen(function*() {
      const broken = (seed: number) =>
        Effect.gen(function*() {
          const { model } = yield* chaos({ midStream: { afterParts: 2, rate: 0.5 }, seed })
          const seen: Array<boolean> = []
          for (let i = 0; i < 12; i++) {
            const parts = yield* collect(model.streamText({ prompt: "hi" }))
            seen.push(Either.isRight(parts) && !parts.right.includes("finish"))
          }
          return seen
        })
      const first = yield* broken(42)
      assert.deepStrictEqual(first, [true, false, false, false, false, false, false, true, false, true, false, true])
      assert.deepStrictEqual(yield* broken(42), first)
    }))

  it.effect("provides the chaotic model as a layer over the one in context", () =>
    Effect.gen(function*() {
      const inner = yield* healthy()
      const layer = ChaosLanguageModel.layer({ errors: { unavailable: 1 } }).pipe(
        Layer.provide(Layer.succeed(LanguageModel.LanguageModel, inner.service))
      )
      const result = yield* Effect.either(LanguageModel.generateText({ prompt: "hi" })).pipe(Effect.provide(layer))
      assert.strictEqual(outcome(result), "503")
    }))

  it.effect("wrap shares the injector, whose decisions say what happened", () =>
    Effect.gen(function*() {
      const inner = yield* healthy()
      const injector = yield* FaultInjection.make({ rateLimit: { limit: 1, window: "1 minute" } })
      const model = yield* ChaosLanguageModel.wrap(inner.service, injector, { provider: "anthropic" })
      yield* model.generateText({ prompt: "hi" })
      yield* Effect.either(model.generateText({ prompt: "hi" }))
      assert.deepStrictEqual((yield* injector.decisions).map((decision) => decision._tag), ["Passed", "RateLimited"])
    }))

  it.effect("rejects invalid mid-stream options, listing every problem", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(chaos({ midStream: { afterParts: -1, rate: 2 } }))
      assert.isTrue(error instanceof PolicyError.InvalidPolicyError)
      assert.deepStrictEqual((error as PolicyError.InvalidPolicyError).issues, [
        "midStream.afterParts: must be a whole number ≥ 0, got -1",
        "midStream.rate: must be a number in [0, 1], got 2"
      ])
    }))
})
