/**
 * FakeLlmServer: a real HTTP server on loopback that speaks enough of the
 * OpenAI and Anthropic APIs for the real clients (`@effect/ai-openai`,
 * `@effect/ai-anthropic`, any OpenAI-compatible client) to run against it
 * unchanged, answering from a script.
 *
 * It serves three endpoints, each as JSON and as Server-Sent Events (when the
 * request body says `"stream": true`), in the wire format of the real service:
 *
 * - `POST /v1/responses`: the OpenAI Responses API (what `OpenAiLanguageModel`
 *   calls; give the OpenAI client `apiUrl: server.openAiUrl`);
 * - `POST /v1/messages`: the Anthropic Messages API (what
 *   `AnthropicLanguageModel` calls; give the Anthropic client
 *   `apiUrl: server.anthropicUrl`);
 * - `POST /v1/chat/completions`: OpenAI Chat Completions, for clients of
 *   OpenAI-compatible servers.
 *
 * Every request is answered by the first of: the `faults` injector (a
 * `FaultInjection` config, e.g. "503 at rate 0.2, seeded"), the endpoint's
 * queue of scripted replies (one consumed per request), the endpoint's
 * `decide` function of the request, and the endpoint's default reply (a text
 * "Hello from fake"). A reply is a text, a tool call, a stream of deltas
 * (which may end in an error event, a dropped connection or a stall), a
 * provider error with its headers, or a dropped connection; the
 * `openAiError` and `anthropicError` helpers build the errors the real
 * services send, with their status, body and headers.
 *
 * Whose clock: every delay (a reply's `delay` and `interval`, the faults'
 * latency) is an `Effect.sleep` of the fiber that built the server, whose
 * `Clock` request handlers inherit. Under `it.effect` / `it.scoped` that is
 * the `TestClock`: a delayed reply is sent when the test moves the clock
 * (the HTTP exchange itself is real I/O on loopback). Under `it.live` and
 * on the command line it is the real clock.
 *
 * Every request is recorded (`server.requests`) with its instant, method,
 * path, headers (`authorization` and `x-api-key` redacted), parsed body,
 * provider, model and stream flag. The server stops when its scope closes:
 * open connections (a stalled stream included) are cut, so nothing hangs.
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@effect-resilience/core"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as FaultInjection from "./FaultInjection.js"
import * as internal from "./internal/fakeLlm/server.js"

/**
 * The endpoints the server answers: `"responses"` (`POST /v1/responses`),
 * `"messages"` (`POST /v1/messages`) and `"chatCompletions"`
 * (`POST /v1/chat/completions`).
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const endpoint: FakeLlmServer.Endpoint = "messages"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "responses" | "messages" | "chatCompletions"

/**
 * Token usage reported with a successful answer.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const usage: FakeLlmServer.Usage = { inputTokens: 12, outputTokens: 4 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * An error sent inside a stream. `code` is OpenAI's error `code` (e.g.
 * `"server_error"`, `"rate_limit_exceeded"`) or Anthropic's error `type`
 * (e.g. `"overloaded_error"`; the Anthropic client only decodes its known
 * types).
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const error: FakeLlmServer.StreamError = { code: "overloaded_error", message: "Overloaded" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamError {
  readonly code: string
  readonly message: string
}

/**
 * How a stream stops early, after `after` content deltas:
 *
 * - `ErrorEvent`: the provider's in-stream error (OpenAI Responses: an
 *   `error` event then `response.failed`; Anthropic: `event: error`; Chat
 *   Completions: `data: {"error": ...}`), then the response ends cleanly;
 * - `Drop`: the connection is closed without ending the response (the
 *   client sees a broken body);
 * - `Stall`: nothing more is sent and the connection stays open, until the
 *   client gives up or the server's scope closes.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const stall: FakeLlmServer.Interruption = { _tag: "Stall", after: 2 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Interruption =
  | { readonly _tag: "ErrorEvent"; readonly after: number; readonly error: StreamError | undefined }
  | { readonly _tag: "Drop"; readonly after: number }
  | { readonly _tag: "Stall"; readonly after: number }

/**
 * A successful text answer. To a streaming request it is sent as one delta.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply: FakeLlmServer.TextReply = FakeLlmServer.text("Hi")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TextReply {
  readonly _tag: "Text"
  readonly text: string
  readonly usage: Usage
  readonly delay: Duration.Duration
  readonly headers: Readonly<Record<string, string>>
}

/**
 * A successful answer that asks the caller to run one tool (OpenAI: a
 * `function_call` output item; Anthropic: a `tool_use` block; Chat
 * Completions: a `tool_calls` entry).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply: FakeLlmServer.ToolCallReply = FakeLlmServer.toolCall("getWeather", { city: "Paris" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallReply {
  readonly _tag: "ToolCall"
  readonly name: string
  readonly arguments: Readonly<Record<string, unknown>>
  /** The call id; default `call_fake_<n>` (OpenAI) or `toolu_fake_<n>` (Anthropic). */
  readonly id: string | undefined
  readonly usage: Usage
  readonly delay: Duration.Duration
  readonly headers: Readonly<Record<string, string>>
}

