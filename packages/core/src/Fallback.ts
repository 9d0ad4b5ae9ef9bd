/**
 * Fallback: an ordered list of providers or models, each under its own
 * policy; the first that serves the call wins.
 *
 * A `Step` is something that runs an effect for an input (a prompt, a
 * request) under its own policy: its own `Resilience` pipeline and key, so
 * its retries, breaker and budget apply to it alone. `Fallback.make` puts
 * steps in order. For each call:
 *
 * - a step whose breaker is open (or isolated) is skipped without a call;
 *   a half-open breaker, or an open one whose break is over, is tried (the
 *   call is its probe);
 * - a step that fails is classified (`Classify`), and its reason picks what
 *   happens (`Triggers`): by default transient failures (once the step's own
 *   retries are spent), `QuotaExhausted` and the policies' refusals move on
 *   to the next step; `ContextLengthExceeded` moves on only to a step whose
 *   `contextWindow` is larger; every other permanent failure (a bad request,
 *   a wrong key, filtered content) ends the call with its error, since another
 *   provider would refuse it too, or should not be asked;
 * - the caller's `Deadline` is never failed over: it is the whole call's.
 *
 * Errors keep their types: when every step failed or was skipped, the caller
 * gets the last error a step failed with, as it was (an `AiError` stays an
 * `AiError`), or, when no step was called at all, the `CircuitOpenError` of
 * the last open breaker. There is no wrapping "fallback exhausted" error,
 * for the same reason `Retry` has none: code that handles a provider's errors
 * keeps working when a fallback is added, and the history of the call (which
 * step was passed over, and why) is in the `StepSkipped` and `FallbackUsed`
 * events and in the span attribute `resilience.served_by`.
 *
 * Nothing here knows a provider: `@effect-resilience/ai` builds its
 * `LanguageModel` failover from these steps.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import type * as Classify from "./Classify.js"
import * as internal from "./internal/fallback.js"
import type * as ProviderError from "./ProviderError.js"
import type * as Resilience from "./Resilience.js"

/**
 * Why a fallback moved past a step: `BreakerOpen` (its breaker is open, it
 * was not called, or it refused the call), `ContextWindow` (its context window
 * is not larger than that of a step that failed with `ContextLengthExceeded`;
 * not called), or the reason of the failure it returned.
 *
 * @example
 * ```ts
 * import type { Fallback } from "@effect-resilience/core"
 *
 * const why: Fallback.SkipReason = "BreakerOpen"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type SkipReason = "BreakerOpen" | "ContextWindow" | ProviderError.TransientReason | ProviderError.PermanentReason

/**
 * What a step's failure leads to:
 *
 * - `Failover`: try the next step;
 * - `Fail`: stop, and fail with this error;
 * - `LargerContextWindow`: try only later steps whose `contextWindow` is
 *   larger than the failed step's (when the failed step declares none and no
 *   earlier step set a floor, stop as with `Fail`).
 *
 * @example
 * ```ts
 * import type { Fallback } from "@effect-resilience/core"
 *
 * const trigger: Fallback.Trigger = "LargerContextWindow"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Trigger = "Failover" | "Fail" | "LargerContextWindow"

/**
 * What each verdict reason leads to, plus `RejectedLocally` for the refusals
 * of a step's own policies (open breaker, full bulkhead, local rate limit),
 * which are checked first. Reasons not given keep their default
 * (`Fallback.defaultTriggers`).
 *
 * @example
 * ```ts
 * import type { Fallback } from "@effect-resilience/core"
 *
 * // A model that refuses content may be replaced by a more permissive one
 * const triggers: Fallback.Triggers = { ContentFiltered: "Failover", RateLimited: "Fail" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Triggers = {
  readonly [R in ProviderError.TransientReason | ProviderError.PermanentReason | "RejectedLocally"]?: Trigger
}

/**
 * The default triggers: every transient reason, `QuotaExhausted` and
 * `RejectedLocally` fail over; `ContextLengthExceeded` goes to a larger
 * context window; every other permanent reason fails.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 *
 * Fallback.defaultTriggers.InvalidRequest // "Fail"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultTriggers: Required<Triggers> = internal.defaultTriggers

/**
 * How a step runs.
 *
 * @example
 * ```ts
 * import type { Fallback } from "@effect-resilience/core"
 *
 * const options: Fallback.StepOptions<string> = {
 *   key: "openai/gpt-4o",
 *   tokens: (prompt) => Math.ceil(prompt.length / 4),
 *   contextWindow: 128_000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions<in I> {
  /**
   * The pipeline the step's call runs through (retry, breaker, bulkhead, ...),
   * with the step's `key`; its breaker for that key is read before each call.
   * None by default: the call runs as given.
   */
  readonly resilience?: Resilience.Service | undefined
  /** The key the pipeline keeps the step's state under. Default: the step's name. */
  readonly key?: string | undefined
  /** The tokens the call will cost, for the pipeline's rate limiter, or how to count them from the input. */
  readonly tokens?: number | ((input: I) => number) | undefined
  /** `false` calls the step once, without retrying (see `Resilience.RunOptions.retry`). */
  readonly retry?: boolean | undefined
  /**
   * A breaker to read before each call, for a step protected elsewhere (e.g.
   * a resilient `HttpClient` under the provider client); ignored when
   * `resilience` is given, whose breaker for `key` is used.
   */
  readonly breaker?: CircuitBreaker.CircuitBreaker<never> | undefined
  /** The step's context window in tokens, for failover on `ContextLengthExceeded`. */
  readonly contextWindow?: number | undefined
}

