import { Classify, type PolicyError, Resilience } from "@effect-resilience/core"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Response from "@effect/ai/Response"
import * as Tokenizer from "@effect/ai/Tokenizer"
import type * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Span } from "effect/Tracer"
import * as AiClassify from "../AiClassify.js"
import type * as ResilientLanguageModel from "../ResilientLanguageModel.js"
import * as StreamGuard from "../StreamGuard.js"
import { observingHeaders, observingStream } from "./providerHeaders.js"
import { learnSecrets, redact, redactingTracer } from "./redact.js"

const moduleName = "ResilientLanguageModel"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** `toAiError` for the decorator named `module` (the `module` of the `UnknownError`s it raises). */
export const toAiErrorIn = (module: string) => (method: string) => (error: unknown): AiError.AiError =>
  // The clients' errors keep the request's headers (the API key among them): redacted before they leave.
  redact(
    AiError.isAiError(error) ? error : new AiError.UnknownError({
      module,
      method,
      // The messages of this library's errors name keys, reasons and durations, never a credential.
      description: error instanceof Error ? error.message : "the call failed in the resilience layer",
      cause: error
    })
  )

/** Implements `ResilientLanguageModel.toAiError`, documented there. */
export const toAiError: (method: string) => (error: unknown) => AiError.AiError = toAiErrorIn(moduleName)

/** Implements `ResilientLanguageModel.rejection`, documented there. */
export const rejection = (error: AiError.AiError): Option.Option<Resilience.PolicyRejection> =>
  error._tag === "UnknownError" && Resilience.isPolicyRejection(error.cause) ? Option.some(error.cause) : Option.none()

/** Implements `ResilientLanguageModel.interruption`, documented there. */
export const interruption = (error: AiError.AiError): Option.Option<StreamGuard.StreamInterruptedError> =>
  error._tag === "UnknownError" && StreamGuard.isStreamInterruptedError(error.cause)
    ? Option.some(error.cause)
    : Option.none()

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

const jsonLength = (u: unknown): number => {
  try {
    return JSON.stringify(u)?.length ?? 0
  } catch {
    return 0
  }
}

