/**
 * No API key in any event, log line, exported span or error of the resilient layer, over the real clients (whose
 * own `AiError`s keep the request headers, key included), and `internal/redact.ts`, which takes it out.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import { FakeLlmServer, VirtualTime } from "@effect-resilience/testing"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as AiClassify from "../src/AiClassify.js"
import { learnSecrets, redact, redactingTracer, redactUnknown } from "../src/internal/redact.js"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"
import * as StreamGuard from "../src/StreamGuard.js"
import { anthropic, awaitRequests, canary, config, openAi, resilient, telemetry } from "./fixtures.js"

// ---------------------------------------------------------------------------
// What is searched for the key
// ---------------------------------------------------------------------------

const json = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch (error) {
    return `unserialisable: ${String(error)}`
  }
}

/** Every way an error is commonly turned into text: JSON, message, toString, the pretty cause with its causes. */
const renderings = (error: unknown): ReadonlyArray<string> => [
  json(error),
  error instanceof Error ? error.message : "",
  String(error),
  Cause.pretty(Cause.fail(error), { renderErrorCause: true })
]

const leaks = (texts: ReadonlyArray<string>): ReadonlyArray<string> => texts.filter((text) => text.includes(canary))

/** The texts of the exported spans: name, attributes, events (exceptions included), status and links. */
const spanTexts = (spans: ReturnType<ReturnType<typeof telemetry>["recorded"]["spans"]>): ReadonlyArray<string> =>
  spans.map((span) =>
    json({
      name: span.name,
      attributes: span.attributes,
      events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
      status: span.status,
      links: span.links.map((link) => ({ context: link.context, attributes: link.attributes }))
    })
  )

interface Observed {
  readonly scenario: string
  readonly error: unknown
  readonly events: ReadonlyArray<string>
  readonly spans: ReadonlyArray<string>
}

/**
 * Runs `call` (which must fail) with events enabled and the OpenTelemetry tracer of
 * `@effect/opentelemetry` installed; `drive` moves the `TestClock` through the retries.
 */
const observe = <A, E>(
  scenario: string,
  call: Effect.Effect<A, E>,
  drive: Effect.Effect<void> = Effect.void
): Effect.Effect<Observed> =>
  Effect.gen(function*() {
    const { layer: otel, recorded } = telemetry()
    const { error, events } = yield* Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const fiber = yield* Effect.fork(Effect.either(call))
      yield* drive
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isLeft(result), `${scenario}: the call should fail`)
      const events = yield* Queue.takeAll(queue)
      return { error: Either.isLeft(result) ? result.left : undefined, events: Array.from(events, json) }
    }).pipe(
      Effect.provide(
        Layer.mergeAll(ResilienceEvent.layer(), otel)
      ),
      Effect.scoped
    )
    // The layer retries and emits events: the scenario ran through it.
    assert.isAbove(events.length, 0, `${scenario}: no events`)
    return { scenario, error, events, spans: spanTexts(recorded.spans()) }
  })

/** The scenarios whose client error holds the request headers in its `body` (a body cut by a broken connection). */
const brokenBody: ReadonlySet<string> = new Set([
  "Anthropic stream cut before content",
  "OpenAI stream cut after content"
])

const generate = LanguageModel.generateText({ prompt: "hi" })
const stream = LanguageModel.streamText({ prompt: "hi" }).pipe(Stream.runDrain)

/** Two calls, 1 s backoff: a transient failure is retried once, at +1 s, then the last error is returned. */
const twice = config({}, "1 seconds", 2)

