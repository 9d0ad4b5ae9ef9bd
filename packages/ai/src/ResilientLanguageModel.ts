/**
 * ResilientLanguageModel: an `@effect/ai` `LanguageModel` whose provider
 * calls pass through a `Resilience` pipeline, as a `Layer` over the model you
 * already have. No call site changes.
 *
 * Where the pipeline sits. `LanguageModel.generateText` calls the provider
 * and then runs the toolkit's handlers in the same effect, so retrying the
 * whole method would run tools again. This service is built with
 * `LanguageModel.make`: its provider functions call the *inner* model with
 * `disableToolCallResolution: true` under the pipeline (rate limiter,
 * deadline, retry, breaker, bulkhead, attempt timeout, keyed by `key`), and
 * the outer `make` resolves the tool calls exactly once, after the provider
 * call succeeded. A tool handler's own failure is never retried.
 *
 * - `generateText` / `generateObject`: the provider call is retried per
 *   `AiClassify` (provider error bodies, Retry-After, `x-should-retry`).
 * - `streamText`: guarded by `StreamGuard`: retried while no content part has
 *   been delivered (a failed stream, an in-stream error part, a
 *   time-to-first-content or idle timeout); after that a failure is never
 *   retried and ends the stream with an error whose cause is a
 *   `StreamGuard.StreamInterruptedError`. The pipeline runs the stream up to
 *   its first content part: the attempt timeout ends there (`stream.idleTimeout`
 *   covers the rest) and the breaker records that head's outcome, so a
 *   provider that fails only after content is not counted as failing. The
 *   bulkhead slot is held until the stream ends (read to its end, failed, or
 *   interrupted / no longer read), since a provider counts an open stream
 *   against its concurrency limit: with `maxConcurrent: 1` a second stream
 *   waits (or is refused, with `maxQueue: 0`) while the first is being read.
 * - Errors keep the type `AiError`, so existing code compiles unchanged. A
 *   failure of the resilience layer itself is an `AiError.UnknownError` of
 *   module `"ResilientLanguageModel"` whose `cause` is the tagged error:
 *   `ResilientLanguageModel.rejection` gives back a policy's refusal (an
 *   open circuit, a full bulkhead, a local rate limit, an attempt timeout, a
 *   deadline), `interruption` a stream interrupted after content; a stream
 *   that outlasted its retries on a `StreamGuard.StreamTimeoutError` or a
 *   `StreamGuard.StreamErrorPart` before content has that error as `cause`.
 *   An exhausted retry budget or retry policy ends with the provider's last
 *   `AiError`, unchanged.
 * - Admission: the rate limiter is charged an estimate of the prompt's tokens
 *   (the `Tokenizer` in context if any, else `estimateTokens`, ~4 characters a
 *   token), and corrected with the usage the response reports (its `finish`
 *   part: total tokens, prompt and completion) through
 *   `Resilience.Service.adjust`, so the tokens per minute count what the
 *   provider counts.
 * - Learned limits: the inner model's call runs with the provider clients'
 *   per-call configuration (`@effect/ai-openai`'s `OpenAiConfig`,
 *   `@effect/ai-anthropic`'s `AnthropicConfig`, your own `transformClient`
 *   kept) set to tap each response, so the rate-limit headers of every
 *   non-streaming response, successes included, feed the pipeline's learned
 *   admission for `key`. Streaming requests bypass that configuration; their
 *   429s still teach it, and `layerHttpClient` under the provider client
 *   feeds their headers too.
 * - Spans: the `LanguageModel.*` span gets `gen_ai.system`,
 *   `gen_ai.request.model` (from `key`, `"openai/gpt-4o"`) and
 *   `resilience.key`; the pipeline's own spans and events carry the key.
 * - Secrets: the clients' errors hold the request headers, API key
 *   included. They are redacted as they leave the inner model, and the inner
 *   model runs under a tracer that wraps the current one and redacts what its
 *   own spans record (attributes, events, links, the failure they end with),
 *   so no exported span holds the key.
 *
 * @since 0.1.0
 */
