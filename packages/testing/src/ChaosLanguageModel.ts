/**
 * ChaosLanguageModel: fault injection for an `@effect/ai` `LanguageModel`.
 *
 * A decorator for the `LanguageModel` in context: every provider call of the
 * model it provides goes through a `FaultInjection` injector first, so it may
 * be delayed (in `Clock` time), refused by an outage window or an empty rate
 * limit bucket, or fail with an injected error — each raised as the `AiError`
 * the real OpenAI or Anthropic client raises for it: an `HttpResponseError`
 * with reason `"StatusCode"`, the status, the provider's error body and a
 * `retry-after` header, or an `HttpRequestError` with reason `"Transport"` for
 * a dropped connection. A stream fails to open (before its first part), or,
 * with `midStream`, delivers some content and then an in-stream `error` part,
 * as the providers' streams do.
 *
 * Only the provider call is disturbed: the inner model runs with tool call
 * resolution off, and the tool calls of a response are resolved once, by the
 * outer service, like `ResilientLanguageModel` does. Every draw comes from
 * effect's `Random` (or from the config's `seed`), so the same seed gives the
 * same faults at the same instants.
 *
 * @since 0.1.0
 */
import type { PolicyError, ProviderError } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as FaultInjection from "./FaultInjection.js"
import * as internal from "./internal/chaosLanguageModel.js"