/** The error scenarios, each on a server of its own. */
const scenarios = Effect.gen(function*() {
  const observed: Array<Observed> = []
  const retriedOnce = (server: FakeLlmServer.Service) =>
    Effect.zipRight(awaitRequests(server, 1), VirtualTime.adjustWhenSleeping(1000))

  {
    const limited = FakeLlmServer.openAiError.rateLimited({ retryAfter: "1 second" })
    const server = yield* FakeLlmServer.make({ responses: { replies: [limited, limited] } })
    const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: twice })
    observed.push(yield* observe("OpenAI 429", Effect.provide(generate, model), retriedOnce(server)))
  }
  {
    const overloaded = FakeLlmServer.anthropicError.overloaded()
    const server = yield* FakeLlmServer.make({ messages: { replies: [overloaded, overloaded] } })
    const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: twice })
    observed.push(yield* observe("Anthropic 529", Effect.provide(generate, model), retriedOnce(server)))
  }
  {
    const unavailable = FakeLlmServer.openAiError.unavailable()
    const server = yield* FakeLlmServer.make({ responses: { replies: [unavailable, unavailable] } })
    const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: twice })
    observed.push(yield* observe("OpenAI 503", Effect.provide(generate, model), retriedOnce(server)))
  }
  {
    const server = yield* FakeLlmServer.make({
      responses: { replies: [FakeLlmServer.openAiError.insufficientQuota()] }
    })
    const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: twice })
    observed.push(yield* observe("OpenAI insufficient_quota", Effect.provide(generate, model)))
  }
  {
    const server = yield* FakeLlmServer.make({ responses: { replies: [FakeLlmServer.drop(), FakeLlmServer.drop()] } })
    const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: twice })
    observed.push(yield* observe("OpenAI transport drop", Effect.provide(generate, model), retriedOnce(server)))
  }
  {
    const cut = FakeLlmServer.stream(["a"], { interruption: FakeLlmServer.dropAfter(0) })
    const server = yield* FakeLlmServer.make({ messages: { replies: [cut, cut] } })
    const model = resilient(anthropic(server), { key: "anthropic/claude-sonnet-4-5", resilience: twice })
    observed.push(
      yield* observe("Anthropic stream cut before content", Effect.provide(stream, model), retriedOnce(server))
    )
  }
  {
    const cut = FakeLlmServer.stream(["a", "b", "c"], { interruption: FakeLlmServer.dropAfter(2) })
    const server = yield* FakeLlmServer.make({ responses: { replies: [cut] } })
    const model = resilient(openAi(server), { key: "openai/gpt-4o", resilience: twice })
    observed.push(yield* observe("OpenAI stream cut after content", Effect.provide(stream, model)))
  }
  {
    // A breaker that opens on the first transient failure: the second call is refused locally.
    const server = yield* FakeLlmServer.make({ responses: { replies: [FakeLlmServer.openAiError.unavailable()] } })
    const model = resilient(openAi(server), {
      key: "openai/gpt-4o",
      resilience: config({ circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } } }, "1 seconds", 1)
    })
    const calls = Effect.gen(function*() {
      const first = yield* Effect.flip(generate)
      assert.strictEqual(first._tag, "HttpResponseError")
      return yield* generate
    }).pipe(Effect.provide(model))
    const breaker = yield* observe("open breaker", calls)
    const rejection = ResilientLanguageModel.rejection(breaker.error as AiError.AiError)
    assert.strictEqual(Option.map(rejection, (error) => error._tag).pipe(Option.getOrUndefined), "CircuitOpenError")
    observed.push(breaker)
  }
  return observed
})

/** A logger that keeps every line (logfmt, and the pretty cause with its causes), and the scenarios run under it. */
const scenariosLogged = (minimum: LogLevel.LogLevel) =>
  Effect.gen(function*() {
    const logs: Array<{ readonly level: string; readonly text: string }> = []
    const capture = Logger.make((options) => {
      const text = `${Logger.logfmtLogger.log(options)}\n${Cause.pretty(options.cause, { renderErrorCause: true })}`
      logs.push({ level: options.logLevel.label, text })
    })
    const observed = yield* scenarios.pipe(
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, capture), Logger.minimumLogLevel(minimum)))
    )
    return { observed, logs }
  })

