/**
 * FailoverLanguageModel: one `@effect/ai` `LanguageModel` served by an
 * ordered list of models (providers or models of one provider), each under
 * its own `Resilience` pipeline, as a `Layer`. No call site changes.
 *
 * The failover is core's `Fallback`: for each call, a step whose breaker is
 * open is skipped without a call; a step that fails (once its own retries
 * are spent) is classified by `AiClassify`, and its reason picks what happens
 * (`Fallback.Triggers`): by default transient failures, `QuotaExhausted` and
 * the step's policies' refusals move on to the next step,
 * `ContextLengthExceeded` moves on only to a step with a larger
 * `contextWindow`, and every other permanent failure (a bad request, a wrong
 * key, filtered content) ends the call. The `StepSkipped` and `FallbackUsed`
 * events say which step served and why the earlier ones were passed over;
 * the serving step's key is the span attribute `resilience.served_by` (with
 * `gen_ai.system` and `gen_ai.request.model` read from it).
 *
 * Where it sits. Like `ResilientLanguageModel`, the service is built with
 * `LanguageModel.make`: its provider functions call the chosen step's model
 * with `disableToolCallResolution: true`, and the outer service resolves the
 * tool calls exactly once, from the serving step's response. A tool
 * handler's failure (even an `AiError` from a sub-agent) is never retried and
 * never fails over.
 *
 * - `generateText` / `generateObject`: fail over as above; with `hedge`, a
 *   call still running after the hedge's delay is raced by a second one,
 *   from the next step on (`target: "next"`, the default) or from the first
 *   (`"same"`): the first success wins, the other call is interrupted
 *   (core's `Hedge`).
 * - `streamText`: guarded by `StreamGuard`; the stream fails over while no
 *   content part has been delivered (a failed stream, an in-stream error
 *   part, a timeout), and never once it has: the failure then ends the
 *   stream as a `StreamGuard.StreamInterruptedError`. Streams are never
 *   hedged: both streams would be generated, and charged, in full until one
 *   is cancelled, and a stream cannot switch to the other once it has
 *   delivered content.
 * - Errors keep the type `AiError`: when every step failed, the last step's
 *   error as it was; the decorator's own failures (every step's breaker open,
 *   a stream interrupted after content) are `AiError.UnknownError`s of module
 *   `"FailoverLanguageModel"` whose `cause` is the tagged error
 *   (`FailoverLanguageModel.rejection` and `interruption` give it back).
 * - A step's `deadline` is that step's pipeline's: since a deadline is the
 *   whole call's (`Fallback` never fails it over), put a deadline around the
 *   call instead (`Deadline.within`) when steps should share it.
 *
 * @since 0.1.0
 */
import type { Fallback, Hedge, PolicyError, Resilience } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as AiClassify from "./AiClassify.js"
import * as internal from "./internal/failoverLanguageModel.js"
import * as rlm from "./internal/resilientLanguageModel.js"
import type * as StreamGuard from "./StreamGuard.js"

/**
 * One model of the failover: the model (a `Layer` that provides a
 * `LanguageModel`, e.g. `OpenAiLanguageModel.model("gpt-4o")`, or a
 * `LanguageModel.Service`), its key, its context window and its pipeline.
 *
 * @example
 * ```ts
 * import type { FailoverLanguageModel } from "@effect-resilience/ai"
 * import type { LanguageModel } from "@effect/ai"
 * import type { Layer } from "effect"
 *
 * declare const Gpt4o: Layer.Layer<LanguageModel.LanguageModel>
 *
 * const step: FailoverLanguageModel.Step = {
 *   key: "openai/gpt-4o",
 *   model: Gpt4o,
 *   contextWindow: 128_000,
 *   resilience: { retry: { maxAttempts: 3 } }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<E = never, R = never> {
  /**
   * `"provider/model"` (e.g. `"openai/gpt-4o"`): names the step in events
   * and spans, and keys its breaker, bulkhead, budget and limiter.
   */
  readonly key: string
  /** The model: a layer built once with the failover's layer, or a service. */
  readonly model: Layer.Layer<LanguageModel.LanguageModel, E, R> | LanguageModel.Service
  /** The model's context window in tokens, for failover on `ContextLengthExceeded`. */
  readonly contextWindow?: number | undefined
  /** The step's pipeline (`Resilience.Config`); the core defaults when omitted. */
  readonly resilience?: Resilience.Config | undefined
}

/**
 * Types read from steps.
 *
 * @since 0.1.0
 */
export declare namespace Step {
  /**
   * The error of building a step's model.
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Error<S> = S extends { readonly model: infer M } ? M extends Layer.Layer<any, infer E, any> ? E : never
    : never
  /**
   * What building a step's model needs.
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Context<S> = S extends { readonly model: infer M } ? M extends Layer.Layer<any, any, infer R> ? R : never
    : never
}

/**
 * Hedging of `generateText` / `generateObject`: core's `Hedge.Options`
 * (classified by `AiClassify`), and where the hedge goes.
 * `hedgeOnFailure` defaults to `false` here: a call that failed has already
 * failed over.
 *
 * @example
 * ```ts
 * import type { FailoverLanguageModel } from "@effect-resilience/ai"
 *
 * const hedge: FailoverLanguageModel.HedgeOptions = { delay: "2 seconds", percentile: 0.95, target: "next" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HedgeOptions extends Omit<Hedge.Options, "classify" | "key"> {
  /**
   * `"next"` (default): the hedge is the failover from the second step on;
   * `"same"`: the failover again, from the first step.
   */
  readonly target?: "next" | "same" | undefined
}