/**
 * Whose client's errors the injected faults imitate: the status codes, the
 * error bodies and headers, and the in-stream error parts of the OpenAI
 * (Responses API) or the Anthropic (Messages API) client.
 *
 * @example
 * ```ts
 * import type { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * const provider: ChaosLanguageModel.Provider = "anthropic"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic"

/**
 * An error in the middle of a stream: after `afterParts` content parts (text,
 * reasoning and tool-call deltas; 0: before the first), a share `rate`
 * (default 1) of the streams get an `error` part of kind `error` (default
 * `"serverError"` for OpenAI, `"overloaded"` for Anthropic) and end there.
 *
 * @example
 * ```ts
 * import type { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * // One stream in four breaks after three deltas.
 * const midStream: ChaosLanguageModel.MidStream = { afterParts: 3, rate: 0.25 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MidStream {
  readonly afterParts: number
  readonly rate?: number | undefined
  readonly error?: FaultInjection.ErrorKind | undefined
}

/**
 * What `wrap` needs besides the injector: the provider whose errors to
 * imitate (default `"openai"`), the mid-stream faults, and a `seed` for the
 * mid-stream draws (default: effect's `Random` of each call).
 *
 * @example
 * ```ts
 * import type { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * const options: ChaosLanguageModel.WrapOptions = { provider: "anthropic", midStream: { afterParts: 2 } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WrapOptions {
  readonly provider?: Provider | undefined
  readonly midStream?: MidStream | undefined
  readonly seed?: unknown
}

/**
 * The faults to inject: a `FaultInjection.Config` (error rates, latency,
 * outage windows, rate limit, seed) whose `provider` picks the client whose
 * errors are imitated, plus the mid-stream faults.
 *
 * @example
 * ```ts
 * import type { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * const config: ChaosLanguageModel.Config = {
 *   provider: "anthropic",
 *   errors: { overloaded: 0.1 },
 *   latency: { kind: "uniform", min: "200 millis", max: "800 millis" },
 *   outages: [{ from: "10 seconds", to: "70 seconds" }],
 *   rateLimit: { limit: 50, window: "1 minute" },
 *   midStream: { afterParts: 5, rate: 0.05 },
 *   seed: 42
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config extends Omit<FaultInjection.Config, "provider">, WrapOptions {}

/**
 * Raises an injected `ProviderError` as the given provider's client would
 * raise it: an `HttpResponseError` (reason `"StatusCode"`, the status, the
 * JSON error body, `retry-after` — and for OpenAI `retry-after-ms` — when it
 * has a Retry-After), or an `HttpRequestError` (reason `"Transport"`) for a
 * `network` failure. The request details carry no credential.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 * import { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * const error = ChaosLanguageModel.toAiError(
 *   new ProviderError.TransientError({ provider: "anthropic", reason: "Overloaded", status: 529, message: "overloaded" }),
 *   "anthropic",
 *   "generate"
 * )
 * // error._tag === "HttpResponseError", error.response.status === 529,
 * // error.body contains "overloaded_error"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const toAiError: (
  error: ProviderError.ProviderError,
  provider: Provider,
  call: "generate" | "stream"
) => AiError.AiError = internal.toAiError

/**
 * The in-stream `error` part a provider's stream delivers for a kind of
 * failure after `delivered` content parts: OpenAI's Responses `error` event
 * (`{ type: "error", code, message, param, sequence_number }`), or the
 * `error` object of Anthropic's `error` event (`{ type, message }`).
 *
 * @example
 * ```ts
 * import { ChaosLanguageModel } from "@effect-resilience/testing"
 *
 * const part = ChaosLanguageModel.errorPart("overloaded", "anthropic", 3)
 * // { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorPart: (
  kind: FaultInjection.ErrorKind,
  provider: Provider,
  delivered: number
) => Response.ErrorPartEncoded = internal.errorPart

/**
 * Wraps a `LanguageModel` service with an injector: every provider call goes
 * through `injector` and its faults are raised as the provider's `AiError`s.
 * Keep the injector to read its `decisions`, or share it between models.
 * Fails with an `InvalidPolicyError` when the options are invalid.
 *
 * @example
 * ```ts
 * import { ChaosLanguageModel, FaultInjection } from "@effect-resilience/testing"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const inner = yield* LanguageModel.LanguageModel
 *   const injector = yield* FaultInjection.make({ provider: "openai", errors: { serverError: 0.2 }, seed: 1 })
 *   const model = yield* ChaosLanguageModel.wrap(inner, injector, { provider: "openai" })
 *   yield* Effect.ignore(model.generateText({ prompt: "hello" }))
 *   return yield* injector.decisions
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap: (
  inner: LanguageModel.Service,
  injector: FaultInjection.Injector,
  options?: WrapOptions
) => Effect.Effect<LanguageModel.Service, PolicyError.InvalidPolicyError> = internal.wrap

/**
 * Makes a chaotic `LanguageModel` service from the one in context and a
 * config, checked once (an invalid one fails with an `InvalidPolicyError`).
 *
 * @example
 * ```ts
 * import { ChaosLanguageModel } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const model = yield* ChaosLanguageModel.make({ provider: "anthropic", errors: { overloaded: 0.3 }, seed: 7 })
 *   return yield* Effect.either(model.generateText({ prompt: "hello" }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  config?: Config
) => Effect.Effect<LanguageModel.Service, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel> = internal.make

/**
 * A layer that reads the `LanguageModel` in context and provides one whose
 * provider calls suffer the configured faults: add chaos to an application's
 * model with one `Layer.provide` and no change at any call site.
 *
 * @example
 * ```ts
 * import { ChaosLanguageModel } from "@effect-resilience/testing"
 * import { LanguageModel } from "@effect/ai"
 * import { Layer } from "effect"
 *
 * declare const RealModel: Layer.Layer<LanguageModel.LanguageModel>
 *
 * // 503 from t = 10 s to t = 70 s, 50 requests a minute, 10 % overloaded.
 * const ChaoticModel = ChaosLanguageModel.layer({
 *   provider: "anthropic",
 *   outages: [{ from: "10 seconds", to: "70 seconds" }],
 *   rateLimit: { limit: 50, window: "1 minute" },
 *   errors: { overloaded: 0.1 },
 *   seed: 42
 * }).pipe(Layer.provide(RealModel))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  config?: Config
) => Layer.Layer<LanguageModel.LanguageModel, PolicyError.InvalidPolicyError, LanguageModel.LanguageModel> =
  internal.layer