/**
 * One provider or model of a fallback: a name, the call it makes for an
 * input, and what to read before calling it.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const step: Fallback.Step<string, string, never, never> = Fallback.step(
 *   "echo",
 *   (prompt: string) => Effect.succeed(prompt)
 * )
 * step.name // "echo"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<in I, out A, out E, out R> {
  /** Names the step in events and spans, e.g. `"openai/gpt-4o"`. */
  readonly name: string
  /** The key its policies keep state under. */
  readonly key: string
  /** The step's context window in tokens, if declared. */
  readonly contextWindow: number | undefined
  /** Makes the call for an input, through the step's policies. */
  readonly call: (input: I) => Effect.Effect<A, E, R>
  /** The breaker to read before calling, if any. */
  readonly breaker: () => CircuitBreaker.CircuitBreaker<never> | undefined
}

/**
 * Types read from steps.
 *
 * @since 0.1.0
 */
export declare namespace Step {
  /**
   * The input every step of a union accepts (the intersection of their inputs).
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Input<S> = [S] extends [Step<infer I, any, any, any>] ? I : never
  /**
   * The success of a step.
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Success<S> = S extends Step<any, infer A, any, any> ? A : never
  /**
   * The error of a step.
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Error<S> = S extends Step<any, any, infer E, any> ? E : never
  /**
   * The context a step needs.
   *
   * @since 0.1.0
   * @category type-level
   */
  export type Context<S> = S extends Step<any, any, any, infer R> ? R : never
}

/**
 * The options of a fallback.
 *
 * @example
 * ```ts
 * import { Classify, type Fallback } from "@effect-resilience/core"
 *
 * const options: Fallback.Options = { name: "chat", classify: Classify.standard, triggers: { Unknown: "Failover" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the fallback in events (their `key`). Default: the steps' names joined with `" > "`. */
  readonly name?: string | undefined
  /**
   * Classifies the steps' own errors (this library's errors carry their
   * verdict). Default `Classify.standard`.
   */
  readonly classify?: Classify.Classifier<any> | undefined
  /** What each reason leads to; reasons not given keep `Fallback.defaultTriggers`. */
  readonly triggers?: Triggers | undefined
}