/**
 * A text sent as the given deltas, `interval` apart, possibly stopped early.
 * To a non-streaming request it is sent as one JSON text (an `ErrorEvent`
 * interruption then becomes a 500 for OpenAI or the event's error for
 * Anthropic; `Drop` and `Stall` behave as for a stream).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply: FakeLlmServer.StreamReply = FakeLlmServer.stream(["Hel", "lo"], { interval: "100 millis" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReply {
  readonly _tag: "Stream"
  readonly deltas: ReadonlyArray<string>
  readonly usage: Usage
  /** Time before the response starts (status and headers included). */
  readonly delay: Duration.Duration
  /** Time between two consecutive deltas. */
  readonly interval: Duration.Duration
  readonly interruption: Interruption | undefined
  readonly headers: Readonly<Record<string, string>>
}

/**
 * An HTTP error: `status`, a JSON `body` and `headers`, sent as they are.
 * `retryAfter`, when set, also adds the headers that depend on the time of
 * the answer (Anthropic's `anthropic-ratelimit-*-reset` instants).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply: FakeLlmServer.ErrorReply = FakeLlmServer.error(418, { error: { message: "teapot" } })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorReply {
  readonly _tag: "Error"
  readonly status: number
  readonly body: unknown
  readonly headers: Readonly<Record<string, string>>
  readonly delay: Duration.Duration
  readonly retryAfter: Duration.Duration | undefined
}

/**
 * No answer: the connection is closed after `delay` (a network failure as
 * the client sees it).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply: FakeLlmServer.DropReply = FakeLlmServer.drop()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DropReply {
  readonly _tag: "Drop"
  readonly delay: Duration.Duration
}

/**
 * Everything the server can answer with.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const replies: ReadonlyArray<FakeLlmServer.Reply> = [
 *   FakeLlmServer.openAiError.rateLimited({ retryAfter: "2 seconds" }),
 *   FakeLlmServer.text("Hello")
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = TextReply | ToolCallReply | StreamReply | ErrorReply | DropReply

/**
 * The provider an endpoint belongs to.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const provider: FakeLlmServer.Provider = "anthropic"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic"

/**
 * A request as the server received it. Header names are lower case;
 * `authorization` and `x-api-key` are replaced by `"<redacted>"`.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const isLarge = (request: FakeLlmServer.Request): boolean => request.model === "gpt-large"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  /** 1 for the first request the server received, then 2, 3... */
  readonly n: number
  /** The server's `Clock` instant (milliseconds) when the request arrived. */
  readonly at: number
  readonly method: string
  /** The path with its query string, e.g. `/v1/messages?beta=true`. */
  readonly path: string
  readonly endpoint: Endpoint
  readonly provider: Provider
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body (`undefined` when it was not JSON). */
  readonly body: unknown
  readonly model: string | undefined
  readonly stream: boolean
}

