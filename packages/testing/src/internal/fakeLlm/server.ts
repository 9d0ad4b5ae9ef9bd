/**
 * The fake LLM server: an `HttpRouter` on a Node HTTP server bound to
 * 127.0.0.1, a script per endpoint, optional fault injection, and a record
 * of every request.
 */
import type { PolicyError, ProviderError } from "@effect-resilience/core"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Http from "node:http"
import type * as FakeLlmServer from "../../FakeLlmServer.js"
import * as FaultInjection from "../../FaultInjection.js"
import * as wire from "./wire.js"

// ---------------------------------------------------------------------------
// Reply constructors used here (the public module re-exports the helpers)
// ---------------------------------------------------------------------------

const noDelay = Duration.zero

/** Sleeps on the current `Clock`, but not at all for a zero duration (so zero delays never wait for a `TestClock`). */
const pause = (duration: Duration.Duration): Effect.Effect<void> =>
  Duration.isZero(duration) ? Effect.void : Effect.sleep(duration)

/** Builds an error reply; `retryAfter` also sets `retry-after` and `retry-after-ms`. */
export const errorReply = (
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>>,
  retryAfter?: Duration.DurationInput | undefined
): FakeLlmServer.ErrorReply => {
  const after = retryAfter === undefined ? undefined : Duration.decode(retryAfter)
  const millis = after === undefined ? undefined : Math.max(0, Math.round(Duration.toMillis(after)))
  return {
    _tag: "Error",
    status,
    body,
    headers: millis === undefined
      ? headers
      : { "retry-after": String(Math.ceil(millis / 1000)), "retry-after-ms": String(millis), ...headers },
    delay: noDelay,
    retryAfter: after
  }
}

/** A duration as OpenAI writes its `x-ratelimit-reset-*` headers (Go's `time.Duration` format): `"120ms"`, `"1.5s"`, `"6m0s"`. */
export const goDuration = (millis: number): string => {
  if (millis < 1000) return `${millis}ms`
  if (millis < 60_000) return `${millis / 1000}s`
  const minutes = Math.floor(millis / 60_000)
  return `${minutes}m${(millis - minutes * 60_000) / 1000}s`
}

const openAiBody = (message: string, type: string, param: string | null, code: string | null) => ({
  error: { message, type, param, code }
})

/** OpenAI's errors as the real API sends them. */
export const openAiError: typeof FakeLlmServer.openAiError = {
  rateLimited: (options) => {
    const limit = options?.limit ?? "requests"
    const millis = Math.round(Duration.toMillis(Duration.decode(options?.retryAfter ?? "1 second")))
    const unit = limit === "requests" ?
      "requests per min (RPM): Limit 500, Used 500, Requested 1" :
      "tokens per min (TPM): Limit 30000, Used 29800, Requested 600"
    return errorReply(
      429,
      openAiBody(
        `Rate limit reached for gpt-4o in organization org-fake on ${unit}. Please try again in ${
          goDuration(millis)
        }. ` +
          "Visit https://platform.openai.com/account/rate-limits to learn more.",
        limit,
        null,
        "rate_limit_exceeded"
      ),
      {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": limit === "requests" ? "0" : "499",
        "x-ratelimit-reset-requests": limit === "requests" ? goDuration(millis) : "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": limit === "tokens" ? "200" : "29000",
        "x-ratelimit-reset-tokens": limit === "tokens" ? goDuration(millis) : "2ms",
        "x-should-retry": "true"
      },
      Duration.millis(millis)
    )
  },
  insufficientQuota: () =>
    errorReply(
      429,
      openAiBody(
        "You exceeded your current quota, please check your plan and billing details. For more information on " +
          "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        null,
        "insufficient_quota"
      ),
      { "x-should-retry": "false" }
    ),
  contextLengthExceeded: (options) =>
    errorReply(
      400,
      openAiBody(
        `This model's maximum context length is ${options?.maximum ?? 128000} tokens. However, your messages ` +
          `resulted in ${options?.tokens ?? 130000} tokens. Please reduce the length of the messages.`,
        "invalid_request_error",
        "messages",
        "context_length_exceeded"
      ),
      { "x-should-retry": "false" }
    ),
  unauthorized: () =>
    errorReply(
      401,
      openAiBody(
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        null,
        "invalid_api_key"
      ),
      { "x-should-retry": "false" }
    ),
  serverError: () =>
    errorReply(
      500,
      openAiBody(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        null,
        null
      ),
      { "x-should-retry": "true" }
    ),
  unavailable: (options) =>
    errorReply(
      503,
      openAiBody("The engine is currently overloaded, please try again later.", "server_error", null, null),
      { "x-should-retry": "true" },
      options?.retryAfter
    )
}