import type { PolicyError, Resilience } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as AiClassify from "./AiClassify.js"
import * as providerHeaders from "./internal/providerHeaders.js"
import * as internal from "./internal/resilientLanguageModel.js"
import type * as StreamGuard from "./StreamGuard.js"

/**
 * How to decorate a model with a pipeline you already have.
 *
 * @example
 * ```ts
 * import type { ResilientLanguageModel } from "@effect-resilience/ai"
 *
 * const options: ResilientLanguageModel.WrapOptions = {
 *   key: "openai/gpt-4o",
 *   stream: { firstContentTimeout: "30 seconds", idleTimeout: "15 seconds" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WrapOptions {
  /**
   * What is protected, as `"provider/model"` (e.g. `"openai/gpt-4o"`):
   * breakers, bulkheads, budgets and limiters are kept per key, and the span
   * attributes `gen_ai.system` and `gen_ai.request.model` are read from it.
   */
  readonly key: string
  /** `gen_ai.system`, when it is not the part of `key` before the `/`. */
  readonly provider?: string | undefined
  /** `gen_ai.request.model`, when it is not the part of `key` after the `/`. */
  readonly model?: string | undefined
  /** Timeouts of streams (`StreamGuard.Options`, without `run`). None by default. */
  readonly stream?: Omit<StreamGuard.Options, "run"> | undefined
  /**
   * The prompt's cost in tokens for the rate limiter: a function, or `false`
   * for none. Default: the `Tokenizer` in context, else `estimateTokens`.
   */
  readonly estimateTokens?: ((prompt: Prompt.Prompt) => number) | false | undefined
}

/**
 * How to build the decorator with a pipeline of its own.
 *
 * @example
 * ```ts
 * import type { ResilientLanguageModel } from "@effect-resilience/ai"
 *
 * const options: ResilientLanguageModel.Options = {
 *   key: "anthropic/claude-sonnet-4",
 *   resilience: { retry: { maxAttempts: 4 }, circuitBreaker: { trip: { kind: "consecutive", threshold: 5 } } },
 *   classify: { retryDelayCeiling: "2 minutes" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends WrapOptions {
  /** The pipeline's configuration (`Resilience.Config`); the core defaults when omitted. */
  readonly resilience?: Resilience.Config | undefined
  /** How `AiError`s are classified (`AiClassify.Options`). */
  readonly classify?: AiClassify.Options | undefined
}

