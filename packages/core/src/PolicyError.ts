/**
 * The error for a policy built from invalid options.
 *
 * A policy is checked once, where it is built, and every problem is listed in
 * one error, so a bad configuration fails at start-up with a message a person
 * can act on, never in the middle of a provider outage.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Options that cannot describe a policy (`maxAttempts: 0`, a negative
 * duration, a jitter ratio above 1, an unknown option, ...). `issues` lists
 * every problem found, each naming its option's path and showing the value
 * received (`NaN` and `Infinity` as such), in the same words whether the
 * options went to a policy's own constructor or to `Resilience.Config`.
 *
 * @example
 * ```ts
 * import { PolicyError, Retry } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * const result = Retry.validate({ maxAttempts: 0 })
 * if (Either.isLeft(result)) {
 *   console.log(result.left.issues) // ["maxAttempts: must be a whole number ≥ 1, got 0"]
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPolicyError
  extends Schema.TaggedError<InvalidPolicyError>("@effect-resilience/core/InvalidPolicyError")("InvalidPolicyError", {
    policy: Schema.String,
    issues: Schema.Array(Schema.String)
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `invalid ${this.policy} policy: ${this.issues.join("; ")}`
  }
}

/**
 * Tells whether a value is an `InvalidPolicyError`.
 *
 * @example
 * ```ts
 * import { PolicyError } from "@effect-resilience/core"
 *
 * PolicyError.isInvalidPolicyError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isInvalidPolicyError = (u: unknown): u is InvalidPolicyError => u instanceof InvalidPolicyError