describe("Secrets: the canary key configured on both clients", () => {
  it.scoped("never appears in an event, an exported span, or a log line at Info and above", () =>
    Effect.gen(function*() {
      const { logs, observed } = yield* scenariosLogged(LogLevel.Info)
      assert.strictEqual(observed.length, 8)
      for (const { events, scenario, spans } of observed) {
        assert.deepStrictEqual(leaks(events), [], `${scenario}: events`)
        assert.deepStrictEqual(leaks(spans), [], `${scenario}: spans`)
      }
      assert.deepStrictEqual(leaks(logs.map((log) => log.text)), [])
    }))

  // When a connection breaks while a body is read, the client builds an HttpResponseError whose `body` (and so
  // `message`) is the JSON of the platform error, request headers and key included, and the inner model's own
  // `LanguageModel.streamText` span records it (exception event, status message) before the layer sees the error.
  // The layer runs the inner model under a tracer that redacts what its spans record.
  it.scoped("when a stream's body is cut, is in no exported span, the inner model's own span included", () =>
    Effect.gen(function*() {
      const { observed } = yield* scenariosLogged(LogLevel.Info)
      const cut = observed.filter(({ scenario }) => brokenBody.has(scenario))
      assert.strictEqual(cut.length, 2)
      for (const { scenario, spans } of cut) {
        const parsed = spans.map((text) =>
          JSON.parse(text) as {
            readonly name: string
            readonly events: ReadonlyArray<{ readonly name: string }>
            readonly status: { readonly code: number; readonly message?: string }
          }
        )
        // The inner model's span is exported, with the failure it recorded, redacted.
        const inner = parsed.filter((span) => span.name === "LanguageModel.streamText")
        assert.isAbove(inner.length, 1, scenario)
        assert.isTrue(inner.some((span) => span.events.some((event) => event.name === "exception")), scenario)
        assert.isTrue(inner.some((span) => (span.status.message ?? "").includes("<redacted>")), scenario)
        assert.deepStrictEqual(leaks(spans), [], `${scenario}: spans`)
      }
    }))

  // With Debug logging on, fibers of the streaming path log "Fiber terminated with an unhandled error" with the
  // error in the cause: the errors are redacted as they leave the inner model, before they reach those fibers.
  it.scoped("never appears in a log line at any level, Debug included", () =>
    Effect.gen(function*() {
      const { logs } = yield* scenariosLogged(LogLevel.All)
      assert.deepStrictEqual(leaks(logs.map((log) => `${log.level} ${log.text}`)), [])
    }))

  // The clients' HttpRequestError / HttpResponseError hold `request.headers.authorization` / `x-api-key` in clear:
  // the layer redacts them as they leave the inner model.
  it.scoped("never appears in an error the layer returns", () =>
    Effect.gen(function*() {
      for (const observed of yield* scenarios) {
        assert.deepStrictEqual(leaks(renderings(observed.error)), [], `${observed.scenario}: error`)
      }
    }))

  it.scoped("redact takes the key out of every error the layer returns, which stays classified the same", () =>
    Effect.gen(function*() {
      for (const observed of yield* scenarios) {
        const error = observed.error as AiError.AiError
        const redacted = redact(error)
        assert.deepStrictEqual(leaks(renderings(redacted)), [], `${observed.scenario}: redacted error`)
        assert.strictEqual(Object.getPrototypeOf(redacted), Object.getPrototypeOf(error), observed.scenario)
        assert.deepStrictEqual(AiClassify.classify(redacted), AiClassify.classify(error), observed.scenario)
        assert.deepStrictEqual(
          Option.map(ResilientLanguageModel.interruption(redacted), (e) => e.contentParts),
          Option.map(ResilientLanguageModel.interruption(error), (e) => e.contentParts),
          observed.scenario
        )
      }
    }))
})

// ---------------------------------------------------------------------------
// redact
// ---------------------------------------------------------------------------

