import { CircuitBreaker, type PolicyError, ResilienceEvent } from "@effect-resilience/core"
import type * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as FailoverLanguageModel from "../src/FailoverLanguageModel.js"
import { config, drain, interruptionOf, scripted, sunnyWeather, toolCall, weatherToolkit } from "./scripted.js"
import { delta, errorPart, finish, metadata, responseError, text, textStart, transport } from "./scripted.js"

const overloaded = responseError(
  529,
  { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
  {},
  "text"
)
const serverError = responseError(500, { error: { code: "server_error", type: "server_error" } }, {}, "text")
const quota = responseError(429, { error: { code: "insufficient_quota", type: "insufficient_quota" } }, {}, "text")
const tooLong = responseError(
  400,
  { error: { code: "context_length_exceeded", type: "invalid_request_error" } },
  {},
  "text"
)
const invalid = responseError(
  400,
  { type: "error", error: { type: "invalid_request_error", message: "bad field" } },
  {},
  "text"
)

const primaryKey = "openai/gpt-4o"
const secondaryKey = "anthropic/claude-sonnet-4"

/** The failover's events, in order. */
const failoverEvents = (queue: Queue.Dequeue<ResilienceEvent.ResilienceEvent>) =>
  Effect.map(
    Queue.takeAll(queue),
    (events) =>
      Array.from(events).filter((e) =>
        e._tag === "StepSkipped" || e._tag === "FallbackUsed" || e._tag.startsWith("Hedge")
      )
  )

/** Runs an effect with a tracer that keeps every span it makes. */
const recordingSpans = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.tracer, (tracer) => {
    const spans: Array<Tracer.Span> = []
    const recording = Tracer.make({
      span: (...args) => {
        const span = tracer.span(...args)
        spans.push(span)
        return span
      },
      context: tracer.context
    })
    return Effect.map(Effect.withTracer(effect, recording), (value) => [value, spans] as const)
  })

/** Runs an effect in a fiber while the test clock moves `by`, and returns its result. */
const advancing = <A, E>(effect: Effect.Effect<A, E>, by: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })

