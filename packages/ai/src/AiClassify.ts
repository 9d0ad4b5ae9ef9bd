/**
 * AiClassify: which `AiError`s of `@effect/ai` are worth another call, and when.
 *
 * A status code alone lies about LLM providers: OpenAI answers an exhausted
 * quota (`insufficient_quota`) with a 429, the same status as a rate limit
 * that passes in a second; Anthropic's 529 `overloaded_error` passes, its 400
 * "prompt is too long" never will; Google says how long to wait in the body
 * (`RetryInfo.retryDelay`), and a daily quota asks for hours. So an
 * `HttpResponseError` is classified by its body first (the provider's error
 * code), then by its status and headers (`HttpClassify`: Retry-After,
 * `x-should-retry`, which wins over the body when present).
 *
 * The same body rules classify the error *parts* a provider sends inside a
 * stream (`{ type: "error", error }`): `AiClassify.streamError`.
 *
 * Reading a body is total: a body that is not JSON, too long, of an unknown
 * shape, or with an absurd retry delay falls back to the status rules; it
 * never throws.
 *
 * A classifier is synchronous, so a Retry-After given as an HTTP date (or a
 * rate-limit reset given as an instant) is turned into a delay against the
 * system clock, not effect's `Clock`; delays given in seconds or
 * milliseconds, what the providers send, are exact under `TestClock`.
 *
 * | provider | code (field) | verdict |
 * | --- | --- | --- |
 * | OpenAI | `insufficient_quota` (`code`/`type`) | permanent `QuotaExhausted` |
 * | OpenAI | `rate_limit_exceeded` | transient `RateLimited` |
 * | OpenAI | `context_length_exceeded` | permanent `ContextLengthExceeded` |
 * | OpenAI | `content_policy_violation`, `content_filter` | permanent `ContentFiltered` |
 * | Anthropic | `overloaded_error` (529) | transient `Overloaded` |
 * | Anthropic | `rate_limit_error` | transient `RateLimited` |
 * | Anthropic | `invalid_request_error` | permanent `InvalidRequest` |
 * | Anthropic | message "prompt is too long" | permanent `ContextLengthExceeded` |
 * | Anthropic | message "credit balance is too low" (a 400) | permanent `QuotaExhausted` |
 * | Google | `RESOURCE_EXHAUSTED` + `RetryInfo.retryDelay` ≤ ceiling | transient `RateLimited`, Retry-After = delay |
 * | Google | `RESOURCE_EXHAUSTED` + delay > ceiling, or a `PerDay` quota | permanent `QuotaExhausted` |
 *
 * @since 0.1.0
 */
import type { Classify } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import type * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import * as internal from "./internal/aiClassify.js"

/**
 * How to classify what the status and body do not settle.
 *
 * @example
 * ```ts
 * import type { AiClassify } from "@effect-resilience/ai"
 *
 * const options: AiClassify.Options = {
 *   retryDelayCeiling: "2 minutes",
 *   malformedOutput: "transient",
 *   maxBodyLength: 16_384
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The longest retry delay in a body (Google's `RetryInfo`) still worth
   * waiting for: a longer one ("retry in 10h", a daily quota) is permanent
   * `QuotaExhausted`. Default 60 seconds, the retry policy's default
   * Retry-After ceiling.
   */
  readonly retryDelayCeiling?: Duration.DurationInput | undefined
  /**
   * What a `MalformedOutput` (and an `HttpResponseError` whose body could not
   * be decoded or was empty, unless the connection broke while it was read:
   * that is always transient `Network`) is: `"permanent"` (`Unknown`, the default: the
   * same request usually gets the same answer) or `"transient"`
   * (`ServerError`: for models that sometimes return broken JSON).
   */
  readonly malformedOutput?: "permanent" | "transient" | undefined
  /** The longest body that is parsed; a longer one is classified by its status. Default 64 KiB. */
  readonly maxBodyLength?: number | undefined
}

