/**
 * ScriptedProvider: a provider whose outcomes come from a script.
 *
 * Each call takes the next step of the script: succeed with a value, fail with
 * a `ProviderError` (a 429 with its Retry-After, a 529, a 503, a 401, ...),
 * either one after a virtual delay, hang until interrupted, or stream parts
 * and then complete, fail or stall. Every wait goes through effect's `Clock`,
 * so under `TestClock` a script runs in no real time and at exact instants.
 *
 * The provider records every call (its `Clock` instant, its number and its
 * input), so a test can assert what a policy did: how many calls, when, and
 * with what. Its errors are the library's own `ProviderError`s, built through
 * their public constructors, so `Retry`, `CircuitBreaker` and the rest treat
 * them exactly as they treat a real provider's.
 *
 * @since 0.1.0
 */
import type { ProviderError } from "@effect-resilience/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/scriptedProvider.js"

/**
 * One step of a script: what one call does.
 *
 * A failure step holds a function from the provider's name to its error, so
 * that errors made by `rateLimited`, `overloaded`, ... carry the name given to
 * `ScriptedProvider.make`. A stream step holds the parts it delivers (those
 * before a failure, when there is one) and how it ends.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const script: ReadonlyArray<ScriptedProvider.Step<string>> = [
 *   ScriptedProvider.overloaded(),
 *   ScriptedProvider.succeed("hello", { after: "200 millis" })
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Step<A> =
  | { readonly _tag: "Succeed"; readonly value: A; readonly after: Duration.Duration }
  | {
    readonly _tag: "Fail"
    readonly error: (provider: string) => ProviderError.ProviderError
    readonly after: Duration.Duration
  }
  | { readonly _tag: "Hang" }
  | {
    readonly _tag: "StreamParts"
    readonly parts: ReadonlyArray<A>
    /** The wait before each part, the first included. */
    readonly interval: Duration.Duration
    readonly end:
      | { readonly _tag: "Complete" }
      | { readonly _tag: "Fail"; readonly error: (provider: string) => ProviderError.ProviderError }
      | { readonly _tag: "Stall" }
  }

/**
 * One call the provider received: when, which one, with what input.
 *
 * @example
 * ```ts
 * import type { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const call: ScriptedProvider.Call<string> = { attempt: 1, at: 0, input: "Hello" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Call<out In> {
  /** The number of this call among all calls to the provider, from 1. */
  readonly attempt: number
  /** The `Clock` instant the call started, in milliseconds. */
  readonly at: number
  readonly input: In
}

/**
 * What to do when the script has no step left for a call.
 *
 * - `"repeatLast"` (the default): the last step answers every further call;
 * - `"die"`: the call dies with a message saying the script ran out, so a
 *   test that expected fewer calls fails loudly.
 *
 * @example
 * ```ts
 * import type { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const options: ScriptedProvider.Options = { provider: "openai", onExhausted: "die" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name the provider's errors carry. Default `"scripted"`. */
  readonly provider?: string | undefined
  /** See `Options`. Default `"repeatLast"`. */
  readonly onExhausted?: "repeatLast" | "die" | undefined
}

/**
 * A provider that answers from a script and records every call.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const provider: ScriptedProvider.ScriptedProvider<string, string> = yield* ScriptedProvider.make<string, string>([
 *     ScriptedProvider.succeed("hi")
 *   ])
 *   const answer = yield* provider.call("Hello")
 *   const calls = yield* provider.calls
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedProvider<In, A> {
  /** The name the provider's errors carry. */
  readonly provider: string
  /**
   * One call: takes the next step. A stream step is not an answer to `call`:
   * the call dies saying so.
   */
  readonly call: (input: In) => Effect.Effect<A, ProviderError.ProviderError>
  /**
   * One streaming call, made when the stream runs (so each run, e.g. each
   * retry, is a call): takes the next step. A stream step emits its parts; a
   * success emits its one value; a failure fails; a hang never emits.
   */
  readonly stream: (input: In) => Stream.Stream<A, ProviderError.ProviderError>
  /** Every call so far, in the order they were made. */
  readonly calls: Effect.Effect<ReadonlyArray<Call<In>>>
}