describe("FailoverLanguageModel.generateText", () => {
  it.scoped("fails over to the secondary once the primary's retries are spent, and says why", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const primary = yield* scripted({ generate: [overloaded, overloaded, overloaded].map(Effect.fail) })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("from claude"))] })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const response = yield* advancing(model.generateText({ prompt: "hi" }), "1 minute")
      assert.strictEqual(response.text, "from claude")
      assert.deepStrictEqual(primary.calls, [0, 1000, 2000])
      assert.deepStrictEqual(secondary.calls, [2000])
      assert.deepStrictEqual(yield* failoverEvents(queue), [
        ResilienceEvent.StepSkipped({ key: "chat", at: 2000, step: primaryKey, index: 0, why: "Overloaded" }),
        ResilienceEvent.FallbackUsed({
          key: "chat",
          at: 2000,
          servedBy: secondaryKey,
          index: 1,
          skipped: [{ step: primaryKey, why: "Overloaded" }]
        })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("puts the serving step on the call's span as resilience.served_by", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ generate: [Effect.fail(quota)] })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("ok"))] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      yield* model.generateText({ prompt: "hi" })
      assert.strictEqual(secondary.spans.length, 1)
      const span = secondary.spans[0]
      assert.strictEqual(span.name, "LanguageModel.generateText")
      assert.strictEqual(span.attributes.get("resilience.served_by"), secondaryKey)
      assert.strictEqual(span.attributes.get("gen_ai.system"), "anthropic")
      assert.strictEqual(span.attributes.get("gen_ai.request.model"), "claude-sonnet-4")
    }))

  it.scoped("skips a step whose breaker is open without calling it", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const primary = yield* scripted({ generate: [Effect.fail(serverError), Effect.succeed(text("never"))] })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("one")), Effect.succeed(text("two"))] })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          {
            key: primaryKey,
            model: primary.service,
            resilience: config({
              retry: false,
              circuitBreaker: {
                trip: { kind: "consecutive", threshold: 1 },
                breakDuration: { base: "30 seconds", max: "30 seconds", jitter: "none" }
              }
            })
          },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      // The first call opens the primary's breaker and is served by the secondary.
      assert.strictEqual((yield* model.generateText({ prompt: "hi" })).text, "one")
      yield* Queue.takeAll(queue)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* model.generateText({ prompt: "hi" })).text, "two")
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(secondary.calls, [0, 10_000])
      assert.deepStrictEqual(yield* failoverEvents(queue), [
        ResilienceEvent.StepSkipped({ key: "chat", at: 10_000, step: primaryKey, index: 0, why: "BreakerOpen" }),
        ResilienceEvent.FallbackUsed({
          key: "chat",
          at: 10_000,
          servedBy: secondaryKey,
          index: 1,
          skipped: [{ step: primaryKey, why: "BreakerOpen" }]
        })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("fails with an AiError whose rejection is the CircuitOpenError when every breaker is open", () =>
    Effect.gen(function*() {
      const only = yield* scripted({ generate: [Effect.fail(serverError)] })
      const model = yield* FailoverLanguageModel.make({
        steps: [{
          key: primaryKey,
          model: only.service,
          resilience: config({ retry: false, circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } } })
        }]
      })
      const first = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(first._tag, "HttpResponseError")
      const second = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(only.calls.length, 1)
      assert.strictEqual(second._tag, "UnknownError")
      assert.strictEqual((second as AiError.UnknownError).module, "FailoverLanguageModel")
      const rejection = FailoverLanguageModel.rejection(second)
      assert.isTrue(Option.isSome(rejection) && CircuitBreaker.isCircuitOpenError(rejection.value))
    }))

  it.scoped("fails over insufficient_quota at once, after exactly one call", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ generate: [Effect.fail(quota), Effect.succeed(text("never"))] })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("paid"))] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const response = yield* model.generateText({ prompt: "hi" })
      assert.strictEqual(response.text, "paid")
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(secondary.calls, [0])
    }))

  it.scoped("sends a prompt too long for the primary only to a model with a larger context window", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const small = yield* scripted({ generate: [Effect.fail(tooLong)] })
      const sameSize = yield* scripted({ generate: [Effect.succeed(text("never"))] })
      const large = yield* scripted({ generate: [Effect.succeed(text("long answer"))] })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          { key: "openai/gpt-4o-mini", model: small.service, contextWindow: 8_000, resilience: config() },
          { key: "openai/gpt-4", model: sameSize.service, contextWindow: 8_000, resilience: config() },
          { key: "google/gemini-2.5-pro", model: large.service, contextWindow: 1_000_000, resilience: config() }
        ]
      })
      const response = yield* model.generateText({ prompt: "a very long prompt" })
      assert.strictEqual(response.text, "long answer")
      assert.deepStrictEqual([small.calls, sameSize.calls, large.calls], [[0], [], [0]])
      assert.deepStrictEqual(
        (yield* failoverEvents(queue)).map((e) => e._tag === "StepSkipped" ? `${e.step}:${e.why}` : e._tag),
        ["openai/gpt-4o-mini:ContextLengthExceeded", "openai/gpt-4:ContextWindow", "FallbackUsed"]
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("does not fail over an invalid request, and fails with the provider's error", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ generate: [Effect.fail(invalid)] })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("never"))] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const error = yield* advancing(Effect.flip(model.generateText({ prompt: "hi" })), "1 minute")
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).body, invalid.body)
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(secondary.calls, [])
    }))

  it.scoped("builds a step given as a Layer once, with the failover's layer", () =>
    Effect.gen(function*() {
      let builds = 0
      const secondary = yield* scripted({ generate: [Effect.succeed(text("a")), Effect.succeed(text("b"))] })
      const SecondaryLive = Layer.effect(
        LanguageModel.LanguageModel,
        Effect.sync(() => {
          builds++
          return secondary.service
        })
      )
      const primary = yield* scripted({ generate: [Effect.fail(quota), Effect.fail(quota)] })
      const FailoverLive = FailoverLanguageModel.layer({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: SecondaryLive, resilience: config() }
        ]
      })
      const texts = yield* Effect.all([
        LanguageModel.generateText({ prompt: "hi" }),
        LanguageModel.generateText({ prompt: "hi" })
      ]).pipe(Effect.map((responses) => responses.map((r) => r.text)), Effect.provide(FailoverLive))
      assert.deepStrictEqual(texts, ["a", "b"])
      assert.strictEqual(builds, 1)
      assert.deepStrictEqual([primary.calls.length, secondary.calls.length], [2, 2])
    }))

  it("infers a layer's error and requirements from its steps (an @effect/ai-openai model needs its client)", () => {
    const layer: Layer.Layer<
      LanguageModel.LanguageModel,
      PolicyError.InvalidPolicyError | "BuildFailed",
      OpenAiClient.OpenAiClient
    > = FailoverLanguageModel.layer({
      steps: [
        { key: primaryKey, model: OpenAiLanguageModel.model("gpt-4o"), contextWindow: 128_000 },
        { key: secondaryKey, model: Layer.fail("BuildFailed" as const) }
      ]
    })
    assert.isTrue(Layer.isLayer(layer))
  })

  // A tool may itself call a model (a sub-agent), and fail with its AiError.
  const Weather = weatherToolkit(AiError.AiError)

  it.scoped("runs a tool handler exactly once per model response across a failover", () =>
    Effect.gen(function*() {
      const sunny = sunnyWeather()
      const handlers = Weather.toLayer({ GetWeather: sunny.handler })
      const primary = yield* scripted({ generate: [overloaded, overloaded, overloaded].map(Effect.fail) })
      const secondary = yield* scripted({ generate: [Effect.succeed(toolCall)] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const response = yield* advancing(
        model.generateText({ prompt: "weather?", toolkit: Weather }).pipe(Effect.provide(handlers)),
        "1 minute"
      )
      assert.deepStrictEqual(primary.calls, [0, 1000, 2000])
      assert.deepStrictEqual(secondary.calls, [2000])
      assert.strictEqual(sunny.executions(), 1)
      assert.deepStrictEqual(response.toolResults.map((part) => part.result), ["sunny in Paris (1)"])
    }))

  it.scoped("neither retries nor fails over a tool handler's failure, even an overloaded AiError", () =>
    Effect.gen(function*() {
      let executions = 0
      const handlers = Weather.toLayer({
        GetWeather: () => Effect.suspend(() => (executions++, Effect.fail(overloaded)))
      })
      const primary = yield* scripted({ generate: [Effect.succeed(toolCall), Effect.succeed(toolCall)] })
      const secondary = yield* scripted({ generate: [Effect.succeed(toolCall)] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const error = yield* advancing(
        Effect.flip(model.generateText({ prompt: "weather?", toolkit: Weather }).pipe(Effect.provide(handlers))),
        "1 minute"
      )
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual(executions, 1)
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(secondary.calls, [])
    }))
})

describe("FailoverLanguageModel hedging", () => {
  it.scoped("hedges a slow call to the next step after the delay; the first success wins, the loser is interrupted", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const interruptedAt: Array<number> = []
      const slow = Effect.sleep("10 seconds").pipe(
        Effect.as(text("slow")),
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => interruptedAt.push(now)))
        )
      )
      const primary = yield* scripted({ generate: [slow] })
      const secondary = yield* scripted({ generate: [Effect.as(Effect.sleep("1 second"), text("fast"))] })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ],
        hedge: { delay: "2 seconds", percentile: false }
      })
      const fiber = yield* Effect.fork(
        Effect.zip(model.generateText({ prompt: "hi" }), Clock.currentTimeMillis)
      )
      yield* TestClock.adjust("2999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      assert.deepStrictEqual(secondary.calls, [2000])
      yield* TestClock.adjust("1 millis")
      const [response, endedAt] = yield* Fiber.join(fiber)
      assert.strictEqual(response.text, "fast")
      assert.strictEqual(endedAt, 3000)
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(interruptedAt, [3000])
      const events = yield* failoverEvents(queue)
      assert.deepStrictEqual(events.map((e) => e._tag), ["HedgeStarted", "HedgeSettled"])
      assert.deepStrictEqual(
        events[0],
        ResilienceEvent.HedgeStarted({
          key: "chat",
          at: 2000,
          delay: Duration.seconds(2),
          basis: "Fixed"
        })
      )
      assert.deepStrictEqual(events[1], ResilienceEvent.HedgeSettled({ key: "chat", at: 3000, winner: "Hedge" }))
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("does not hedge a call that ends before the delay", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ generate: [Effect.as(Effect.sleep("1999 millis"), text("in time"))] })
      const secondary = yield* scripted({ generate: [Effect.succeed(text("never"))] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ],
        hedge: { delay: "2 seconds", percentile: false }
      })
      const response = yield* advancing(model.generateText({ prompt: "hi" }), "1 minute")
      assert.strictEqual(response.text, "in time")
      assert.deepStrictEqual([primary.calls, secondary.calls], [[0], []])
    }))
})