/**
 * A request and the reply the server chose for it.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const describe = (recorded: FakeLlmServer.RecordedRequest): string =>
 *   `${recorded.path} -> ${recorded.reply?._tag}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest extends Request {
  /** The reply; `undefined` while it is being decided (during the latency of `faults`). */
  readonly reply: Reply | undefined
  /** Where the reply came from; `undefined` while it is being decided. */
  readonly source: "fault" | "queue" | "decide" | "default" | undefined
}

/**
 * How one endpoint answers: the `replies` queue is consumed one per request;
 * when it is empty, `decide` is asked (returning `undefined` passes), then
 * `default` answers (default: `text("Hello from fake")`).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const script: FakeLlmServer.Script = {
 *   replies: [FakeLlmServer.openAiError.serverError()],
 *   decide: (request) => request.model === "gpt-small" ? FakeLlmServer.openAiError.contextLengthExceeded() : undefined,
 *   default: FakeLlmServer.text("ok")
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  readonly replies?: ReadonlyArray<Reply> | undefined
  readonly decide?: ((request: Request) => Reply | undefined) | undefined
  readonly default?: Reply | undefined
}

/**
 * The server's options: the port (default 0, any free port; the host is
 * always 127.0.0.1), a script per endpoint, and optional faults injected
 * in front of every endpoint.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const options: FakeLlmServer.Options = {
 *   responses: { default: FakeLlmServer.text("from OpenAI") },
 *   messages: { replies: [FakeLlmServer.anthropicError.overloaded()] },
 *   faults: { errors: { unavailable: 0.2 }, seed: 42 }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly port?: number | undefined
  readonly responses?: Script | undefined
  readonly messages?: Script | undefined
  readonly chatCompletions?: Script | undefined
  /**
   * Faults decided before the script, by a `FaultInjection` injector shared
   * by all endpoints. An injected failure is sent as the provider's error for
   * its kind (e.g. `unavailable` → 503, `overloaded` → OpenAI 503 /
   * Anthropic 529, `rateLimited` → 429 with Retry-After, `network` → a dropped
   * connection); its latency delays the answer.
   */
  readonly faults?: FaultInjection.Config | undefined
}

/**
 * The running server.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeLlmServer.FakeLlmServer
 *   const requests = yield* server.requests
 *   return `${server.openAiUrl}: ${requests.length} requests`
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The `apiUrl` for `OpenAiClient`: `http://127.0.0.1:<port>/v1`. */
  readonly openAiUrl: string
  /** The `apiUrl` for `AnthropicClient`: `http://127.0.0.1:<port>` (the client adds `/v1/messages`). */
  readonly anthropicUrl: string
  /** Every request so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Waits until at least `n` requests have arrived. */
  readonly awaitRequests: (n: number) => Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Appends replies to an endpoint's queue. */
  readonly enqueue: (endpoint: Endpoint, ...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
}

