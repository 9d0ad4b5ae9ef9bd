import { PolicyError, ProviderError } from "@effect-resilience/core"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Response from "@effect/ai/Response"
import type * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Hash from "effect/Hash"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as ChaosLanguageModel from "../ChaosLanguageModel.js"
import * as FaultInjection from "../FaultInjection.js"
import * as errors from "./errors.js"
import { Issues } from "./validate.js"

const moduleName = "ChaosLanguageModel"

// ---------------------------------------------------------------------------
// Wire shapes: what each provider's client raises for each kind of failure
// ---------------------------------------------------------------------------

/** How one provider answers one kind of failure: the status (when it differs from the kind's) and the body. */
interface WireError {
  readonly status?: number
  readonly contentType: string
  readonly body: (message: string) => unknown
}

const openAiBody = (type: string, code: string | null, fixed?: string) => (message: string) => ({
  error: { message: fixed ?? message, type, param: null, code }
})

const anthropicBody = (type: string, fixed?: string) => (message: string) => ({
  type: "error",
  error: { type, message: fixed ?? message }
})

/** A gateway's own answer: an HTML page, not the provider's JSON. */
const gatewayTimeout: WireError = {
  contentType: "text/html",
  body: () => "<html><body><h1>504 Gateway Time-out</h1></body></html>"
}