/**
 * Makes a scripted provider: call n takes step n of the script.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { ScriptedProvider } from "@effect-resilience/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const provider = yield* ScriptedProvider.make<string, string>([
 *     ScriptedProvider.rateLimited({ retryAfter: "2 seconds" }),
 *     ScriptedProvider.succeed("hello")
 *   ], { provider: "openai" })
 *   const answer = yield* provider.call("Hi").pipe(Retry.retry(Retry.standard))
 *   const calls = yield* provider.calls // two calls, the second 2 seconds after the first
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <In = unknown, A = never>(
  script: ReadonlyArray<Step<A>>,
  options?: Options
) => Effect.Effect<ScriptedProvider<In, A>> = internal.make

/**
 * A step that succeeds with `value`, after `after` (default: at once).
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const fast = ScriptedProvider.succeed("hello")
 * const slow = ScriptedProvider.succeed("hello", { after: "3 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const succeed: <A>(value: A, options?: { readonly after?: Duration.DurationInput | undefined }) => Step<A> =
  internal.succeed

/**
 * A step that fails with `error`, after `after` (default: at once).
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const tooLong = ScriptedProvider.fail(
 *   new ProviderError.PermanentError({
 *     provider: "openai",
 *     reason: "ContextLengthExceeded",
 *     status: 400,
 *     message: "maximum context length is 128000 tokens"
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const fail: (
  error: ProviderError.ProviderError,
  options?: { readonly after?: Duration.DurationInput | undefined }
) => Step<never> = internal.fail

/**
 * A step that fails with a 429 `TransientError` (reason `RateLimited`),
 * carrying `retryAfter` when given.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const step = ScriptedProvider.rateLimited({ retryAfter: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const rateLimited: (options?: {
  readonly retryAfter?: Duration.DurationInput | undefined
  readonly status?: number | undefined
  readonly after?: Duration.DurationInput | undefined
}) => Step<never> = internal.rateLimited

/**
 * A step that fails with a `TransientError` with reason `Overloaded` (status
 * 529, as Anthropic answers; pass `status` for another).
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const anthropic = ScriptedProvider.overloaded()
 * const openai = ScriptedProvider.overloaded({ status: 503 })
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const overloaded: (options?: {
  readonly status?: number | undefined
  readonly retryAfter?: Duration.DurationInput | undefined
  readonly after?: Duration.DurationInput | undefined
}) => Step<never> = internal.overloaded

/**
 * A step that fails with a 503 `TransientError` with reason `Unavailable`.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const step = ScriptedProvider.unavailable({ retryAfter: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const unavailable: (options?: {
  readonly status?: number | undefined
  readonly retryAfter?: Duration.DurationInput | undefined
  readonly after?: Duration.DurationInput | undefined
}) => Step<never> = internal.unavailable

/**
 * A step that fails with a 401 `PermanentError` with reason `Authentication`.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const step = ScriptedProvider.unauthorized()
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const unauthorized: (options?: {
  readonly status?: number | undefined
  readonly after?: Duration.DurationInput | undefined
}) => Step<never> = internal.unauthorized

/**
 * A step that never completes: the call waits until it is interrupted (by a
 * timeout, a deadline, a hedge, or the test).
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const script = [ScriptedProvider.hang(), ScriptedProvider.succeed("hello")]
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const hang: () => Step<never> = internal.hang

/**
 * A step for `stream`: emits `parts`, waiting `interval` before each one
 * (default: no wait), then ends.
 *
 * - with `failAfter: k`, only the first k parts are emitted, then the stream
 *   fails with `error` (default: a `TransientError` with reason `Network`,
 *   as when a connection drops mid-stream); `error` alone fails after every
 *   part;
 * - with `stallAfter: k`, the first k parts are emitted, then the stream
 *   neither emits nor ends until it is interrupted (an idle stream);
 * - otherwise every part is emitted and the stream completes.
 *
 * @example
 * ```ts
 * import { ScriptedProvider } from "@effect-resilience/testing"
 *
 * // "Hel", "lo" 100 ms apart, then the connection drops
 * const dropped = ScriptedProvider.streamParts(["Hel", "lo", ", world"], { failAfter: 2, interval: "100 millis" })
 * // "Hel", then silence
 * const stalled = ScriptedProvider.streamParts(["Hel", "lo"], { stallAfter: 1 })
 * ```
 *
 * @since 0.1.0
 * @category steps
 */
export const streamParts: <A>(parts: ReadonlyArray<A>, options?: StreamPartsOptions) => Step<A> = internal.streamParts

/**
 * How a stream step ends: see `streamParts`. `failAfter` and `stallAfter`
 * exclude each other.
 *
 * @example
 * ```ts
 * import type { ScriptedProvider } from "@effect-resilience/testing"
 *
 * const options: ScriptedProvider.StreamPartsOptions = { failAfter: 3, interval: "50 millis" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StreamPartsOptions =
  & { readonly interval?: Duration.DurationInput | undefined }
  & (
    | {
      readonly failAfter?: number | undefined
      readonly error?: ProviderError.ProviderError | undefined
      readonly stallAfter?: undefined
    }
    | { readonly stallAfter: number; readonly failAfter?: undefined; readonly error?: undefined }
  )
