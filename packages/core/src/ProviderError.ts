/**
 * The typed errors of a provider call.
 *
 * A provider written against this library fails with a `TransientError` (the
 * same call may succeed later: a 429, a 529, a 5xx, a dropped connection) or a
 * `PermanentError` (it will not: a bad request, a revoked key, an exhausted
 * quota). Each error carries its own verdict, so `Classify.standard` and
 * `Retry` know what to do with it without any configuration.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Classify from "./Classify.js"

/**
 * Why a call failed in a way that may pass if tried again.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * const reason: ProviderError.TransientReason = "Overloaded"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const TransientReason = Schema.Literal(
  "RateLimited",
  "Overloaded",
  "ServerError",
  "Timeout",
  "Network",
  "Unavailable"
)

/**
 * @since 0.1.0
 * @category models
 */
export type TransientReason = typeof TransientReason.Type

/**
 * Why a call failed in a way that trying again cannot fix.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * const reason: ProviderError.PermanentReason = "QuotaExhausted"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const PermanentReason = Schema.Literal(
  "Authentication",
  "PermissionDenied",
  "InvalidRequest",
  "NotFound",
  "QuotaExhausted",
  "ContextLengthExceeded",
  "ContentFiltered",
  "Unknown"
)

/**
 * @since 0.1.0
 * @category models
 */
export type PermanentReason = typeof PermanentReason.Type

/**
 * A provider failure that may pass if the call is made again, possibly after
 * the provider's `retryAfter`.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * const rateLimited = Effect.fail(
 *   new ProviderError.TransientError({
 *     provider: "openai",
 *     reason: "RateLimited",
 *     status: 429,
 *     retryAfter: Duration.seconds(2),
 *     message: "Rate limit reached for requests"
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TransientError extends Schema.TaggedError<TransientError>("@effect-resilience/core/TransientError")(
  "TransientError",
  {
    provider: Schema.String,
    reason: TransientReason,
    status: Schema.optional(Schema.Number),
    retryAfter: Schema.optional(Schema.DurationFromSelf),
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * The verdict this error carries: transient, with its reason and Retry-After.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.transient(this.reason, { retryAfter: this.retryAfter })
  }
}

/**
 * A provider failure that trying again cannot fix.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * const quota = new ProviderError.PermanentError({
 *   provider: "openai",
 *   reason: "QuotaExhausted",
 *   status: 429,
 *   message: "You exceeded your current quota"
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PermanentError extends Schema.TaggedError<PermanentError>("@effect-resilience/core/PermanentError")(
  "PermanentError",
  {
    provider: Schema.String,
    reason: PermanentReason,
    status: Schema.optional(Schema.Number),
    retryAfter: Schema.optional(Schema.DurationFromSelf),
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * The verdict this error carries: permanent, with its reason.
   *
   * @since 0.1.0
   */
  [Classify.symbol](): Classify.Verdict {
    return Classify.permanent(this.reason)
  }
}

/**
 * Either provider error.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * const describe = (error: ProviderError.ProviderError): string => `${error._tag}: ${error.reason}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ProviderError = TransientError | PermanentError

/**
 * The schema of either provider error, for decoding and encoding them.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 * import { Schema } from "effect"
 *
 * const isOne = Schema.is(ProviderError.ProviderError)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProviderError: Schema.Union<[typeof TransientError, typeof PermanentError]> = Schema.Union(
  TransientError,
  PermanentError
)

/**
 * Tells whether a value is a `TransientError`.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * ProviderError.isTransientError(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransientError = (u: unknown): u is TransientError => u instanceof TransientError

/**
 * Tells whether a value is a `PermanentError`.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * ProviderError.isPermanentError(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPermanentError = (u: unknown): u is PermanentError => u instanceof PermanentError

/**
 * Tells whether a value is a `TransientError` or a `PermanentError`.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 *
 * ProviderError.isProviderError({ _tag: "TransientError" }) // false: not an instance
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isProviderError = (u: unknown): u is ProviderError => isTransientError(u) || isPermanentError(u)

/**
 * The Retry-After a provider error carries, if any.
 *
 * @example
 * ```ts
 * import { ProviderError } from "@effect-resilience/core"
 * import { Duration, Option } from "effect"
 *
 * const error = new ProviderError.TransientError({
 *   provider: "anthropic",
 *   reason: "RateLimited",
 *   retryAfter: Duration.seconds(3),
 *   message: "rate limited"
 * })
 * Option.getOrThrow(ProviderError.retryAfter(error)) // 3 seconds
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfter = (error: ProviderError): Option.Option<Duration.Duration> =>
  Option.fromNullable(error.retryAfter)