/**
 * The fake server as a service.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const url = Effect.map(FakeLlmServer.FakeLlmServer, (server) => server.url)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class FakeLlmServer extends Context.Tag("@effect-resilience/testing/FakeLlmServer")<FakeLlmServer, Service>() {}

/**
 * Starts a server on 127.0.0.1 for the life of the scope.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const server = yield* FakeLlmServer.make({ responses: { default: FakeLlmServer.text("Hi") } })
 *   const response = yield* Effect.promise(() =>
 *     fetch(`${server.openAiUrl}/responses`, { method: "POST", body: JSON.stringify({ model: "gpt-4o", input: "hello" }) })
 *   )
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Service, ServeError | PolicyError.InvalidPolicyError, Scope.Scope> = internal.make

/**
 * The server as a scoped layer: it starts when the layer is built and stops
 * when the layer's scope closes.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeLlmServer.FakeLlmServer
 *   return server.anthropicUrl
 * }).pipe(Effect.provide(FakeLlmServer.layer({ messages: { default: FakeLlmServer.text("Hi") } })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeLlmServer, ServeError | PolicyError.InvalidPolicyError> =>
  Layer.scoped(FakeLlmServer, make(options))

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/**
 * The usage reported when a reply does not say: 12 input tokens, 4 output tokens.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const total = FakeLlmServer.defaultUsage.inputTokens + FakeLlmServer.defaultUsage.outputTokens // 16
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultUsage: Usage = { inputTokens: 12, outputTokens: 4 }

/**
 * Options every successful reply accepts.
 *
 * @example
 * ```ts
 * import type { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const options: FakeLlmServer.ReplyOptions = { delay: "2 seconds", usage: { inputTokens: 100, outputTokens: 20 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplyOptions {
  readonly usage?: Usage | undefined
  /** Time before the response starts. Default 0. */
  readonly delay?: Duration.DurationInput | undefined
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

const delayOf = (input: Duration.DurationInput | undefined): Duration.Duration =>
  input === undefined ? Duration.zero : Duration.decode(input)