/**
 * An ordered list of steps, run with `run`.
 *
 * @example
 * ```ts
 * import { Fallback } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const fallback: Fallback.Fallback<string, string, never, never> = Fallback.make([
 *   Fallback.step("upper", (text: string) => Effect.succeed(text.toUpperCase()))
 * ])
 * const program = fallback.run("hello") // "HELLO"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Fallback<I, A, E, R> {
  /** Names the fallback in events. */
  readonly name: string
  /** The steps, in the order they are tried. */
  readonly steps: ReadonlyArray<Step<I, A, E, R>>
  /**
   * Serves one call: the first step's success, or the last error (see the
   * module's documentation). The input may be left out when no step reads it.
   */
  readonly run: (
    ...input: unknown extends I ? [input?: I] : [input: I]
  ) => Effect.Effect<A, E | CircuitBreaker.CircuitOpenError, R>
}

/**
 * A step: a name, the call to make (a function of the input, or an effect
 * that needs none) and how to run it. With a `resilience` pipeline the
 * step's error type gains the pipeline's refusals.
 *
 * @example
 * ```ts
 * import { Fallback, ProviderError, Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const complete: (prompt: string) => Effect.Effect<string, ProviderError.ProviderError>
 * declare const cached: Effect.Effect<string>
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make()
 *   const primary = Fallback.step("openai/gpt-4o", complete, { resilience, contextWindow: 128_000 })
 *   const lastResort = Fallback.step("cache", cached)
 *   return [primary, lastResort]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const step: {
  <I, A, E, R>(
    name: string,
    call: (input: I) => Effect.Effect<A, E, R>,
    options: StepOptions<NoInfer<I>> & { readonly resilience: Resilience.Service }
  ): Step<I, A, E | Resilience.PolicyRejection, R>
  <A, E, R>(
    name: string,
    call: Effect.Effect<A, E, R>,
    options: StepOptions<unknown> & { readonly resilience: Resilience.Service }
  ): Step<unknown, A, E | Resilience.PolicyRejection, R>
  <I, A, E, R>(
    name: string,
    call: (input: I) => Effect.Effect<A, E, R>,
    options?: StepOptions<NoInfer<I>> & { readonly resilience?: undefined }
  ): Step<I, A, E, R>
  <A, E, R>(
    name: string,
    call: Effect.Effect<A, E, R>,
    options?: StepOptions<unknown> & { readonly resilience?: undefined }
  ): Step<unknown, A, E, R>
} = internal.step as any

/**
 * Puts steps in order. The fallback's input is what every step accepts, its
 * success and error the union of the steps' (plus the `CircuitOpenError` it
 * fails with when every step was skipped for an open breaker).
 *
 * @example
 * ```ts
 * import { Fallback, ProviderError, Resilience } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const openai: (prompt: string) => Effect.Effect<string, ProviderError.ProviderError>
 * declare const anthropic: (prompt: string) => Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make({ circuitBreaker: { trip: { kind: "consecutive", threshold: 5 } } })
 *   const chat = Fallback.make([
 *     Fallback.step("openai/gpt-4o", openai, { resilience, contextWindow: 128_000 }),
 *     Fallback.step("anthropic/claude-sonnet-4", anthropic, { resilience, contextWindow: 200_000 })
 *   ], { name: "chat" })
 *   // OpenAI serves; when it is overloaded (after its retries), its breaker is open or its quota is spent,
 *   // Anthropic does; a prompt too long for GPT-4o goes to Claude's larger window
 *   return yield* chat.run("Summarise this thread")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Steps extends readonly [Step<any, any, any, any>, ...Array<Step<any, any, any, any>>]>(
  steps: Steps,
  options?: Options
): Fallback<
  Step.Input<Steps[number]>,
  Step.Success<Steps[number]>,
  Step.Error<Steps[number]>,
  Step.Context<Steps[number]>
> => internal.make(steps, options)