/**
 * The options of a failover.
 *
 * @example
 * ```ts
 * import type { FailoverLanguageModel } from "@effect-resilience/ai"
 * import type { LanguageModel } from "@effect/ai"
 * import type { Layer } from "effect"
 *
 * declare const Gpt4o: Layer.Layer<LanguageModel.LanguageModel>
 * declare const Claude: Layer.Layer<LanguageModel.LanguageModel>
 *
 * const options: FailoverLanguageModel.Options = {
 *   name: "chat",
 *   steps: [
 *     { key: "openai/gpt-4o", model: Gpt4o, contextWindow: 128_000 },
 *     { key: "anthropic/claude-sonnet-4", model: Claude, contextWindow: 200_000 }
 *   ],
 *   triggers: { ContentFiltered: "Failover" },
 *   stream: { idleTimeout: "30 seconds" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Steps extends ReadonlyArray<Step<any, any>> = ReadonlyArray<Step<any, any>>> {
  /** The models, in the order they are tried (at least one). */
  readonly steps: Steps
  /** Names the failover in events (their `key`). Default: the steps' keys joined with `" > "`. */
  readonly name?: string | undefined
  /** What each verdict reason leads to; reasons not given keep `Fallback.defaultTriggers`. */
  readonly triggers?: Fallback.Triggers | undefined
  /** How `AiError`s are classified (`AiClassify.Options`), by every step's pipeline and the failover. */
  readonly classify?: AiClassify.Options | undefined
  /** Timeouts of streams (`StreamGuard.Options`, without `run`). None by default. */
  readonly stream?: Omit<StreamGuard.Options, "run"> | undefined
  /**
   * The prompt's cost in tokens for the steps' rate limiters: a function, or
   * `false` for none. Default: the `Tokenizer` in context, else
   * `ResilientLanguageModel.estimateTokens`.
   */
  readonly estimateTokens?: ((prompt: Prompt.Prompt) => number) | false | undefined
  /** Hedging of `generateText` / `generateObject`; none by default. Streams are never hedged. */
  readonly hedge?: HedgeOptions | undefined
}

/**
 * Builds the failover's `LanguageModel` (its steps' layers are built in the
 * scope).
 *
 * @example
 * ```ts
 * import { FailoverLanguageModel } from "@effect-resilience/ai"
 * import type { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 *
 * declare const primary: LanguageModel.Service
 * declare const secondary: LanguageModel.Service
 *
 * const program = Effect.gen(function*() {
 *   const model = yield* FailoverLanguageModel.make({
 *     steps: [{ key: "openai/gpt-4o", model: primary }, { key: "anthropic/claude-sonnet-4", model: secondary }]
 *   })
 *   return yield* model.generateText({ prompt: "Hello" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Steps extends readonly [Step<any, any>, ...Array<Step<any, any>>]>(
  options: Options<Steps>
): Effect.Effect<
  LanguageModel.Service,
  Step.Error<Steps[number]> | PolicyError.InvalidPolicyError,
  Step.Context<Steps[number]> | Scope.Scope
> => internal.make(options)

/**
 * A layer that provides one `LanguageModel` served by the steps' models in
 * order.
 *
 * @example
 * ```ts
 * import { FailoverLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect, Layer } from "effect"
 *
 * // e.g. OpenAiLanguageModel.model("gpt-4o") and AnthropicLanguageModel.model("claude-sonnet-4-0")
 * declare const Gpt4o: Layer.Layer<LanguageModel.LanguageModel>
 * declare const Claude: Layer.Layer<LanguageModel.LanguageModel>
 *
 * const ModelLive = FailoverLanguageModel.layer({
 *   steps: [
 *     { key: "openai/gpt-4o", model: Gpt4o, contextWindow: 128_000, resilience: { retry: { maxAttempts: 3 } } },
 *     { key: "anthropic/claude-sonnet-4", model: Claude, contextWindow: 200_000 }
 *   ],
 *   hedge: { delay: "5 seconds" }
 * })
 *
 * const program = LanguageModel.generateText({ prompt: "Hello" }).pipe(Effect.provide(ModelLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Steps extends readonly [Step<any, any>, ...Array<Step<any, any>>]>(
  options: Options<Steps>
): Layer.Layer<
  LanguageModel.LanguageModel,
  Step.Error<Steps[number]> | PolicyError.InvalidPolicyError,
  Step.Context<Steps[number]>
> => Layer.scoped(LanguageModel.LanguageModel, make(options))

/**
 * The policy's error behind an `AiError` the failover raised because its
 * steps' policies refused the call (e.g. every breaker open).
 *
 * @example
 * ```ts
 * import { FailoverLanguageModel } from "@effect-resilience/ai"
 * import { LanguageModel } from "@effect/ai"
 * import { Effect, Option } from "effect"
 *
 * const program = LanguageModel.generateText({ prompt: "Hello" }).pipe(
 *   Effect.catchAll((error) =>
 *     Option.match(FailoverLanguageModel.rejection(error), {
 *       onNone: () => Effect.fail(error),
 *       onSome: (rejection) => Effect.succeed(`no provider available: ${rejection._tag}`)
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const rejection: (error: AiError.AiError) => Option.Option<Resilience.PolicyRejection> = rlm.rejection

/**
 * The `StreamInterruptedError` behind an `AiError` that ended a stream after
 * content had been delivered (no failover then).
 *
 * @example
 * ```ts
 * import { FailoverLanguageModel } from "@effect-resilience/ai"
 * import { AiError } from "@effect/ai"
 * import { Option } from "effect"
 *
 * Option.isNone(FailoverLanguageModel.interruption(new AiError.UnknownError({ module: "x", method: "y" }))) // true
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const interruption: (error: AiError.AiError) => Option.Option<StreamGuard.StreamInterruptedError> =
  rlm.interruption