const request = (headers: Record<string, string>): AiError.HttpRequestError["request"] => ({
  method: "POST",
  url: "http://127.0.0.1/v1/responses",
  urlParams: [],
  hash: Option.none(),
  headers
})

describe("redact", () => {
  it("replaces the sensitive request headers, any case, and keeps every other field", () => {
    const error = new AiError.HttpResponseError({
      module: "OpenAiClient",
      method: "createResponse",
      request: request({
        Authorization: `Bearer ${canary}`,
        "x-api-key": canary,
        "api-key": "azure-key-0123456789",
        "Proxy-Authorization": "Basic dXNlcjpwYXNzd29yZA==",
        cookie: "session=abcdef0123456789",
        "content-type": "application/json",
        "x-request-id": "req_1"
      }),
      response: { status: 429, headers: { "retry-after": "2", "set-cookie": "session=abcdef0123456789" } },
      reason: "StatusCode",
      body: JSON.stringify({ error: { code: "rate_limit_exceeded", echoed: `Bearer ${canary}` } }, null, 2),
      description: `key ${canary} and azure-key-0123456789`
    })
    const redacted = redact(error)
    assert.instanceOf(redacted, AiError.HttpResponseError)
    assert.notStrictEqual(redacted, error)
    assert.deepStrictEqual(redacted.request.headers, {
      Authorization: "<redacted>",
      "x-api-key": "<redacted>",
      "api-key": "<redacted>",
      "Proxy-Authorization": "<redacted>",
      cookie: "<redacted>",
      "content-type": "application/json",
      "x-request-id": "req_1"
    })
    assert.deepStrictEqual(redacted.response, {
      status: 429,
      headers: { "retry-after": "2", "set-cookie": "<redacted>" }
    })
    assert.strictEqual(redacted.description, "key <redacted> and <redacted>")
    assert.deepStrictEqual(JSON.parse(redacted.body!), { error: { code: "rate_limit_exceeded", echoed: "<redacted>" } })
    assert.deepStrictEqual(
      [redacted.module, redacted.method, redacted.reason, redacted.request.url],
      ["OpenAiClient", "createResponse", "StatusCode", "http://127.0.0.1/v1/responses"]
    )
    assert.strictEqual(redacted.message.includes("rate_limit_exceeded"), true)
    assert.deepStrictEqual(leaks(renderings(redacted)), [])
    // The original is not touched.
    assert.strictEqual(error.request.headers.Authorization, `Bearer ${canary}`)
  })

  it("gives an error without credentials back as it is", () => {
    const error = new AiError.HttpRequestError({
      module: "OpenAiClient",
      method: "createResponse",
      reason: "Transport",
      request: request({ "content-type": "application/json" })
    })
    assert.strictEqual(redact(error), error)
    const unknown = new AiError.UnknownError({ module: "x", method: "y", description: "nothing secret" })
    assert.strictEqual(redact(unknown), unknown)
  })

  it("redacts the platform error a transport failure keeps as its cause, from the real client", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ responses: { replies: [FakeLlmServer.drop()] } })
      const error = yield* Effect.flip(Effect.provide(generate, openAi(server)))
      assert.strictEqual(error._tag, "HttpRequestError")
      assert.isAbove(leaks(renderings(error)).length, 0, "the client's own error carries the key")
      const redacted = redact(error)
      assert.instanceOf(redacted, AiError.HttpRequestError)
      assert.deepStrictEqual(leaks(renderings(redacted)), [])
      assert.strictEqual((redacted as AiError.HttpRequestError).request.headers["authorization"], "<redacted>")
      const cause = (redacted as AiError.HttpRequestError).cause as { _tag: string; request: { headers: object } }
      assert.strictEqual(cause._tag, "RequestError")
      assert.strictEqual((cause.request.headers as Record<string, string>)["authorization"], "<redacted>")
      assert.strictEqual(
        `${AiClassify.classify(redacted)._tag} ${AiClassify.classify(redacted).reason}`,
        "Transient Network"
      )
    }).pipe(Effect.scoped, Effect.runPromise))

  it("cuts the key out of the body of a broken stream (the client JSON-encodes its request into it)", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { replies: [FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.dropAfter(1) })] }
      })
      const error = yield* Effect.flip(Effect.provide(stream, anthropic(server)))
      assert.strictEqual(error._tag, "HttpResponseError")
      // The key is even in the message: the body, which holds the request headers, is part of it.
      assert.include(error.message, canary)
      const redacted = redact(error)
      assert.deepStrictEqual(leaks(renderings(redacted)), [])
      assert.include((redacted as AiError.HttpResponseError).body, "UND_ERR_SOCKET")
      assert.strictEqual(
        `${AiClassify.classify(redacted)._tag} ${AiClassify.classify(redacted).reason}`,
        "Transient Network"
      )
    }).pipe(Effect.scoped, Effect.runPromise))

  it("follows causes: an UnknownError around a StreamInterruptedError around the client's error", () => {
    const inner = new AiError.HttpResponseError({
      module: "AnthropicClient",
      method: "streamRequest",
      request: request({ "x-api-key": canary }),
      response: { status: 200, headers: {} },
      reason: "Decode",
      body: `{"request":{"headers":{"x-api-key":"${canary}"}}}`
    })
    const interrupted = new StreamGuard.StreamInterruptedError({ contentParts: 3, cause: inner })
    // What the layer returns is already redacted; an UnknownError built by hand is not.
    assert.deepStrictEqual(leaks(renderings(ResilientLanguageModel.toAiError("streamText")(interrupted))), [])
    const outer = new AiError.UnknownError({ module: "Test", method: "streamText", cause: interrupted })
    assert.isAbove(leaks(renderings(outer)).length, 0)
    const redacted = redact(outer)
    assert.deepStrictEqual(leaks(renderings(redacted)), [])
    const interruption = Option.getOrThrow(ResilientLanguageModel.interruption(redacted))
    assert.strictEqual(interruption.contentParts, 3)
    assert.instanceOf(interruption.cause, AiError.HttpResponseError)
    assert.strictEqual(redactUnknown("plain"), "plain")
  })
})