/** Implements `ResilientLanguageModel.estimateTokens`, documented there. */
export const estimateTokens = (prompt: Prompt.Prompt): number => {
  let chars = 0
  for (const message of prompt.content) {
    if (typeof message.content === "string") {
      chars += message.content.length
      continue
    }
    for (const part of message.content as ReadonlyArray<Prompt.Part>) {
      switch (part.type) {
        case "text":
        case "reasoning":
          chars += part.text.length
          break
        case "tool-call":
          chars += jsonLength(part.params)
          break
        case "tool-result":
          chars += jsonLength(part.result)
          break
      }
    }
  }
  return Math.ceil(chars / 4)
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/** A toolkit for the inner call: its tools' schemas only, since the inner call never runs a handler. */
export const toolkitOf = (tools: ReadonlyArray<Tool.Any>): Toolkit.WithHandler<any> | undefined => {
  if (tools.length === 0) return undefined
  // The same tools give the same toolkit, so that its part codecs (below) are built once, not per call.
  const key = tools.map((tool) => tool.name).join("\u0000")
  const cached = toolkits.get(key)
  if (cached !== undefined && cached.tools.length === tools.length && cached.tools.every((t, i) => t === tools[i])) {
    return cached.toolkit
  }
  const toolkit: Toolkit.WithHandler<any> = {
    tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
    handle: () => Effect.dieMessage("ResilientLanguageModel: the inner model must not run tool handlers")
  }
  // A bound, not an eviction policy: an application has a handful of toolkits.
  if (toolkits.size >= 256) toolkits.clear()
  toolkits.set(key, { tools: Array.from(tools), toolkit })
  return toolkit
}

const toolkits = new Map<
  string,
  { readonly tools: ReadonlyArray<Tool.Any>; readonly toolkit: Toolkit.WithHandler<any> }
>()

type PartsEncoder = (parts: ReadonlyArray<Response.Part<any>>) => Effect.Effect<unknown, ParseResult.ParseError>
type StreamEncoder = (
  chunk: Chunk.Chunk<Response.StreamPart<any>>
) => Effect.Effect<Chunk.Chunk<Response.StreamPartEncoded>, ParseResult.ParseError>

// Building a parts schema and its encoder costs ~30 µs (measured by `pnpm bench`): once per toolkit.
/** `build` for a toolkit (no tools: the empty toolkit), made once per toolkit and kept while the toolkit lives. */
const oncePerToolkit = <A>(build: (toolkit: Toolkit.WithHandler<any> | Toolkit.Toolkit<{}>) => A) => {
  const made = new WeakMap<object, A>()
  return (toolkit: Toolkit.WithHandler<any> | undefined): A => {
    const key = toolkit ?? Toolkit.empty
    let value = made.get(key)
    if (value === undefined) {
      value = build(key)
      made.set(key, value)
    }
    return value
  }
}

/** The encoder of a response's parts for a toolkit, built once per toolkit. */
export const partsEncoder: (toolkit: Toolkit.WithHandler<any> | undefined) => PartsEncoder = oncePerToolkit((
  toolkit
) => Schema.encode(Schema.Array(Response.Part(toolkit))) as PartsEncoder)

/** The encoder of a stream's chunks of parts for a toolkit, built once per toolkit. */
export const streamEncoder: (toolkit: Toolkit.WithHandler<any> | undefined) => StreamEncoder = oncePerToolkit((
  toolkit
) => Schema.encode(Schema.ChunkFromSelf(Response.StreamPart(toolkit))) as StreamEncoder)

/** Turns a failure to encode the response into the `MalformedOutput` error `LanguageModel` itself raises. */
export const malformed = (method: string, module: string = moduleName) => (error: ParseResult.ParseError) =>
  AiError.MalformedOutput.fromParseError({ module, method, error })

/** Splits `"provider/model"` into its two parts (the model is `undefined` without a `/`). */
export const splitKey = (key: string): readonly [string, string | undefined] => {
  const slash = key.indexOf("/")
  return slash < 0 ? [key, undefined] : [key.slice(0, slash), key.slice(slash + 1)]
}

/**
 * Counts a prompt's tokens for the rate limiter: with `estimate` when given (`false`: 0), else with the
 * `Tokenizer` in context at the call or at build time, else with `estimateTokens`.
 */
export const tokenCounter = (
  estimate: ((prompt: Prompt.Prompt) => number) | false | undefined,
  tokenizerAtBuild: Option.Option<Tokenizer.Service>
) =>
(prompt: Prompt.Prompt): Effect.Effect<number> => {
  if (estimate === false) return Effect.succeed(0)
  if (estimate !== undefined) return Effect.sync(() => estimate(prompt))
  return Effect.flatMap(Effect.serviceOption(Tokenizer.Tokenizer), (atCall) => {
    const tokenizer = Option.orElse(atCall, () => tokenizerAtBuild)
    return Option.isNone(tokenizer)
      ? Effect.sync(() => estimateTokens(prompt))
      : Effect.orElse(
        Effect.map(tokenizer.value.tokenize(prompt), (tokens) => tokens.length),
        () => Effect.sync(() => estimateTokens(prompt))
      )
  })
}

/** The options of the inner model's call: the prompt, and the tools' schemas with tool call resolution off. */
export const request = (
  providerOptions: LanguageModel.ProviderOptions,
  toolkit: Toolkit.WithHandler<any> | undefined
) =>
  toolkit === undefined
    ? { prompt: providerOptions.prompt }
    : {
      prompt: providerOptions.prompt,
      toolkit,
      toolChoice: providerOptions.toolChoice,
      // The outer service resolves the tool calls, once, after the (possibly retried) provider call.
      disableToolCallResolution: true as const
    }

/** The inner model's `generateText`, or its `generateObject` when the outer call asked for JSON. */
export const innerGenerate = (
  inner: LanguageModel.Service,
  providerOptions: LanguageModel.ProviderOptions,
  toolkit: Toolkit.WithHandler<any> | undefined,
  headersTo?: { readonly resilience: Resilience.Service; readonly key: string }
): Effect.Effect<LanguageModel.GenerateTextResponse<any>, AiError.AiError> => {
  const format = providerOptions.responseFormat
  const call: Effect.Effect<LanguageModel.GenerateTextResponse<any>, AiError.AiError> = format.type === "json"
    ? (inner.generateObject as any)({
      ...request(providerOptions, toolkit),
      schema: format.schema,
      objectName: format.objectName
    })
    : (inner.generateText as any)(request(providerOptions, toolkit))
  // The provider's rate-limit headers feed the pipeline's admission for the key, successes included.
  const observed = headersTo === undefined ? call : observingHeaders(call, headersTo.resilience, headersTo.key)
  // Redacted before the pipeline sees them, so that its spans and events never hold a credential; and the inner
  // model's own spans, which record its failure first, are made by a tracer that redacts what they record.
  const known = secretsOf(inner)
  return Effect.tracerWith((tracer) =>
    Effect.mapError(Effect.withTracer(observed, redactingTracer(tracer, known)), (error) => {
      learnSecrets(error, known)
      return redact(error)
    })
  )
}

/**
 * The credentials seen in the errors of an inner model (the values of their sensitive request headers), kept
 * while the model lives: its spans' strings are scrubbed of them even before a failure shows them again.
 */
const secretsOf = (inner: LanguageModel.Service): Set<string> => {
  let known = secrets.get(inner)
  if (known === undefined) {
    known = new Set()
    secrets.set(inner, known)
  }
  return known
}

const secrets = new WeakMap<LanguageModel.Service, Set<string>>()

/** Names the provider, model and key of a call on its `LanguageModel.*` span. */
export const annotateCall = (span: Span, key: string, system: string, model: string | undefined): void => {
  span.attribute("gen_ai.system", system)
  if (model !== undefined) span.attribute("gen_ai.request.model", model)
  span.attribute("resilience.key", key)
}

/**
 * Names the provider and model on the current span: inside the pipeline, the
 * `resilience.attempt` span of the call (or the `LanguageModel.*` span when
 * the pipeline makes no spans).
 */
export const annotateAttempt = (system: string, model: string | undefined): Effect.Effect<void> =>
  Effect.annotateCurrentSpan(
    model === undefined ? { "gen_ai.system": system } : { "gen_ai.system": system, "gen_ai.request.model": model }
  )

/** The inner model's stream for the outer call, tool calls left unresolved, its errors redacted. */
export const innerStream = (
  inner: LanguageModel.Service,
  providerOptions: LanguageModel.ProviderOptions,
  toolkit: Toolkit.WithHandler<any> | undefined
): Stream.Stream<Response.StreamPart<any>, AiError.AiError> => {
  const known = secretsOf(inner)
  const parts = (inner.streamText as any)(request(providerOptions, toolkit)) as Stream.Stream<
    Response.StreamPart<any>,
    AiError.AiError
  >
  // The inner model's `LanguageModel.streamText` span is made when the stream is first pulled, and ends with the
  // stream's failure (a broken connection's error holds the request headers): every pull runs under a tracer that
  // redacts what its spans record.
  const redacted = Stream.unwrapScoped(Effect.tracerWith((tracer) => {
    const redacting = redactingTracer(tracer, known)
    return Effect.map(
      Effect.withTracer(Stream.toPull(parts), redacting),
      (pull) => Stream.repeatEffectChunkOption(Effect.withTracer(pull, redacting))
    )
  }))
  return Stream.mapError(redacted, (error) => {
    learnSecrets(error, known)
    return redact(error)
  })
}

/** Encodes a response's parts, as a provider function returns them. */
export const encodeParts = (
  parts: ReadonlyArray<Response.Part<any>>,
  toolkit: Toolkit.WithHandler<any> | undefined,
  module: string = moduleName
): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
  Effect.mapError(
    partsEncoder(toolkit)(parts),
    malformed("generateText", module)
  ) as Effect.Effect<Array<Response.PartEncoded>, AiError.AiError>

/** Implements `ResilientLanguageModel.wrap`, documented there. */
export const wrap = (
  inner: LanguageModel.Service,
  resilience: Resilience.Service,
  options: ResilientLanguageModel.WrapOptions
): Effect.Effect<LanguageModel.Service> =>
  Effect.gen(function*() {
    const key = options.key
    const [keySystem, keyModel] = splitKey(key)
    const system = options.provider ?? keySystem
    const model = options.model ?? keyModel
    const tokenizerAtBuild = yield* Effect.serviceOption(Tokenizer.Tokenizer)

    const tokensOf = tokenCounter(options.estimateTokens, tokenizerAtBuild)

    const generateText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
      Effect.gen(function*() {
        annotateCall(providerOptions.span, key, system, model)
        const toolkit = toolkitOf(providerOptions.tools)
        const call = Effect.zipRight(
          annotateAttempt(system, model),
          innerGenerate(inner, providerOptions, toolkit, { resilience, key })
        )
        const tokens = yield* tokensOf(providerOptions.prompt)
        const response = yield* Effect.mapError(resilience.run(call, { key, tokens }), toAiError("generateText"))
        yield* correctCharge(resilience, key, tokens, response.usage)
        return yield* encodeParts(response.content, toolkit)
      })

    const streamText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> =>
      Stream.unwrap(Effect.gen(function*() {
        annotateCall(providerOptions.span, key, system, model)
        const toolkit = toolkitOf(providerOptions.tools)
        const parts = innerStream(inner, providerOptions, toolkit)
        const tokens = yield* tokensOf(providerOptions.prompt)
        const encode = streamEncoder(toolkit)
        return StreamGuard.guard(parts, {
          ...options.stream,
          run: (attempt) =>
            resilience.run(
              observingStream(Effect.zipRight(annotateAttempt(system, model), attempt), resilience, key),
              { key, tokens }
            )
        }).pipe(
          Stream.tap((part) =>
            part.type === "finish" ? correctCharge(resilience, key, tokens, part.usage) : Effect.void
          ),
          Stream.mapError(toAiError("streamText")),
          Stream.mapChunksEffect((chunk) => Effect.mapError(encode(chunk), malformed("streamText")))
        )
      }))

    return yield* LanguageModel.make({ generateText, streamText })
  })

/**
 * Corrects the rate limiter's charge for a call admitted with an estimate of
 * `charged` tokens once the response reports its usage: the tokens per minute
 * count what the provider counts (prompt and completion).
 */
export const correctCharge = (
  resilience: Resilience.Service,
  key: string,
  charged: number,
  usage: Response.Usage
): Effect.Effect<void> => {
  if (charged === 0) return Effect.void
  const used = usage.totalTokens ?? ((usage.inputTokens ?? 0) + (usage.outputTokens ?? 0))
  return used > 0 ? resilience.adjust(key, used - charged) : Effect.void
}

/** The pipeline's classifier: `AiError`s and in-stream error parts by `AiClassify`, the rest by `Classify.standard`. */
export const classifier = (options?: ResilientLanguageModel.Options["classify"]): Classify.Classifier<unknown> =>
  Classify.orElse(AiClassify.rule(options), Classify.standard)

/** Implements `ResilientLanguageModel.make`, documented there. */
export const make = (
  options: ResilientLanguageModel.Options
): Effect.Effect<
  LanguageModel.Service,
  PolicyError.InvalidPolicyError,
  LanguageModel.LanguageModel | Scope.Scope
> =>
  Effect.gen(function*() {
    const inner = yield* LanguageModel.LanguageModel
    const resilience = yield* Resilience.make(options.resilience, { classify: classifier(options.classify) })
    return yield* wrap(inner, resilience, options)
  })