/** The error bodies of the OpenAI API (`{ error: { message, type, param, code } }`), per kind. */
export const openAiErrors: Record<Exclude<errors.Kind, "network">, WireError> = {
  rateLimited: {
    contentType: "application/json",
    body: openAiBody("requests", "rate_limit_exceeded")
  },
  quotaExhausted: {
    contentType: "application/json",
    body: openAiBody(
      "insufficient_quota",
      "insufficient_quota",
      "You exceeded your current quota, please check your plan and billing details."
    )
  },
  overloaded: { contentType: "application/json", body: openAiBody("server_error", null) },
  serverError: { contentType: "application/json", body: openAiBody("server_error", null) },
  unavailable: { contentType: "application/json", body: openAiBody("server_error", null) },
  timeout: gatewayTimeout,
  unauthorized: {
    contentType: "application/json",
    body: openAiBody("invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
  },
  invalidRequest: { contentType: "application/json", body: openAiBody("invalid_request_error", null) },
  contextLengthExceeded: {
    contentType: "application/json",
    body: openAiBody(
      "invalid_request_error",
      "context_length_exceeded",
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."
    )
  }
}

/** The error bodies of the Anthropic API (`{ type: "error", error: { type, message } }`), per kind. */
export const anthropicErrors: Record<Exclude<errors.Kind, "network">, WireError> = {
  rateLimited: { contentType: "application/json", body: anthropicBody("rate_limit_error") },
  // Anthropic answers an empty credit balance with a 400, not a 429.
  quotaExhausted: {
    status: 400,
    contentType: "application/json",
    body: anthropicBody(
      "invalid_request_error",
      "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."
    )
  },
  overloaded: { contentType: "application/json", body: anthropicBody("overloaded_error", "Overloaded") },
  serverError: { contentType: "application/json", body: anthropicBody("api_error", "Internal server error") },
  unavailable: { contentType: "application/json", body: anthropicBody("api_error") },
  timeout: { contentType: "application/json", body: anthropicBody("timeout_error") },
  unauthorized: { contentType: "application/json", body: anthropicBody("authentication_error", "invalid x-api-key") },
  invalidRequest: { contentType: "application/json", body: anthropicBody("invalid_request_error") },
  contextLengthExceeded: {
    contentType: "application/json",
    body: anthropicBody("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
  }
}

/** The client's module, its methods and the endpoint, per provider, as the real clients name them. */
const clients = {
  openai: {
    module: "OpenAiClient",
    generate: "createResponse",
    stream: "streamRequest",
    url: "https://api.openai.com/v1/responses",
    errors: openAiErrors
  },
  anthropic: {
    module: "AnthropicClient",
    generate: "createMessage",
    stream: "streamRequest",
    url: "https://api.anthropic.com/v1/messages",
    errors: anthropicErrors
  }
} as const

/** The kind of an injected error, read back from its reason (one reason per kind). */
export const kindOf = (error: ProviderError.ProviderError): errors.Kind => {
  for (const kind of errors.allKinds) {
    if (errors.kinds[kind].reason === error.reason) return kind
  }
  return "serverError"
}

/** The response headers of an injected failure: the content type and, when it has one, its Retry-After. */
const headersOf = (
  provider: ChaosLanguageModel.Provider,
  contentType: string,
  retryAfter: Duration.Duration | undefined
): Record<string, string> => {
  const headers: Record<string, string> = { "content-type": contentType }
  if (retryAfter !== undefined) {
    const millis = Math.ceil(Duration.toMillis(retryAfter))
    headers["retry-after"] = String(Math.ceil(millis / 1000))
    // OpenAI also sends the exact delay in milliseconds.
    if (provider === "openai") headers["retry-after-ms"] = String(millis)
  }
  return headers
}

/** Implements `ChaosLanguageModel.toAiError`, documented there. */
export const toAiError = (
  error: ProviderError.ProviderError,
  provider: ChaosLanguageModel.Provider,
  call: "generate" | "stream"
): AiError.AiError => {
  const client = clients[provider]
  const method = client[call]
  // No credential: the request's headers are the content type only.
  const request = {
    method: "POST" as const,
    url: client.url,
    urlParams: [],
    hash: Option.none(),
    headers: { "content-type": "application/json" }
  }
  const kind = kindOf(error)
  if (kind === "network") {
    return new AiError.HttpRequestError({
      module: client.module,
      method,
      reason: "Transport",
      request,
      description: error.message,
      cause: error
    })
  }
  const wire = client.errors[kind]
  const body = wire.body(errors.kinds[kind].message)
  return new AiError.HttpResponseError({
    module: client.module,
    method,
    reason: "StatusCode",
    request,
    response: {
      status: wire.status ?? error.status ?? 500,
      headers: headersOf(provider, wire.contentType, error.retryAfter)
    },
    // As `HttpResponseError.fromResponseError` keeps it: the body JSON-encoded, two spaces.
    body: JSON.stringify(body, null, 2),
    description: error.message
  })
}

/** Implements `ChaosLanguageModel.errorPart`, documented there. */
export const errorPart = (
  kind: errors.Kind,
  provider: ChaosLanguageModel.Provider,
  delivered: number
): Response.ErrorPartEncoded => {
  const wireKind = kind === "network" ? "serverError" : kind
  const body = clients[provider].errors[wireKind].body(errors.kinds[wireKind].message) as {
    readonly error: { readonly type: string; readonly code?: string | null; readonly message: string }
  }
  return provider === "openai"
    // The Responses API's `error` event, which the OpenAI client forwards whole.
    ? {
      type: "error",
      error: {
        type: "error",
        code: body.error.code ?? body.error.type,
        message: body.error.message,
        param: null,
        sequence_number: delivered
      }
    }
    // The Messages API's `error` event, of which the Anthropic client forwards the `error` field.
    : { type: "error", error: body.error }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

interface CheckedMidStream {
  readonly afterParts: number
  readonly rate: number
  readonly kind: errors.Kind
}

interface Checked {
  readonly provider: ChaosLanguageModel.Provider
  readonly midStream: CheckedMidStream | undefined
}

const check = (
  options: ChaosLanguageModel.WrapOptions | undefined
): Checked | PolicyError.InvalidPolicyError => {
  const issues = new Issues()
  const provider = options?.provider ?? "openai"
  if (provider !== "openai" && provider !== "anthropic") {
    issues.add("provider", `must be "openai" or "anthropic", got ${String(provider)}`)
  }
  let midStream: CheckedMidStream | undefined
  if (options?.midStream !== undefined) {
    const afterParts = issues.wholeNumber("midStream.afterParts", options.midStream.afterParts, 0)
    const rate = options.midStream.rate === undefined ? 1 : issues.probability("midStream.rate", options.midStream.rate)
    const kind = options.midStream.error ?? (provider === "anthropic" ? "overloaded" : "serverError")
    if (!errors.isKind(kind)) issues.add("midStream.error", `unknown kind; one of ${errors.allKinds.join(", ")}`)
    else midStream = { afterParts, rate, kind }
  }
  return issues.list.length > 0
    ? new PolicyError.InvalidPolicyError({ policy: "chaos language model", issues: issues.list })
    : { provider, midStream }
}

// ---------------------------------------------------------------------------
// The inner call
// ---------------------------------------------------------------------------

/** A toolkit for the inner call: its tools' schemas only, since the inner call never runs a handler. */
const toolkitOf = (tools: ReadonlyArray<Tool.Any>): Toolkit.WithHandler<any> | undefined =>
  tools.length === 0 ? undefined : {
    tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
    handle: () => Effect.dieMessage("ChaosLanguageModel: the inner model must not run tool handlers")
  }

/** The options of the inner model's call: the prompt, and the tools' schemas with tool call resolution off. */
const request = (providerOptions: LanguageModel.ProviderOptions, toolkit: Toolkit.WithHandler<any> | undefined) =>
  toolkit === undefined
    ? { prompt: providerOptions.prompt }
    : {
      prompt: providerOptions.prompt,
      toolkit,
      toolChoice: providerOptions.toolChoice,
      // The outer service resolves the tool calls, once, after the provider call.
      disableToolCallResolution: true as const
    }

const malformed = (method: string) => (error: ParseResult.ParseError) =>
  AiError.MalformedOutput.fromParseError({ module: moduleName, method, error })

/** Whether a part carries content: the parts a consumer has received when it counts what was delivered. */
const isContent = (part: Response.StreamPartEncoded): boolean =>
  part.type === "text-delta" || part.type === "reasoning-delta" || part.type === "tool-params-delta" ||
  part.type === "tool-call"

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/** Implements `ChaosLanguageModel.wrap`, documented there. */
export const wrap = (
  inner: LanguageModel.Service,
  injector: FaultInjection.Injector,
  options?: ChaosLanguageModel.WrapOptions
): Effect.Effect<LanguageModel.Service, PolicyError.InvalidPolicyError> =>
  Effect.suspend(() => {
    const checked = check(options)
    if (checked instanceof PolicyError.InvalidPolicyError) return Effect.fail(checked)
    const { midStream, provider } = checked
    // With a seed of its own, the mid-stream draws come from a generator of their own too, derived from it.
    const ownRandom = options?.seed === undefined
      ? undefined
      : Random.make(Hash.combine(Hash.hash(options.seed))(Hash.string("ChaosLanguageModel/midStream")))
    const next: Effect.Effect<number> = ownRandom === undefined ? Random.next : ownRandom.next

    const injected = (call: "generate" | "stream") => (error: AiError.AiError | ProviderError.ProviderError) =>
      ProviderError.isProviderError(error) ? toAiError(error, provider, call) : error

    const generateText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
      Effect.gen(function*() {
        const toolkit = toolkitOf(providerOptions.tools)
        const format = providerOptions.responseFormat
        const call: Effect.Effect<LanguageModel.GenerateTextResponse<any>, AiError.AiError> = format.type === "json"
          ? (inner.generateObject as any)({
            ...request(providerOptions, toolkit),
            schema: format.schema,
            objectName: format.objectName
          })
          : (inner.generateText as any)(request(providerOptions, toolkit))
        const response = yield* Effect.mapError(injector.inject(call), injected("generate"))
        return yield* Effect.mapError(
          Schema.encode(Schema.Array(Response.Part(toolkit ?? Toolkit.empty)))(response.content as any),
          malformed("generateText")
        ) as Effect.Effect<Array<Response.PartEncoded>, AiError.AiError>
      })

    const faultAfter = (spec: CheckedMidStream) =>
    (
      parts: Stream.Stream<Response.StreamPartEncoded, AiError.AiError>
    ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> =>
      Stream.suspend(() => {
        let delivered = 0
        let fault: Response.StreamPartEncoded | undefined
        const draw: Effect.Effect<Array<Response.StreamPartEncoded>> = Effect.map(
          spec.rate >= 1 ? Effect.succeed(0) : next,
          (u) => {
            if (u >= spec.rate) return []
            fault = errorPart(spec.kind, provider, delivered)
            return [fault]
          }
        )
        const body = Stream.mapConcatEffect(parts, (part) =>
          isContent(part) && ++delivered === spec.afterParts
            ? Effect.map(draw, (extra) => [part, ...extra])
            : Effect.succeed([part]))
        const all = spec.afterParts === 0 ? Stream.concat(Stream.fromIterableEffect(draw), body) : body
        // The provider closes the stream after its error event.
        return Stream.takeUntil(all, (part) => part === fault)
      })

    const streamText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> => {
      const toolkit = toolkitOf(providerOptions.tools)
      const encode = Schema.encode(Schema.ChunkFromSelf(Response.StreamPart(toolkit ?? Toolkit.empty)))
      const parts = (inner.streamText as any)(request(providerOptions, toolkit)) as Stream.Stream<
        Response.StreamPart<any>,
        AiError.AiError
      >
      // The injector decides when the stream is opened: a fault there is a failure to open, before any part.
      const opened = Stream.unwrap(
        Effect.mapError(injector.inject(Effect.succeed(parts)), injected("stream"))
      ).pipe(Stream.mapChunksEffect((chunk) => Effect.mapError(encode(chunk), malformed("streamText"))))
      return midStream === undefined ? opened : faultAfter(midStream)(opened)
    }

    return LanguageModel.make({ generateText, streamText })
  })

/** Implements `ChaosLanguageModel.make`, documented there. */
export const make = (
  config: ChaosLanguageModel.Config = {}
): Effect.Effect<LanguageModel.Service, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const inner = yield* LanguageModel.LanguageModel
    const { midStream: _, ...faults } = config
    const injector = yield* FaultInjection.make({ ...faults, provider: config.provider ?? "openai" })
    return yield* wrap(inner, injector, config)
  })

/** Implements `ChaosLanguageModel.layer`, documented there. */
export const layer = (
  config: ChaosLanguageModel.Config = {}
): Layer.Layer<LanguageModel.LanguageModel, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(config))
