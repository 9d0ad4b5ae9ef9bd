/**
 * StreamGuard: a stream of response parts is retried while it has delivered
 * nothing, and never once it has.
 *
 * LLM clients report an error inside a stream as a *part*
 * (`{ type: "error", error }`), not as a failed stream, and usually after
 * parts that carry no content (`response-metadata`, `text-start`). The guard
 * reads a stream until its first *content* part (see `isContent`), holding the
 * content-free parts back, so that every failure before it — a failed stream,
 * an error part, no content within `firstContentTimeout`, no part within
 * `idleTimeout` — fails the attempt, and the attempt can be retried by the
 * `run` you give it (e.g. a `Resilience` pipeline): the caller sees one clean
 * stream, the held-back parts of the successful attempt first.
 *
 * Once content has been delivered, a failure (a failed stream, an error part,
 * an idle timeout) is never retried — that would duplicate output and cost —
 * and ends the stream with a `StreamInterruptedError` that says how many
 * content parts were delivered and keeps the cause.
 *
 * The attempt given to `run` ends at the first content part, so an attempt
 * timeout in `run` covers the stream's head only (`idleTimeout` covers the
 * rest). A bulkhead slot that the successful attempt took in `run` is held
 * until the stream ends (completes, fails, or is interrupted or no longer
 * read): see `Bulkhead.holdSlotsUntil`. A failed attempt frees its slot at once.
 *
 * It works on decoded and encoded parts alike (`Response.StreamPart` or
 * `Response.StreamPartEncoded`): it reads only `type`, `delta` and `error`.
 * Timeouts use effect's `Clock`, so `TestClock` drives them.
 *
 * @since 0.1.0
 */
import { Classify, type Resilience } from "@effect-resilience/core"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
// internal/streamGuard.ts imports this module (its errors): reach `internal` only inside functions, never at
// the top level, so that either module may be loaded first.
import * as internal from "./internal/streamGuard.js"

/**
 * What the guard reads of a part.
 *
 * @example
 * ```ts
 * import type { StreamGuard } from "@effect-resilience/ai"
 *
 * const part: StreamGuard.Part = { type: "text-delta", delta: "Hello" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Part {
  readonly type: string
  readonly delta?: unknown
  readonly error?: unknown
}

/**
 * How a stream is guarded.
 *
 * @example
 * ```ts
 * import type { StreamGuard } from "@effect-resilience/ai"
 *
 * const options: StreamGuard.Options = { firstContentTimeout: "30 seconds", idleTimeout: "10 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The longest time from opening the stream to its first content part; a
   * transient `StreamTimeoutError` (`"FirstContent"`) after it. None by
   * default: a reasoning model may think for minutes before it says anything.
   */
  readonly firstContentTimeout?: Duration.DurationInput | undefined
  /**
   * The longest time between two parts. Before the first content part it is
   * a transient `StreamTimeoutError` (`"Idle"`); after it, a
   * `StreamInterruptedError`. None by default.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** What counts as content. Default `StreamGuard.isContent`. */
  readonly isContent?: ((part: Part) => boolean) | undefined
  /**
   * Runs each attempt at reading the stream until its first content part:
   * typically `(effect) => resilience.run(effect, { key })`, which retries
   * it. By default the attempt runs once.
   */
  readonly run?:
    | (<X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.Effect<X, E | Resilience.PolicyRejection, R>)
    | undefined
}