/**
 * Builds a classifier for `AiError`:
 *
 * - `HttpResponseError`: by the provider's error body (see the table above),
 *   else by status and headers (`HttpClassify.status`); `x-should-retry` wins;
 *   a `Decode` / `EmptyBody` error whose body was cut by a broken connection
 *   (`UND_ERR_SOCKET`, `ECONNRESET`...) is transient `Network`;
 * - `HttpRequestError`: `Transport` is transient `Network` (a malformed
 *   request is permanent), `Encode` and `InvalidUrl` permanent `InvalidRequest`;
 * - `MalformedInput`: permanent `InvalidRequest`; `MalformedOutput`: per
 *   `options.malformedOutput`;
 * - `UnknownError`: the verdict of its `cause` when it carries one (a policy
 *   error of this library), else permanent `Unknown`.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 * import { AiError } from "@effect/ai"
 *
 * const classify = AiClassify.make({ retryDelayCeiling: "30 seconds" })
 * classify(new AiError.MalformedInput({ module: "OpenAiLanguageModel", method: "generateText" }))
 * // Permanent InvalidRequest
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Classify.Classifier<AiError.AiError> = internal.make

/**
 * The classifier with the default options.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 * import { Classify, Resilience } from "@effect-resilience/core"
 * import { AiError } from "@effect/ai"
 *
 * const ResilienceLive = Resilience.layer({}, {
 *   classify: (error: unknown) => AiError.isAiError(error) ? AiClassify.classify(error) : Classify.standard(error)
 * })
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const classify: Classify.Classifier<AiError.AiError> = internal.make()

/**
 * A rule that knows every `AiError` and passes anything else on, for
 * `Classify.firstOf` or `Classify.orElse`.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 * import { Classify, Resilience } from "@effect-resilience/core"
 *
 * const ResilienceLive = Resilience.layer({}, {
 *   classify: Classify.orElse(AiClassify.rule(), Classify.standard)
 * })
 * ```
 *
 * @since 0.1.0
 * @category rules
 */
export const rule: (options?: Options) => Classify.Rule<unknown> = internal.rule

/**
 * Classifies an error part a provider sent inside a stream (the `error` of a
 * `{ type: "error", error }` part): OpenAI's Responses `error` event
 * (`{ type: "error", code, message }`), Anthropic's
 * (`{ type: "overloaded_error", message }`, or the whole event
 * `{ type: "error", error: { ... } }`), by the same body rules. A payload
 * nobody recognises is permanent `Unknown`.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 *
 * AiClassify.streamError({ type: "overloaded_error", message: "Overloaded" }) // Transient Overloaded
 * AiClassify.streamError({ type: "error", code: "insufficient_quota", message: "..." }) // Permanent QuotaExhausted
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const streamError = (payload: unknown, options?: Options): Classify.Verdict =>
  internal.streamError(payload, internal.resolve(options))

/**
 * Classifies a parsed error body by the provider's error code alone, or
 * `None` when the body says nothing known. `retryAfter` (from the headers)
 * is given to the transient verdicts.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 * import { Option } from "effect"
 *
 * AiClassify.body({ error: { type: "rate_limit_error", message: "slow down" } }, Option.none())
 * // Some(Transient RateLimited)
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const body = (
  parsed: unknown,
  retryAfter: Option.Option<Duration.Duration>,
  options?: Options
): Option.Option<Classify.Verdict> => internal.body(parsed, retryAfter, internal.resolve(options))

/**
 * Parses the `body` of an `HttpResponseError` (which `@effect/ai` stores
 * JSON-encoded, once more for a body read as text) into an object; `None`
 * for anything that is not a JSON object or is longer than `maxLength`.
 * Never throws.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 *
 * AiClassify.parseBody('{"error":{"code":"insufficient_quota"}}') // Some({ error: { code: ... } })
 * AiClassify.parseBody("<html>502 Bad Gateway</html>") // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseBody: (body: string | undefined, maxLength?: number) => Option.Option<unknown> = internal.parseBody

/**
 * Reads a protobuf `Duration` as Google sends it in `RetryInfo.retryDelay`
 * (`"34s"`, `"0.5s"`, or `{ seconds, nanos }`); `None` when unreadable,
 * negative, or longer than 7 days.
 *
 * @example
 * ```ts
 * import { AiClassify } from "@effect-resilience/ai"
 *
 * AiClassify.parseRetryDelay("34s") // Some(34 seconds)
 * AiClassify.parseRetryDelay("9999999999s") // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryDelay: (u: unknown) => Option.Option<Duration.Duration> = internal.parseRetryDelay