describe("FailoverLanguageModel.streamText", () => {
  it.scoped("fails over an error part sent before any content, and the caller sees one clean stream", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const overloadedPart = errorPart({ type: "overloaded_error", message: "Overloaded" })
      const primary = yield* scripted({
        stream: [Stream.make(metadata, textStart, overloadedPart), Stream.make(metadata, overloadedPart)]
      })
      const secondary = yield* scripted({
        stream: [Stream.make(metadata, textStart, delta("Hel"), delta("lo"), finish)]
      })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          {
            key: primaryKey,
            model: primary.service,
            resilience: config({
              retry: { maxAttempts: 2, backoff: { base: "1 seconds", max: "1 seconds", jitter: "none" } }
            })
          },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const seen: Array<string> = []
      const result = yield* advancing(drain(model.streamText({ prompt: "hi" }), seen), "1 minute")
      assert.isTrue(result._tag === "Right")
      assert.deepStrictEqual(primary.calls, [0, 1000])
      assert.deepStrictEqual(secondary.calls, [1000])
      assert.deepStrictEqual(seen, ["response-metadata", "text-start", "delta:Hel", "delta:lo", "finish"])
      assert.deepStrictEqual(
        (yield* failoverEvents(queue)).map((e) => e._tag === "StepSkipped" ? `${e.step}:${e.why}` : e._tag),
        [`${primaryKey}:Overloaded`, "FallbackUsed"]
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("puts the step that served the stream on the stream's span as resilience.served_by", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ stream: [Stream.make(metadata, errorPart({ type: "insufficient_quota" }))] })
      const secondary = yield* scripted({ stream: [Stream.make(metadata, delta("ok"), finish)] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const seen: Array<string> = []
      const [, spans] = yield* recordingSpans(Effect.scoped(drain(model.streamText({ prompt: "hi" }), seen)))
      assert.deepStrictEqual(seen, ["response-metadata", "delta:ok", "finish"])
      assert.deepStrictEqual([primary.calls, secondary.calls], [[0], [0]])
      // The failover's span, and one of each inner model it called.
      const outer = spans.filter((span) => span.name === "LanguageModel.streamText")
      assert.strictEqual(outer.length, 3)
      assert.strictEqual(outer[0].attributes.get("resilience.served_by"), secondaryKey)
      assert.strictEqual(outer[0].attributes.get("gen_ai.request.model"), "claude-sonnet-4")
    }))

  it.scoped("never fails over a stream that failed after content, and says how much was delivered", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({
        stream: [Stream.concat(Stream.make(metadata, textStart, delta("a"), delta("b")), Stream.fail(transport))]
      })
      const secondary = yield* scripted({ stream: [Stream.make(delta("never"))] })
      const model = yield* FailoverLanguageModel.make({
        steps: [
          { key: primaryKey, model: primary.service, resilience: config() },
          { key: secondaryKey, model: secondary.service, resilience: config() }
        ]
      })
      const seen: Array<string> = []
      const result = yield* advancing(drain(model.streamText({ prompt: "hi" }), seen), "1 minute")
      assert.deepStrictEqual(primary.calls, [0])
      assert.deepStrictEqual(secondary.calls, [])
      assert.deepStrictEqual(seen, ["response-metadata", "text-start", "delta:a", "delta:b"])
      const interrupted = interruptionOf(result, FailoverLanguageModel.interruption)
      assert.strictEqual(interrupted.contentParts, 2)
      assert.strictEqual(interrupted.cause, transport)
    }))
})