/**
 * Whether a part carries content, i.e. would be lost or duplicated by a
 * retry: a `text-delta`, `reasoning-delta` or `tool-params-delta` with a
 * non-empty delta, `tool-params-start`/`-end`, `tool-call`, `tool-result`,
 * `file`, `source` (and the whole `text` and `reasoning` parts). Not
 * content: `response-metadata`, `text-start`/`-end`,
 * `reasoning-start`/`-end`, `finish`, empty deltas.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * StreamGuard.isContent({ type: "text-delta", delta: "" }) // false
 * StreamGuard.isContent({ type: "text-delta", delta: "Hi" }) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isContent = (part: Part): boolean => internal.isContent(part)

/**
 * Guards a stream of response parts (see the module's documentation).
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 * import { Resilience } from "@effect-resilience/core"
 * import type { Response } from "@effect/ai"
 * import { Effect, Stream } from "effect"
 *
 * declare const parts: Stream.Stream<Response.StreamPartEncoded>
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make({ retry: { maxAttempts: 3 } })
 *   return yield* StreamGuard.guard(parts, {
 *     idleTimeout: "20 seconds",
 *     run: (attempt) => resilience.run(attempt, { key: "openai/gpt-4o" })
 *   }).pipe(Stream.runCollect)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const guard: <A extends Part, E, R>(
  self: Stream.Stream<A, E, R>,
  options?: Options
) => Stream.Stream<
  A,
  E | StreamErrorPart | StreamTimeoutError | StreamInterruptedError | Resilience.PolicyRejection,
  R
> = (self, options) => internal.guard(self, options)

const payloadMessage = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const inner = "error" in error && typeof error.error === "object" && error.error !== null ? error.error : error
    if ("message" in inner && typeof inner.message === "string") return inner.message.slice(0, 500)
    if ("type" in inner && typeof inner.type === "string") return inner.type.slice(0, 100)
  }
  return "no details"
}

/**
 * The provider sent an error part (`{ type: "error", error }`) in the
 * stream; `error` is its payload as the provider sent it
 * (`AiClassify.streamError` classifies it).
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * const error = new StreamGuard.StreamErrorPart({ error: { type: "overloaded_error", message: "Overloaded" } })
 * error.message // "the provider sent an error in the stream: Overloaded"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamErrorPart extends Schema.TaggedError<StreamErrorPart>("@effect-resilience/ai/StreamErrorPart")(
  "StreamErrorPart",
  { error: Schema.Unknown }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the provider sent an error in the stream: ${payloadMessage(this.error)}`
  }
}

/**
 * A stream gave no content in time (`"FirstContent"`) or no part at all
 * for too long (`"Idle"`). Transient (`Timeout`).
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 * import { Duration } from "effect"
 *
 * const error = new StreamGuard.StreamTimeoutError({ phase: "Idle", timeout: Duration.seconds(10) })
 * error.message // "no stream part for 10s"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamTimeoutError
  extends Schema.TaggedError<StreamTimeoutError>("@effect-resilience/ai/StreamTimeoutError")("StreamTimeoutError", {
    phase: Schema.Literal("FirstContent", "Idle"),
    timeout: Schema.DurationFromSelf
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const after = Duration.format(this.timeout)
    return this.phase === "FirstContent" ? `no content from the stream within ${after}` : `no stream part for ${after}`
  }

  /**
   * Transient: the next attempt may be faster.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient("Timeout")
  }
}

/**
 * A stream failed after it had delivered content, so it was not retried.
 * `contentParts` counts the content parts delivered; `cause` is the failure
 * (the stream's own error, a `StreamErrorPart`, a `StreamTimeoutError`).
 * Permanent: retrying it would repeat what was delivered.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * const error = new StreamGuard.StreamInterruptedError({ contentParts: 3, cause: new Error("socket hang up") })
 * error.message // "the stream failed after 3 content parts were delivered; not retried"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamInterruptedError extends Schema.TaggedError<StreamInterruptedError>(
  "@effect-resilience/ai/StreamInterruptedError"
)("StreamInterruptedError", {
  contentParts: Schema.Number,
  cause: Schema.Defect
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the stream failed after ${this.contentParts} content parts were delivered; not retried`
  }

  /**
   * Permanent: the output was already (partly) delivered.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.permanent("Unknown")
  }
}

/**
 * Tells whether a value is a `StreamInterruptedError`.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * StreamGuard.isStreamInterruptedError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isStreamInterruptedError = (u: unknown): u is StreamInterruptedError => u instanceof StreamInterruptedError

/**
 * Tells whether a value is a `StreamTimeoutError`.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * StreamGuard.isStreamTimeoutError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isStreamTimeoutError = (u: unknown): u is StreamTimeoutError => u instanceof StreamTimeoutError

/**
 * Tells whether a value is a `StreamErrorPart`.
 *
 * @example
 * ```ts
 * import { StreamGuard } from "@effect-resilience/ai"
 *
 * StreamGuard.isStreamErrorPart(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isStreamErrorPart = (u: unknown): u is StreamErrorPart => u instanceof StreamErrorPart
