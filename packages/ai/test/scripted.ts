/**
 * Shared scaffolding of the `LanguageModel` decorator tests: a scripted provider (a real `LanguageModel` built
 * with `LanguageModel.make` whose provider calls follow a script and record their instants), the `AiError`s a
 * provider client fails with, the response parts it sends, a weather tool, and a stream drain.
 */
import type { Resilience } from "@effect-resilience/core"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type * as StreamGuard from "../src/StreamGuard.js"

// ---------------------------------------------------------------------------
// A scripted provider: a real LanguageModel whose provider calls follow a script
// ---------------------------------------------------------------------------

/** What a scripted model answers: its n-th `generateText` call runs `generate[n]`, its n-th stream `stream[n]`. */
export interface Script {
  readonly generate?: ReadonlyArray<Effect.Effect<Array<Response.PartEncoded>, AiError.AiError>>
  readonly stream?: ReadonlyArray<Stream.Stream<Response.StreamPartEncoded, AiError.AiError>>
}

/**
 * Builds a model whose calls follow `script` (one step per call, counted across both methods; a call beyond the
 * script dies). `calls` records the instant (ms) of every provider call; `spans` the caller's span of each call
 * that a decorator made inside its own `LanguageModel.*` span (the span the decorator annotates).
 */
export const scripted = (script: Script) =>
  Effect.gen(function*() {
    const calls: Array<number> = []
    const spans: Array<Tracer.Span> = []
    const step = <A>(steps: ReadonlyArray<A> | undefined, span: Tracer.Span): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const index = calls.length
        calls.push(now)
        // The inner model's span is a child of the decorator's `LanguageModel.*` span.
        if (span.parent._tag === "Some" && span.parent.value._tag === "Span") spans.push(span.parent.value)
        const next = steps?.[index]
        return next === undefined ? Effect.dieMessage(`the script has no step ${index}`) : Effect.succeed(next)
      })
    const service = yield* LanguageModel.make({
      generateText: (options) => Effect.flatten(step(script.generate, options.span)),
      streamText: (options) => Stream.unwrap(step(script.stream, options.span))
    })
    return { service, calls, spans }
  })

/** Constant 1 s backoff, 3 calls in all, nothing else but what a test turns on. */
export const config = (extra: Partial<Resilience.Config> = {}): Resilience.Config => ({
  retry: { maxAttempts: 3, backoff: { base: "1 seconds", max: "1 seconds", jitter: "none" } },
  budget: false,
  circuitBreaker: false,
  bulkhead: false,
  attemptTimeout: false,
  ...extra
})

// ---------------------------------------------------------------------------
// Provider errors
// ---------------------------------------------------------------------------

/** The request of every scripted provider error: a loopback POST, no headers (so no credentials). */
export const request: AiError.HttpRequestError["request"] = {
  method: "POST",
  url: "http://127.0.0.1/v1/responses",
  urlParams: [],
  hash: Option.none(),
  headers: {}
}

/**
 * A provider's status error as `HttpResponseError.fromResponseError` builds it: a JSON body pretty-printed
 * (`"json"`), a text body JSON-quoted (`"text"`), or the body string as it is (`"raw"`); no body when `undefined`.
 */
export const responseError = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  as: "json" | "text" | "raw" = "json"
) =>
  new AiError.HttpResponseError({
    module: "OpenAiClient",
    method: "createResponse",
    request,
    response: { status, headers },
    reason: "StatusCode",
    ...(body === undefined
      ? {}
      : { body: as === "raw" ? String(body) : as === "text" ? JSON.stringify(body) : JSON.stringify(body, null, 2) })
  })

/** A connection that broke during a streaming request. */
export const transport = new AiError.HttpRequestError({
  module: "OpenAiClient",
  method: "streamRequest",
  reason: "Transport",
  request
})

// ---------------------------------------------------------------------------
// Response parts
// ---------------------------------------------------------------------------

/** The finish part of a response that stopped normally, having used 15 tokens. */
export const finish: Response.FinishPartEncoded = {
  type: "finish",
  reason: "stop",
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }
}

/** A `generateText` response of one text part. */
export const text = (value: string): Array<Response.PartEncoded> => [{ type: "text", text: value }, finish]

/** A stream's response metadata part (not content). */
export const metadata: Response.StreamPartEncoded = { type: "response-metadata", id: "resp_1" }

/** The start of a stream's text part (not content). */
export const textStart: Response.StreamPartEncoded = { type: "text-start", id: "t1" }

/** A text delta of a stream (content). */
export const delta = (value: string): Response.StreamPartEncoded => ({ type: "text-delta", id: "t1", delta: value })

/** The end of a stream's text part. */
export const textEnd: Response.StreamPartEncoded = { type: "text-end", id: "t1" }

/** An error part inside a stream, as a provider sends it in-band. */
export const errorPart = (error: unknown): Response.StreamPartEncoded => ({ type: "error", error })

// ---------------------------------------------------------------------------
// A tool
// ---------------------------------------------------------------------------

/** A toolkit of one `GetWeather` tool (a city in, a string out) whose handler fails with `failure`. */
export const weatherToolkit = <Failure extends Schema.Schema.All>(failure: Failure) =>
  Toolkit.make(
    Tool.make("GetWeather", {
      parameters: { city: Schema.String },
      success: Schema.String,
      failure
    })
  )

/**
 * A `GetWeather` handler for any `weatherToolkit` that always succeeds with `sunny in <city> (<n>)`, `n` counting
 * its executions; `executions()` reads the count.
 */
export const sunnyWeather = () => {
  let executions = 0
  return {
    handler: ({ city }: { readonly city: string }) => Effect.sync(() => `sunny in ${city} (${++executions})`),
    executions: () => executions
  }
}

/** A `generateText` response that calls `GetWeather` for Paris. */
export const toolCall: Array<Response.PartEncoded> = [
  { type: "tool-call", id: "call_1", name: "GetWeather", params: { city: "Paris" } },
  { ...finish, reason: "tool-calls" }
]

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

/** Runs a stream, recording each part's type, until it ends or fails. */
export const drain = <E>(stream: Stream.Stream<Response.StreamPart<any>, E>, seen: Array<string>) =>
  stream.pipe(
    Stream.runForEach((part) =>
      Effect.sync(() => seen.push(part.type === "text-delta" ? `delta:${part.delta}` : part.type))
    ),
    Effect.either
  )

/**
 * The `StreamInterruptedError` that ended a drained stream, read with the `interruption` of the module under test;
 * fails the test unless the stream failed with one.
 */
export const interruptionOf = <A>(
  result: Either.Either<A, AiError.AiError>,
  interruption: (error: AiError.AiError) => Option.Option<StreamGuard.StreamInterruptedError>
): StreamGuard.StreamInterruptedError => {
  if (result._tag === "Right") return assert.fail("the stream ended without failing")
  return Option.getOrElse(interruption(result.left), () => assert.fail(`not an interruption: ${result.left._tag}`))
}