describe("redactingTracer", () => {
  it.effect("takes known credentials out of attributes, events, links and the exit, through the OpenTelemetry exporter", () =>
    Effect.gen(function*() {
      const { layer: otel, recorded } = telemetry()
      const known = new Set<string>()
      const failure = new AiError.HttpRequestError({
        module: "OpenAiClient",
        method: "streamRequest",
        reason: "Transport",
        request: request({ authorization: `Bearer ${canary}` }),
        description: `sent with Bearer ${canary}`
      })
      yield* Effect.gen(function*() {
        const redacting = redactingTracer(yield* Effect.tracer, known)
        // A first failure shows the key; from then on any string the spans record is scrubbed of it.
        learnSecrets(failure, known)
        const linked = yield* Effect.makeSpan("linked")
        yield* Effect.gen(function*() {
          yield* Effect.annotateCurrentSpan("request", `POST with key ${canary}`)
          yield* Effect.annotateCurrentSpan("headers", { authorization: `Bearer ${canary}` })
          const span = yield* Effect.currentSpan
          span.event(`retrying ${canary}`, 0n, { detail: canary })
          span.addLinks([{ _tag: "SpanLink", span: linked, attributes: { via: canary } }])
          return yield* failure
        }).pipe(Effect.withSpan("inner"), Effect.withTracer(redacting), Effect.either)
      }).pipe(Effect.provide(otel))
      const spans = recorded.spans().filter((span) => span.name === "inner")
      assert.strictEqual(spans.length, 1)
      const texts = spanTexts(spans)
      assert.deepStrictEqual(leaks(texts), [])
      assert.include(texts[0], "<redacted>")
      assert.strictEqual(spans[0].events.length, 2)
      assert.strictEqual(spans[0].links.length, 1)
    }))
})