const anthropicBody = (type: string, message: string) => ({ type: "error", error: { type, message } })

/** Anthropic's errors as the real API sends them. */
export const anthropicError: typeof FakeLlmServer.anthropicError = {
  rateLimited: (options) =>
    errorReply(
      429,
      anthropicBody(
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. " +
          "For details, refer to: https://docs.claude.com/en/api/rate-limits."
      ),
      {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "x-should-retry": "true"
      },
      options?.retryAfter ?? "1 second"
    ),
  overloaded: () => errorReply(529, anthropicBody("overloaded_error", "Overloaded"), { "x-should-retry": "true" }),
  promptTooLong: (options) =>
    errorReply(
      400,
      anthropicBody(
        "invalid_request_error",
        `prompt is too long: ${options?.tokens ?? 210000} tokens > ${options?.maximum ?? 200000} maximum`
      ),
      { "x-should-retry": "false" }
    ),
  unauthorized: () =>
    errorReply(401, anthropicBody("authentication_error", "invalid x-api-key"), { "x-should-retry": "false" }),
  apiError: () => errorReply(500, anthropicBody("api_error", "Internal server error"), { "x-should-retry": "true" })
}

const defaultReply: FakeLlmServer.TextReply = {
  _tag: "Text",
  text: "Hello from fake",
  usage: { inputTokens: 12, outputTokens: 4 },
  delay: noDelay,
  headers: {}
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/** The provider's answer to an injected failure, by the failure's reason. */
export const faultReply = (
  endpoint: FakeLlmServer.Endpoint,
  error: ProviderError.ProviderError
): FakeLlmServer.Reply => {
  const anthropic = endpoint === "messages"
  const retryAfter = error.retryAfter
  switch (error.reason) {
    case "RateLimited":
      return anthropic ? anthropicError.rateLimited({ retryAfter }) : openAiError.rateLimited({ retryAfter })
    case "Overloaded":
      return anthropic ? anthropicError.overloaded() : openAiError.unavailable({ retryAfter })
    case "Unavailable":
      return anthropic
        ? errorReply(503, anthropicBody("api_error", "Service unavailable"), { "x-should-retry": "true" }, retryAfter)
        : openAiError.unavailable({ retryAfter })
    case "Timeout":
      return anthropic
        ? errorReply(504, anthropicBody("timeout_error", "Request timeout"), { "x-should-retry": "true" })
        : errorReply(504, openAiBody("Gateway timeout.", "server_error", null, null), { "x-should-retry": "true" })
    case "Network":
      return { _tag: "Drop", delay: noDelay }
    case "Authentication":
      return anthropic ? anthropicError.unauthorized() : openAiError.unauthorized()
    case "QuotaExhausted":
      return anthropic
        ? errorReply(
          400,
          anthropicBody(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade " +
              "or purchase credits."
          ),
          { "x-should-retry": "false" }
        )
        : openAiError.insufficientQuota()
    case "ContextLengthExceeded":
      return anthropic ? anthropicError.promptTooLong() : openAiError.contextLengthExceeded()
    case "ServerError":
      return anthropic ? anthropicError.apiError() : openAiError.serverError()
    default:
      return anthropic
        ? errorReply(400, anthropicBody("invalid_request_error", error.message), { "x-should-retry": "false" })
        : errorReply(400, openAiBody(error.message, "invalid_request_error", null, null), { "x-should-retry": "false" })
  }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

const defaultStreamError = (endpoint: FakeLlmServer.Endpoint): FakeLlmServer.StreamError =>
  endpoint === "messages"
    ? { code: "overloaded_error", message: "Overloaded" }
    : { code: "server_error", message: "The server had an error while processing your request. Sorry about that!" }

/** The HTTP status Anthropic sends for each error type. */
const anthropicStatus: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529
}

/** A stream's in-band error as the error a non-streaming call gets instead. */
const streamErrorAsReply = (
  endpoint: FakeLlmServer.Endpoint,
  error: FakeLlmServer.StreamError
): FakeLlmServer.ErrorReply =>
  endpoint === "messages"
    ? errorReply(anthropicStatus[error.code] ?? 500, anthropicBody(error.code, error.message), {})
    : errorReply(500, openAiBody(error.message, "server_error", null, error.code), {})

const contentOf = (reply: FakeLlmServer.TextReply | FakeLlmServer.ToolCallReply | FakeLlmServer.StreamReply) =>
  reply._tag === "ToolCall"
    ? { _tag: "ToolCall" as const, name: reply.name, arguments: reply.arguments, id: reply.id }
    : { _tag: "Text" as const, deltas: reply._tag === "Text" ? [reply.text] : reply.deltas }

/** Closes the connection after what was written so far is flushed, without ending the HTTP response. */
const dropConnection = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.sync(() => {
    const response = NodeHttpServerRequest.toServerResponse(request)
    const socket = response.socket
    if (socket === null) response.destroy()
    else socket.destroySoon()
  })

const requestIdHeaders = (endpoint: FakeLlmServer.Endpoint, n: number): Record<string, string> =>
  endpoint === "messages" ? { "request-id": `req_fake_${n}` } : { "x-request-id": `req_fake_${n}` }

const render = (
  request: FakeLlmServer.Request,
  reply: FakeLlmServer.Reply,
  serverRequest: HttpServerRequest.HttpServerRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function*() {
    const endpoint = request.endpoint
    yield* pause(reply.delay)
    switch (reply._tag) {
      case "Drop": {
        yield* dropConnection(serverRequest)
        return yield* Effect.never
      }
      case "Error": {
        const headers: Record<string, string> = { ...requestIdHeaders(endpoint, request.n), ...reply.headers }
        if (endpoint === "messages" && reply.retryAfter !== undefined) {
          const now = yield* Clock.currentTimeMillis
          headers["anthropic-ratelimit-requests-reset"] ??= new Date(now + Duration.toMillis(reply.retryAfter))
            .toISOString().replace(/\.\d{3}Z$/, "Z")
        }
        return HttpServerResponse.unsafeJson(reply.body, { status: reply.status, headers })
      }
    }
    const headers = { ...requestIdHeaders(endpoint, request.n), ...reply.headers }
    const content = contentOf(reply)
    const now = yield* Clock.currentTimeMillis
    const ids: wire.Ids = { n: request.n, createdAt: Math.floor(now / 1000), model: request.model ?? "fake-model" }
    const interruption = reply._tag === "Stream" ? reply.interruption : undefined
    if (!request.stream) {
      if (interruption?._tag === "ErrorEvent") {
        return yield* render(
          request,
          streamErrorAsReply(endpoint, interruption.error ?? defaultStreamError(endpoint)),
          serverRequest
        )
      }
      if (interruption?._tag === "Drop") return yield* render(request, { _tag: "Drop", delay: noDelay }, serverRequest)
      if (interruption?._tag === "Stall") return yield* Effect.never
      const body = endpoint === "responses"
        ? wire.responsesJson(content, reply.usage, ids)
        : endpoint === "messages"
        ? wire.messagesJson(content, reply.usage, ids)
        : wire.chatJson(content, reply.usage, ids)
      return HttpServerResponse.unsafeJson(body, { headers })
    }
    const body = request.body as { readonly stream_options?: { readonly include_usage?: unknown } } | undefined
    const plan = endpoint === "responses"
      ? wire.responsesStream(content, reply.usage, ids)
      : endpoint === "messages"
      ? wire.messagesStream(content, reply.usage, ids)
      : wire.chatStream(content, reply.usage, ids, body?.stream_options?.include_usage === true)
    const interval = reply._tag === "Stream" ? reply.interval : noDelay
    const sent = interruption === undefined ? plan.deltas : plan.deltas.slice(0, Math.max(0, interruption.after))
    const deltas = Stream.fromIterable(sent).pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(([event, i]) => i === 0 ? Effect.succeed(event) : Effect.as(pause(interval), event))
    )
    const end: Stream.Stream<wire.SseEvent> = interruption === undefined
      ? Stream.fromIterable(plan.suffix)
      : interruption._tag === "ErrorEvent"
      ? Stream.fromIterable(plan.failure(interruption.error ?? defaultStreamError(endpoint), sent.length))
      : interruption._tag === "Drop"
      ? Stream.concat(Stream.drain(Stream.fromEffect(dropConnection(serverRequest))), Stream.never)
      : Stream.never
    return HttpServerResponse.stream(
      Stream.fromIterable(plan.prefix).pipe(
        Stream.concat(deltas),
        Stream.concat(end),
        Stream.map(wire.encodeSse),
        Stream.encodeText
      ),
      { contentType: "text/event-stream", headers: { "cache-control": "no-cache", ...headers } }
    )
  })

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