/**
 * A successful text answer (default `"Hello from fake"`).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const slow = FakeLlmServer.text("Hi", { delay: "3 seconds", usage: { inputTokens: 5, outputTokens: 1 } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (text = "Hello from fake", options?: ReplyOptions): TextReply => ({
  _tag: "Text",
  text,
  usage: options?.usage ?? defaultUsage,
  delay: delayOf(options?.delay),
  headers: options?.headers ?? {}
})

/**
 * A successful answer that calls one tool with the given arguments.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.toolCall("getWeather", { city: "Paris" }, { id: "call_1" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCall = (
  name: string,
  args: Readonly<Record<string, unknown>>,
  options?: ReplyOptions & { readonly id?: string | undefined }
): ToolCallReply => ({
  _tag: "ToolCall",
  name,
  arguments: args,
  id: options?.id,
  usage: options?.usage ?? defaultUsage,
  delay: delayOf(options?.delay),
  headers: options?.headers ?? {}
})

/**
 * A text streamed as the given deltas, `interval` apart (default 0), ending
 * normally or as `interruption` says.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const broken = FakeLlmServer.stream(["a", "b", "c"], {
 *   delay: "500 millis",
 *   interval: "100 millis",
 *   interruption: FakeLlmServer.dropAfter(2)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = (
  deltas: ReadonlyArray<string>,
  options?: ReplyOptions & {
    readonly interval?: Duration.DurationInput | undefined
    readonly interruption?: Interruption | undefined
  }
): StreamReply => ({
  _tag: "Stream",
  deltas,
  usage: options?.usage ?? defaultUsage,
  delay: delayOf(options?.delay),
  interval: delayOf(options?.interval),
  interruption: options?.interruption,
  headers: options?.headers ?? {}
})

/**
 * Stops a stream after `after` deltas with the provider's in-stream error
 * (default: OpenAI `server_error`, Anthropic `overloaded_error`).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.errorEventAfter(1) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorEventAfter = (after: number, error?: StreamError): Interruption => ({
  _tag: "ErrorEvent",
  after,
  error
})

/**
 * Stops a stream after `after` deltas by closing the connection mid-body.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.dropAfter(1) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const dropAfter = (after: number): Interruption => ({ _tag: "Drop", after })

/**
 * Stops sending after `after` deltas and keeps the connection open (until
 * the client leaves or the server's scope closes).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.stallAfter(1) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stallAfter = (after: number): Interruption => ({ _tag: "Stall", after })

/**
 * Any HTTP error: a status, a JSON body and headers.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.error(
 *   502,
 *   { error: { message: "Bad gateway", type: "server_error", param: null, code: null } },
 *   { headers: { "x-should-retry": "true" } }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (
  status: number,
  body: unknown,
  options?: {
    readonly headers?: Readonly<Record<string, string>> | undefined
    readonly delay?: Duration.DurationInput | undefined
    readonly retryAfter?: Duration.DurationInput | undefined
  }
): ErrorReply => ({
  _tag: "Error",
  status,
  body,
  headers: options?.headers ?? {},
  delay: delayOf(options?.delay),
  retryAfter: options?.retryAfter === undefined ? undefined : Duration.decode(options.retryAfter)
})

/**
 * Closes the connection without answering, after `delay`.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const reply = FakeLlmServer.drop({ delay: "1 second" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const drop = (options?: { readonly delay?: Duration.DurationInput | undefined }): DropReply => ({
  _tag: "Drop",
  delay: delayOf(options?.delay)
})

/**
 * The errors OpenAI sends (also on Chat Completions), with the real status,
 * body `{"error":{"message","type","param","code"}}` and headers:
 *
 * - `rateLimited`: 429 `rate_limit_exceeded` of type `"requests"` or
 *   `"tokens"`, with `retry-after` (whole seconds, rounded up),
 *   `retry-after-ms`, `x-ratelimit-*` and `x-should-retry: true`;
 * - `insufficientQuota`: 429 `insufficient_quota` (permanent although a
 *   429), `x-should-retry: false`;
 * - `contextLengthExceeded`: 400 `context_length_exceeded`;
 * - `unauthorized`: 401 `invalid_api_key`;
 * - `serverError`: 500 `server_error`; `unavailable`: 503 (overloaded).
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const replies = [
 *   FakeLlmServer.openAiError.rateLimited({ retryAfter: "1500 millis", limit: "tokens" }),
 *   FakeLlmServer.openAiError.insufficientQuota(),
 *   FakeLlmServer.openAiError.contextLengthExceeded({ tokens: 130000, maximum: 128000 })
 * ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const openAiError: {
  readonly rateLimited: (options?: {
    readonly retryAfter?: Duration.DurationInput | undefined
    readonly limit?: "requests" | "tokens" | undefined
  }) => ErrorReply
  readonly insufficientQuota: () => ErrorReply
  readonly contextLengthExceeded: (
    options?: { readonly tokens?: number | undefined; readonly maximum?: number | undefined }
  ) => ErrorReply
  readonly unauthorized: () => ErrorReply
  readonly serverError: () => ErrorReply
  readonly unavailable: (options?: { readonly retryAfter?: Duration.DurationInput | undefined }) => ErrorReply
} = internal.openAiError

/**
 * The errors Anthropic sends, with the real status, body
 * `{"type":"error","error":{"type","message"}}` and headers:
 *
 * - `rateLimited`: 429 `rate_limit_error` with `retry-after`,
 *   `anthropic-ratelimit-requests-*` (reset as an RFC 3339 instant) and
 *   `x-should-retry: true`;
 * - `overloaded`: 529 `overloaded_error`;
 * - `promptTooLong`: 400 `invalid_request_error` "prompt is too long:
 *   210000 tokens > 200000 maximum";
 * - `unauthorized`: 401 `authentication_error`;
 * - `apiError`: 500 `api_error`.
 *
 * @example
 * ```ts
 * import { FakeLlmServer } from "@effect-resilience/testing"
 *
 * const replies = [
 *   FakeLlmServer.anthropicError.overloaded(),
 *   FakeLlmServer.anthropicError.rateLimited({ retryAfter: "30 seconds" }),
 *   FakeLlmServer.anthropicError.promptTooLong()
 * ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const anthropicError: {
  readonly rateLimited: (options?: { readonly retryAfter?: Duration.DurationInput | undefined }) => ErrorReply
  readonly overloaded: () => ErrorReply
  readonly promptTooLong: (
    options?: { readonly tokens?: number | undefined; readonly maximum?: number | undefined }
  ) => ErrorReply
  readonly unauthorized: () => ErrorReply
  readonly apiError: () => ErrorReply
} = internal.anthropicError
