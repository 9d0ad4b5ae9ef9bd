/**
 * FailoverLanguageModel over the real `@effect/ai-openai` and `@effect/ai-anthropic` clients, both pointed at
 * one `FakeLlmServer` on loopback (the server records each request's provider and model). The pipelines'
 * waits run on the test's `TestClock`; the HTTP exchanges are real I/O, so a test polls (a bounded poll) until
 * a request arrived or a wait began, then moves the clock by exactly the expected wait.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as AiClassify from "../src/AiClassify.js"
import * as FailoverLanguageModel from "../src/FailoverLanguageModel.js"
import { anthropic, awaitRequests, canary, config, countingWeather, openAi, telemetry, Weather } from "./fixtures.js"

const gpt = "openai/gpt-4o"
const claude = "anthropic/claude-sonnet-4-5"

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** `"provider/model"` of every request the server received, in arrival order, with its instant. */
const seen = (requests: ReadonlyArray<FakeLlmServer.RecordedRequest>): Array<string> =>
  requests.map((request) => `${request.provider}/${request.model}@${request.at}`)

/** How many requests each `"provider/model"` received. */
const counts = (requests: ReadonlyArray<FakeLlmServer.RecordedRequest>): Record<string, number> => {
  const result: Record<string, number> = {}
  for (const request of requests) {
    const key = `${request.provider}/${request.model}`
    result[key] = (result[key] ?? 0) + 1
  }
  return result
}

const json = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch (error) {
    return `unserialisable: ${String(error)}`
  }
}

/** Asserts that no common rendering of `values` (JSON, message, toString, pretty cause) holds the canary key. */
const assertNoCanary = (what: string, values: ReadonlyArray<unknown>): void => {
  for (const value of values) {
    const texts = [
      json(value),
      value instanceof Error ? value.message : "",
      String(value),
      Cause.pretty(Cause.fail(value), { renderErrorCause: true })
    ]
    assert.isFalse(texts.some((text) => text.includes(canary)), `${what} holds the API key: ${texts.join("\n")}`)
  }
}

/** Takes every event published so far, checks that none holds the API key, and gives them. */
const takeEvents = (queue: Queue.Dequeue<ResilienceEvent.ResilienceEvent>) =>
  Effect.map(Queue.takeAll(queue), (chunk) => {
    const events = Array.from(chunk)
    assertNoCanary("an event", events)
    return events
  })

/** The failover's own events (which step served, which were passed over and why). */
const failoverOnly = (events: ReadonlyArray<ResilienceEvent.ResilienceEvent>) =>
  events.filter((event) => event._tag === "StepSkipped" || event._tag === "FallbackUsed")

/** Why a step was passed over. */
type Why = Parameters<typeof ResilienceEvent.StepSkipped>[0]["why"]

/**
 * The failover's events of one call of the "chat" failover at `at`: each of `skipped` passed over in order (as
 * steps 0, 1, ...), then `servedBy`, the next step, served.
 */
const fellBack = (at: number, servedBy: string, ...skipped: ReadonlyArray<readonly [step: string, why: Why]>) => [
  ...skipped.map(([step, why], index) => ResilienceEvent.StepSkipped({ key: "chat", at, step, index, why })),
  ResilienceEvent.FallbackUsed({
    key: "chat",
    at,
    servedBy,
    index: skipped.length,
    skipped: skipped.map(([step, why]) => ({ step, why }))
  })
]

/** A fake server whose OpenAI endpoint answers as `responses` says and whose Anthropic endpoint says "from claude". */
const withClaude = (responses: FakeLlmServer.Options["responses"]) =>
  FakeLlmServer.make({ responses, messages: { default: FakeLlmServer.text("from claude") } })

/** The breakers' transitions. */
const breakerOnly = (events: ReadonlyArray<ResilienceEvent.ResilienceEvent>) =>
  events.filter((event) => event._tag.startsWith("Breaker"))