const secretHeaders = new Set(["authorization", "x-api-key", "api-key", "proxy-authorization", "cookie"])

/** A request's headers with every credential replaced by `"<redacted>"`. */
export const redactHeaders = (headers: Readonly<Record<string, string>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = secretHeaders.has(name.toLowerCase()) ? "<redacted>" : value
  }
  return out
}

/** Starts the server for the life of the scope. */
export const make = (
  options: FakeLlmServer.Options = {}
): Effect.Effect<FakeLlmServer.Service, ServeError | PolicyError.InvalidPolicyError, Scope.Scope> =>
  Effect.gen(function*() {
    const injector = options.faults === undefined ? undefined : yield* FaultInjection.make(options.faults)
    const queues = yield* Ref.make<Readonly<Record<FakeLlmServer.Endpoint, ReadonlyArray<FakeLlmServer.Reply>>>>({
      responses: options.responses?.replies ?? [],
      messages: options.messages?.replies ?? [],
      chatCompletions: options.chatCompletions?.replies ?? []
    })
    const counter = yield* Ref.make(0)
    const recorded = yield* SubscriptionRef.make<ReadonlyArray<FakeLlmServer.RecordedRequest>>([])

    const choose = (
      request: FakeLlmServer.Request
    ): Effect.Effect<readonly [FakeLlmServer.Reply, NonNullable<FakeLlmServer.RecordedRequest["source"]>]> =>
      Effect.gen(function*() {
        if (injector !== undefined) {
          const injected = yield* Effect.either(injector.inject(Effect.void))
          if (Either.isLeft(injected)) return [faultReply(request.endpoint, injected.left), "fault"] as const
        }
        const queued = yield* Ref.modify(queues, (all) => {
          const queue = all[request.endpoint]
          return [queue[0], queue.length === 0 ? all : { ...all, [request.endpoint]: queue.slice(1) }] as const
        })
        if (queued !== undefined) return [queued, "queue"] as const
        const script = options[request.endpoint]
        const decided = script?.decide?.(request)
        if (decided !== undefined) return [decided, "decide"] as const
        return [script?.default ?? defaultReply, "default"] as const
      })

    const handle = (endpoint: FakeLlmServer.Endpoint) =>
      Effect.gen(function*() {
        const serverRequest = yield* HttpServerRequest.HttpServerRequest
        const body: unknown = yield* Effect.orElseSucceed(serverRequest.json, () => undefined)
        const at = yield* Clock.currentTimeMillis
        const n = yield* Ref.updateAndGet(counter, (n) => n + 1)
        const fields = typeof body === "object" && body !== null ? body as Record<string, unknown> : {}
        const request: FakeLlmServer.Request = {
          n,
          at,
          method: serverRequest.method,
          path: serverRequest.url,
          endpoint,
          provider: endpoint === "messages" ? "anthropic" : "openai",
          headers: redactHeaders(serverRequest.headers),
          body,
          model: typeof fields.model === "string" ? fields.model : undefined,
          stream: fields.stream === true
        }
        yield* SubscriptionRef.update(recorded, (all) => [...all, { ...request, reply: undefined, source: undefined }])
        const [reply, source] = yield* choose(request)
        yield* SubscriptionRef.update(
          recorded,
          (all) => all.map((entry) => entry.n === n ? { ...entry, reply, source } : entry)
        )
        return yield* render(request, reply, serverRequest)
      })

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/v1/responses", handle("responses")),
      HttpRouter.post("/v1/messages", handle("messages")),
      HttpRouter.post("/v1/chat/completions", handle("chatCompletions"))
    )

    const nodeServer = Http.createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { port: options.port ?? 0, host: "127.0.0.1" })
    // Runs before the server's own `close`, which would otherwise wait for open (e.g. stalled) responses forever.
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* server.serve(router)

    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const url = `http://127.0.0.1:${port}`

    return {
      url,
      port,
      openAiUrl: `${url}/v1`,
      anthropicUrl: url,
      requests: SubscriptionRef.get(recorded),
      awaitRequests: (count: number) =>
        recorded.changes.pipe(
          Stream.filter((all) => all.length >= count),
          Stream.runHead,
          Effect.map((all) => all._tag === "Some" ? all.value : [])
        ),
      enqueue: (endpoint: FakeLlmServer.Endpoint, ...replies: ReadonlyArray<FakeLlmServer.Reply>) =>
        Ref.update(queues, (all) => ({ ...all, [endpoint]: [...all[endpoint], ...replies] }))
    }
  })