/**
 * Decorates a model with a pipeline you already have (built with a
 * classifier that knows `AiError`, e.g.
 * `Classify.orElse(AiClassify.rule(), Classify.standard)`).
 *
 * @example
 * ```ts
 * import { AiClassify, ResilientLanguageModel } from "@effect-resilience/ai"
 * import { Classify, Resilience } from "@effect-resilience/core"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const inner = yield* LanguageModel.LanguageModel
 *   const resilience = yield* Resilience.make({}, { classify: Classify.orElse(AiClassify.rule(), Classify.standard) })
 *   const model = yield* ResilientLanguageModel.wrap(inner, resilience, { key: "openai/gpt-4o" })
 *   return yield* model.generateText({ prompt: "Hello" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap: (
  inner: LanguageModel.Service,
  resilience: Resilience.Service,
  options: WrapOptions
) => Effect.Effect<LanguageModel.Service> = internal.wrap

/**
 * Builds the decorator of the `LanguageModel` in context, with a pipeline of
 * its own.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const model = yield* ResilientLanguageModel.make({ key: "openai/gpt-4o-mini" })
 *   return yield* model.generateText({ prompt: "Hello" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<LanguageModel.Service, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel | Scope.Scope> =
  internal.make

/**
 * A layer that reads the `LanguageModel` in context and provides it again,
 * resilient.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Layer } from "effect"
 *
 * declare const OpenAiModel: Layer.Layer<LanguageModel.LanguageModel>
 *
 * const ModelLive = ResilientLanguageModel.layer({
 *   key: "openai/gpt-4o",
 *   resilience: { retry: { maxAttempts: 4 }, deadline: "2 minutes" }
 * }).pipe(Layer.provide(OpenAiModel))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel> =>
  Layer.scoped(LanguageModel.LanguageModel, internal.make(options))

/**
 * An `HttpClient` layer to put under the provider client (`OpenAiClient`,
 * `AnthropicClient`, any client on `HttpClient`): the rate-limit headers of
 * every response, *streams included*, feed the learned admission of the
 * `ResilientLanguageModel` / `FailoverLanguageModel` call that made the
 * request (its pipeline and key). Optional: without it, the layers already
 * see the headers of the OpenAI and Anthropic clients' non-streaming
 * responses; streaming responses' headers need it. It retries nothing (that
 * is the decorator's job) and costs one header parse per response.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer, Redacted } from "effect"
 *
 * const Gpt4o = ResilientLanguageModel.layer({ key: "openai/gpt-4o" }).pipe(
 *   Layer.provide(OpenAiLanguageModel.layer({ model: "gpt-4o" })),
 *   Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make("sk-...") })),
 *   Layer.provide(ResilientLanguageModel.layerHttpClient),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, HttpClient.HttpClient> =
  providerHeaders.layerHttpClient

/**
 * The policy's error behind an `AiError` this decorator raised because a
 * policy refused or cut short the call (an open circuit, a full bulkhead, a
 * local rate limit, an attempt timeout, a deadline).
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect, Option } from "effect"
 *
 * const program = LanguageModel.generateText({ prompt: "Hello" }).pipe(
 *   Effect.catchAll((error) =>
 *     Option.match(ResilientLanguageModel.rejection(error), {
 *       onNone: () => Effect.fail(error),
 *       onSome: (rejection) => Effect.succeed(`refused locally: ${rejection._tag}`)
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const rejection: (error: AiError.AiError) => Option.Option<Resilience.PolicyRejection> = internal.rejection

/**
 * Tells whether an `AiError` was raised because a policy refused or cut
 * short the call.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { AiError } from "@effect/ai"
 *
 * ResilientLanguageModel.isPolicyRejection(new AiError.UnknownError({ module: "x", method: "y" })) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPolicyRejection = (error: AiError.AiError): boolean => Option.isSome(internal.rejection(error))

/**
 * The `StreamInterruptedError` behind an `AiError` that ended a stream after
 * content had been delivered (with the number of content parts delivered).
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect, Option, Stream } from "effect"
 *
 * const program = LanguageModel.streamText({ prompt: "Hello" }).pipe(
 *   Stream.runDrain,
 *   Effect.tapError((error) =>
 *     Effect.log(Option.map(ResilientLanguageModel.interruption(error), (e) => e.contentParts))
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const interruption: (error: AiError.AiError) => Option.Option<StreamGuard.StreamInterruptedError> =
  internal.interruption

/**
 * Turns any failure into an `AiError`: an `AiError` as it is, anything else
 * (this library's tagged errors) into an `AiError.UnknownError` whose
 * `cause` is the failure.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 *
 * const error = ResilientLanguageModel.toAiError("generateText")(new Error("boom"))
 * error._tag // "UnknownError"
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toAiError: (method: string) => (error: unknown) => AiError.AiError = internal.toAiError

/**
 * The prompt's tokens by the usual rule of thumb, ~4 characters a token
 * (text, reasoning, tool-call parameters and tool results as JSON; files
 * count nothing), rounded up. Used when no `Tokenizer` is in context.
 *
 * @example
 * ```ts
 * import { ResilientLanguageModel } from "@effect-resilience/ai"
 * import { Prompt } from "@effect/ai"
 *
 * ResilientLanguageModel.estimateTokens(Prompt.make("Hello, world")) // 3
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const estimateTokens: (prompt: Prompt.Prompt) => number = internal.estimateTokens