/** Builds the failover's layer once for the test's scope, so that its breakers keep their state across calls. */
const build = (
  options: FailoverLanguageModel.Options<readonly [FailoverLanguageModel.Step<any, any>, ...Array<any>]>
) => Layer.build(Layer.orDie(FailoverLanguageModel.layer(options)))

const generate = (prompt: Prompt.RawInput = "hi") => LanguageModel.generateText({ prompt })

/** Streams, collecting each part as `type` (or `text-delta:<delta>`), and how the stream ended. */
const collect = Effect.gen(function*() {
  const parts: Array<string> = []
  const exit = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
    Stream.runForEach((part: Response.AnyPart) =>
      Effect.sync(() => parts.push(part.type === "text-delta" ? `text-delta:${part.delta}` : part.type))
    ),
    Effect.either
  )
  return { parts, exit }
})

/** Every step's pipeline: a constant 1 s backoff, `maxAttempts` calls, nothing else unless `extra` turns it on. */
const steps = {
  openAi: (server: FakeLlmServer.Service, model = "gpt-4o", extra: Parameters<typeof config>[0] = {}) => ({
    key: `openai/${model}`,
    model: openAi(server, model),
    resilience: config(extra)
  }),
  anthropic: (server: FakeLlmServer.Service, extra: Parameters<typeof config>[0] = {}, maxAttempts = 3) => ({
    key: claude,
    model: anthropic(server),
    contextWindow: 200_000,
    resilience: config(extra, "1 seconds", maxAttempts)
  })
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

describe("FailoverLanguageModel over the real clients", () => {
  it.scoped("context_length_exceeded on gpt-small (8k): served by gpt-large (128k), one request each", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const server = yield* withClaude({
        decide: (request) =>
          request.model === "gpt-small"
            ? FakeLlmServer.openAiError.contextLengthExceeded({ tokens: 9_000, maximum: 8_192 })
            : FakeLlmServer.text(`from ${request.model}`)
      })
      const context = yield* build({
        name: "chat",
        steps: [
          { ...steps.openAi(server, "gpt-small"), contextWindow: 8_192 },
          // As small as the primary: passed over without a request.
          { ...steps.openAi(server, "gpt-small-2"), contextWindow: 8_192 },
          { ...steps.openAi(server, "gpt-large"), contextWindow: 128_000 },
          steps.anthropic(server)
        ]
      })
      const response = yield* Effect.provide(generate("a very long prompt"), context)
      assert.strictEqual(response.text, "from gpt-large")
      const requests = yield* server.requests
      assert.deepStrictEqual(seen(requests), ["openai/gpt-small@0", "openai/gpt-large@0"])
      assert.deepStrictEqual(counts(requests), { "openai/gpt-small": 1, "openai/gpt-large": 1 })
      assert.deepStrictEqual(
        failoverOnly(yield* takeEvents(queue)),
        fellBack(
          0,
          "openai/gpt-large",
          ["openai/gpt-small", "ContextLengthExceeded"],
          ["openai/gpt-small-2", "ContextWindow"]
        )
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("context_length_exceeded on gpt-small and gpt-large: served by Anthropic's 200k window", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const server = yield* withClaude({
        decide: (request) =>
          FakeLlmServer.openAiError.contextLengthExceeded({
            tokens: 150_000,
            maximum: request.model === "gpt-small" ? 8_192 : 128_000
          })
      })
      const context = yield* build({
        name: "chat",
        steps: [
          { ...steps.openAi(server, "gpt-small"), contextWindow: 8_192 },
          { ...steps.openAi(server, "gpt-large"), contextWindow: 128_000 },
          steps.anthropic(server)
        ]
      })
      const response = yield* Effect.provide(generate("a very, very long prompt"), context)
      assert.strictEqual(response.text, "from claude")
      const requests = yield* server.requests
      assert.deepStrictEqual(
        seen(requests),
        ["openai/gpt-small@0", "openai/gpt-large@0", "anthropic/claude-sonnet-4-5@0"]
      )
      assert.deepStrictEqual(
        failoverOnly(yield* takeEvents(queue)),
        fellBack(
          0,
          claude,
          ["openai/gpt-small", "ContextLengthExceeded"],
          ["openai/gpt-large", "ContextLengthExceeded"]
        )
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("OpenAI down: retries, breaker opens, Anthropic serves; later calls skip OpenAI without a request; a probe after the break closes it", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      let openAiDown = true
      const server = yield* withClaude({
        decide: () => openAiDown ? FakeLlmServer.openAiError.unavailable() : FakeLlmServer.text("from gpt")
      })
      const context = yield* build({
        name: "chat",
        steps: [
          steps.openAi(server, "gpt-4o", {
            circuitBreaker: {
              trip: { kind: "consecutive", threshold: 3 },
              breakDuration: { base: "30 seconds", max: "30 seconds", jitter: "none" }
            }
          }),
          steps.anthropic(server)
        ]
      })
      const call = Effect.provide(generate(), context)

      // 1. Three OpenAI calls (0, 1 s, 2 s) fail with 503; the third opens the breaker; Anthropic serves at 2 s.
      const fiber = yield* Effect.fork(call)
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      yield* awaitRequests(server, 2)
      yield* VirtualTime.adjustWhenSleeping(1000)
      assert.strictEqual((yield* Fiber.join(fiber)).text, "from claude")
      assert.deepStrictEqual(seen(yield* server.requests), [
        "openai/gpt-4o@0",
        "openai/gpt-4o@1000",
        "openai/gpt-4o@2000",
        "anthropic/claude-sonnet-4-5@2000"
      ])
      const first = yield* takeEvents(queue)
      assert.deepStrictEqual(breakerOnly(first), [
        ResilienceEvent.BreakerOpened({ key: gpt, at: 2000, from: "Closed", openFor: Duration.seconds(30) })
      ])
      assert.deepStrictEqual(
        first.filter((event) => event._tag === "RetryScheduled").map((event) => [event.at, event.reason]),
        [[0, "ServerError"], [1000, "ServerError"]]
      )
      assert.deepStrictEqual(failoverOnly(first), fellBack(2000, claude, [gpt, "ServerError"]))

      // 2. While the breaker is open (until 32 s), calls go to Anthropic at once and OpenAI gets no request.
      for (const at of [10_000, 31_999]) {
        yield* TestClock.setTime(at)
        assert.strictEqual((yield* call).text, "from claude")
        assert.deepStrictEqual(failoverOnly(yield* takeEvents(queue)), fellBack(at, claude, [gpt, "BreakerOpen"]))
      }
      assert.deepStrictEqual(counts(yield* server.requests), { "openai/gpt-4o": 3, "anthropic/claude-sonnet-4-5": 3 })

      // 3. The break is over at 32 s: the next call is a probe to OpenAI, which has recovered; the breaker closes.
      openAiDown = false
      yield* TestClock.setTime(32_000)
      assert.strictEqual((yield* call).text, "from gpt")
      const probe = yield* takeEvents(queue)
      assert.deepStrictEqual(breakerOnly(probe), [
        ResilienceEvent.BreakerHalfOpened({ key: gpt, at: 32_000 }),
        ResilienceEvent.BreakerClosed({ key: gpt, at: 32_000 })
      ])
      assert.deepStrictEqual(failoverOnly(probe), [])
      // 4. And OpenAI serves again.
      assert.strictEqual((yield* call).text, "from gpt")
      assert.deepStrictEqual(seen((yield* server.requests).slice(6)), ["openai/gpt-4o@32000", "openai/gpt-4o@32000"])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("insufficient_quota on OpenAI: exactly one OpenAI request, then Anthropic serves", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const server = yield* withClaude({ default: FakeLlmServer.openAiError.insufficientQuota() })
      const context = yield* build({ name: "chat", steps: [steps.openAi(server), steps.anthropic(server)] })
      const response = yield* Effect.provide(generate(), context)
      assert.strictEqual(response.text, "from claude")
      assert.deepStrictEqual(seen(yield* server.requests), ["openai/gpt-4o@0", "anthropic/claude-sonnet-4-5@0"])
      const events = yield* takeEvents(queue)
      assert.deepStrictEqual(events.filter((event) => event._tag === "RetryScheduled"), [])
      assert.deepStrictEqual(failoverOnly(events), fellBack(0, claude, [gpt, "QuotaExhausted"]))
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("Anthropic-first stream: overloaded_error before content on both tries; OpenAI serves one clean stream", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const overloadedAtStart = FakeLlmServer.stream(["never"], { interruption: FakeLlmServer.errorEventAfter(0) })
      const server = yield* FakeLlmServer.make({
        messages: { replies: [overloadedAtStart, overloadedAtStart] },
        responses: { replies: [FakeLlmServer.stream(["Hel", "lo"])] }
      })
      const context = yield* build({
        name: "chat",
        steps: [steps.anthropic(server, {}, 2), steps.openAi(server)]
      })
      const { layer: otel, recorded } = telemetry()
      const fiber = yield* Effect.fork(collect.pipe(Effect.provide(context), Effect.provide(otel)))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.isTrue(exit._tag === "Right")
      assert.deepStrictEqual(seen(yield* server.requests), [
        "anthropic/claude-sonnet-4-5@0",
        "anthropic/claude-sonnet-4-5@1000",
        "openai/gpt-4o@1000"
      ])
      // One response, OpenAI's, in order; nothing of the two failed Anthropic streams reached the caller.
      assert.deepStrictEqual(parts, [
        "response-metadata",
        "text-start",
        "text-delta:Hel",
        "text-delta:lo",
        "text-end",
        "finish"
      ])
      assert.deepStrictEqual(failoverOnly(yield* takeEvents(queue)), fellBack(1000, gpt, [claude, "Overloaded"]))
      const served = recorded.spans().filter((span) => span.attributes["resilience.served_by"] !== undefined)
      assert.deepStrictEqual(
        served.map((span) => [span.name, span.attributes["resilience.served_by"], span.attributes["gen_ai.system"]]),
        [["LanguageModel.streamText", gpt, "openai"]]
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("a tool round-trip across failover: OpenAI 503s, Anthropic's tool_use runs the handler once, served_by says so", () =>
    Effect.gen(function*() {
      const { executions, handlers } = countingWeather((city, run) => `Sunny in ${city} (${run})`)
      let openAiDown = true
      const server = yield* FakeLlmServer.make({
        responses: {
          decide: () => openAiDown ? FakeLlmServer.openAiError.unavailable() : FakeLlmServer.text("It is sunny.")
        },
        messages: { replies: [FakeLlmServer.toolCall("GetWeather", { city: "Paris" }, { id: "toolu_1" })] }
      })
      const { layer: otel, recorded } = telemetry()
      const queue = yield* ResilienceEvent.subscribe
      const context = yield* build({ name: "chat", steps: [steps.openAi(server), steps.anthropic(server)] })
      const question = Prompt.make("Weather in Paris?")

      const fiber = yield* Effect.fork(
        LanguageModel.generateText({ prompt: question, toolkit: Weather }).pipe(
          Effect.provide(context),
          Effect.provide(handlers),
          Effect.provide(otel)
        )
      )
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      yield* awaitRequests(server, 2)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual(response.toolCalls.map((call) => [call.id, call.name, call.params]), [
        ["toolu_1", "GetWeather", { city: "Paris" }]
      ])
      assert.deepStrictEqual(response.toolResults.map((result) => result.result), ["Sunny in Paris (1)"])
      assert.strictEqual(executions(), 1)
      assert.deepStrictEqual(seen(yield* server.requests), [
        "openai/gpt-4o@0",
        "openai/gpt-4o@1000",
        "openai/gpt-4o@2000",
        "anthropic/claude-sonnet-4-5@2000"
      ])
      // The caller's span (the failover's `LanguageModel.generateText`) names the step that served it.
      const served = recorded.spans().filter((span) => span.attributes["resilience.served_by"] !== undefined)
      assert.deepStrictEqual(
        served.map((span) => [
          span.name,
          span.attributes["resilience.served_by"],
          span.attributes["gen_ai.system"],
          span.attributes["gen_ai.request.model"]
        ]),
        [["LanguageModel.generateText", claude, "anthropic", "claude-sonnet-4-5"]]
      )

      // The round-trip: the tool's result goes back to the model, now OpenAI (up again), with Anthropic's call id.
      openAiDown = false
      const followUp = Prompt.merge(question, Prompt.fromResponseParts(response.content))
      const answer = yield* LanguageModel.generateText({ prompt: followUp, toolkit: Weather }).pipe(
        Effect.provide(context),
        Effect.provide(handlers)
      )
      assert.strictEqual(answer.text, "It is sunny.")
      assert.strictEqual(executions(), 1)
      const last = (yield* server.requests)[4]
      assert.strictEqual(`${last.provider}/${last.model}`, gpt)
      const input = (last.body as { readonly input: ReadonlyArray<Record<string, unknown>> }).input
      assert.deepStrictEqual(
        input.filter((item) => item.type === "function_call" || item.type === "function_call_output").map((item) =>
          item.type === "function_call" ? [item.type, item.call_id, item.name] : [item.type, item.call_id, item.output]
        ),
        [
          ["function_call", "toolu_1", "GetWeather"],
          ["function_call_output", "toolu_1", JSON.stringify("Sunny in Paris (1)")]
        ]
      )
      assertNoCanary("a span", recorded.spans().map((span) => ({ attributes: span.attributes, events: span.events })))
      yield* takeEvents(queue)
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("every step down: the caller gets Anthropic's last error; no event, error or span holds the API key", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const server = yield* FakeLlmServer.make({
        responses: { default: FakeLlmServer.openAiError.unavailable() },
        messages: { default: FakeLlmServer.anthropicError.overloaded() }
      })
      const { layer: otel, recorded } = telemetry()
      const context = yield* build({
        name: "chat",
        steps: [steps.openAi(server, "gpt-4o", {}), steps.anthropic(server, {}, 2)]
      })
      const fiber = yield* Effect.fork(Effect.flip(generate().pipe(Effect.provide(context), Effect.provide(otel))))
      yield* awaitRequests(server, 1)
      yield* VirtualTime.adjustWhenSleeping(1000)
      yield* awaitRequests(server, 2)
      yield* VirtualTime.adjustWhenSleeping(1000)
      yield* awaitRequests(server, 4)
      yield* VirtualTime.adjustWhenSleeping(1000)
      const error: AiError.AiError = yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen(yield* server.requests), [
        "openai/gpt-4o@0",
        "openai/gpt-4o@1000",
        "openai/gpt-4o@2000",
        "anthropic/claude-sonnet-4-5@2000",
        "anthropic/claude-sonnet-4-5@3000"
      ])
      assert.strictEqual(error._tag, "HttpResponseError")
      assert.strictEqual((error as AiError.HttpResponseError).response.status, 529)
      assert.strictEqual(AiClassify.classify(error).reason, "Overloaded")
      assertNoCanary("the error", [error])
      // The clients did send the key (the server redacts it in what it records).
      assert.deepStrictEqual(
        (yield* server.requests).map((request) =>
          request.provider === "openai" ? request.headers["authorization"] : request.headers["x-api-key"]
        ),
        Array(5).fill("<redacted>")
      )
      const events = yield* takeEvents(queue)
      assert.deepStrictEqual(failoverOnly(events).map((event) => event._tag === "StepSkipped" ? event.step : ""), [
        gpt,
        claude
      ])
      assert.isAbove(recorded.spans().length, 0)
      assertNoCanary(
        "a span",
        recorded.spans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events }))
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it("the key check itself finds the key in an error's JSON, message and cause", () => {
    const leaky = new Error(`request failed with Authorization: Bearer ${canary}`)
    assert.throws(() => assertNoCanary("a leaky error", [leaky]))
    assert.throws(() => assertNoCanary("a leaky event", [{ headers: { "x-api-key": canary } }]))
    assert.doesNotThrow(() => assertNoCanary("a clean error", [new Error("request failed")]))
  })
})
