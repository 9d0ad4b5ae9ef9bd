/**
 * Classification: the one question resilience asks of every error.
 *
 * May this call be tried again, and when? A `Classifier<E>` answers it for an
 * error type `E` with a `Verdict` (`Transient` with a reason and an optional
 * Retry-After, or `Permanent` with a reason) and leaves the error itself
 * untouched, so retrying never changes a program's error type.
 *
 * Errors of this library (`ProviderError.TransientError`, the policies' own
 * errors) carry their verdict (`Classify.Classifiable`), which is how
 * `Classify.standard` knows them. Classifiers for foreign errors are built from
 * rules: `Classify.firstOf([Classify.tagged("Timeout", ...), ...], otherwise)`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as ProviderError from "./ProviderError.js"

/**
 * The key of the method through which a value tells its own verdict.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * class Busy {
 *   [Classify.symbol]() {
 *     return Classify.transient("Overloaded")
 *   }
 * }
 * Classify.standard(new Busy()) // Transient Overloaded
 * ```
 *
 * @since 0.1.0
 * @category symbols
 */
export const symbol: unique symbol = Symbol.for("@effect-resilience/core/Classify")

/**
 * A value that knows its own verdict.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const value: Classify.Classifiable = { [Classify.symbol]: () => Classify.permanent("Unknown") }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Classifiable {
  [symbol](): Verdict
}

/**
 * The call may pass if tried again, not before `retryAfter` when one is known.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const verdict: Classify.Transient = Classify.transient("RateLimited", { retryAfter: "2 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transient {
  readonly _tag: "Transient"
  readonly reason: ProviderError.TransientReason
  readonly retryAfter: Option.Option<Duration.Duration>
}

/**
 * The call will not pass if tried again.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const verdict: Classify.Permanent = Classify.permanent("Authentication")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Permanent {
  readonly _tag: "Permanent"
  readonly reason: ProviderError.PermanentReason
}

/**
 * What a classifier says of an error.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const describe = (verdict: Classify.Verdict): string =>
 *   verdict._tag === "Transient" ? `retry (${verdict.reason})` : `give up (${verdict.reason})`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict = Transient | Permanent

/**
 * Maps an error to its verdict. It must be total and must not throw.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const byStatus: Classify.Classifier<{ readonly status: number }> = (error) =>
 *   error.status === 429 ? Classify.transient("RateLimited") : Classify.permanent("InvalidRequest")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Classifier<in E> = (error: E) => Verdict

/**
 * A classifier that knows only some errors: `None` passes the error on to the
 * next rule.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 * import { Option } from "effect"
 *
 * const timeouts: Classify.Rule<Error> = (error) =>
 *   error.name === "TimeoutError" ? Option.some(Classify.transient("Timeout")) : Option.none()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Rule<in E> = (error: E) => Option.Option<Verdict>

/**
 * Marks errors raised by a policy that refused a call before it reached the
 * provider (an open circuit, a full bulkhead, a local rate limit). They are
 * transient for `Retry`, but a retry budget does not count them as failed
 * provider calls.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * class Refused {
 *   readonly [Classify.rejectedLocally] = true
 * }
 * Classify.isRejectedLocally(new Refused()) // true
 * ```
 *
 * @since 0.1.0
 * @category symbols
 */
export const rejectedLocally: unique symbol = Symbol.for("@effect-resilience/core/Classify/rejectedLocally")

/**
 * Tells whether an error was raised by a policy that refused the call locally.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.isRejectedLocally(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRejectedLocally = (u: unknown): boolean =>
  Predicate.hasProperty(u, rejectedLocally) && u[rejectedLocally] === true

/**
 * A transient verdict.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.transient("Overloaded")
 * Classify.transient("RateLimited", { retryAfter: "1500 millis" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const transient = (
  reason: ProviderError.TransientReason,
  options?: { readonly retryAfter?: Duration.DurationInput | undefined }
): Transient => ({
  _tag: "Transient",
  reason,
  retryAfter: options?.retryAfter === undefined ? Option.none() : Option.some(Duration.decode(options.retryAfter))
})

/**
 * A permanent verdict.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.permanent("ContextLengthExceeded")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const permanent = (reason: ProviderError.PermanentReason): Permanent => ({ _tag: "Permanent", reason })

/**
 * Tells whether a verdict is transient.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.isTransient(Classify.transient("Network")) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTransient = (verdict: Verdict): verdict is Transient => verdict._tag === "Transient"

/**
 * Tells whether a verdict is permanent.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.isPermanent(Classify.permanent("NotFound")) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPermanent = (verdict: Verdict): verdict is Permanent => verdict._tag === "Permanent"

/**
 * Tells whether a value carries its own verdict.
 *
 * @example
 * ```ts
 * import { Classify, ProviderError } from "@effect-resilience/core"
 *
 * Classify.isClassifiable(
 *   new ProviderError.TransientError({ provider: "openai", reason: "Network", message: "socket hang up" })
 * ) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isClassifiable = (u: unknown): u is Classifiable =>
  Predicate.hasProperty(u, symbol) && Predicate.isFunction(u[symbol])

/**
 * Classifies the errors of this library (`ProviderError` and the policies' own
 * errors) by the verdict they carry.
 *
 * @example
 * ```ts
 * import { Classify, ProviderError } from "@effect-resilience/core"
 *
 * Classify.providerError(
 *   new ProviderError.PermanentError({ provider: "openai", reason: "Authentication", status: 401, message: "bad key" })
 * ) // Permanent Authentication
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const providerError: Classifier<Classifiable> = (error) => error[symbol]()

/**
 * The classifier used when none is given: a value that carries a verdict
 * (`ProviderError`, the policies' own errors) is classified by it; anything
 * else is `Permanent` with reason `Unknown`, because retrying an error nobody
 * has described (a bug, a quota, a bad request) wastes money and hides the bug.
 * Pass a classifier for your own transient errors.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.standard(new Error("boom")) // Permanent Unknown
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const standard: Classifier<unknown> = (error) => isClassifiable(error) ? error[symbol]() : unknownVerdict

const unknownVerdict: Permanent = permanent("Unknown")

/**
 * Gives its argument back, typed: a way to write a classifier with inference.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const classify = Classify.make((error: { readonly code: string }) =>
 *   error.code === "ECONNRESET" ? Classify.transient("Network") : Classify.permanent("Unknown")
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E>(classify: Classifier<E>): Classifier<E> => classify

/**
 * A classifier that gives every error the same verdict.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * // cockatiel's `handleAll`: every failure may be retried
 * const everything = Classify.always(Classify.transient("ServerError"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const always = (verdict: Verdict): Classifier<unknown> => () => verdict

/**
 * A rule for the errors a refinement accepts.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * class Timeout extends Error {}
 * const timeouts = Classify.when(
 *   (error: Error): error is Timeout => error instanceof Timeout,
 *   Classify.transient("Timeout")
 * )
 * ```
 *
 * @since 0.1.0
 * @category rules
 */
export const when: {
  <E, A extends E>(refinement: Predicate.Refinement<E, A>, classify: Classifier<A> | Verdict): Rule<E>
  <E>(predicate: Predicate.Predicate<E>, classify: Classifier<E> | Verdict): Rule<E>
} = <E>(predicate: Predicate.Predicate<E>, classify: Classifier<E> | Verdict): Rule<E> => {
  const toVerdict = Predicate.isFunction(classify) ? classify : () => classify
  return (error) => predicate(error) ? Option.some(toVerdict(error)) : Option.none()
}

/**
 * A rule for the errors with a given `_tag`.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * type AppError = { readonly _tag: "Busy" } | { readonly _tag: "BadInput" }
 * const busy = Classify.tagged<AppError, "Busy">("Busy", Classify.transient("Overloaded"))
 * ```
 *
 * @since 0.1.0
 * @category rules
 */
export const tagged = <E extends { readonly _tag: string }, const Tag extends E["_tag"]>(
  tag: Tag,
  classify: Classifier<Extract<E, { readonly _tag: Tag }>> | Verdict
): Rule<E> => when((error: E): error is Extract<E, { readonly _tag: Tag }> => error._tag === tag, classify)

/**
 * A classifier that tries rules in order and falls back to `otherwise` when
 * none knows the error.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * type AppError = { readonly _tag: "Busy" } | { readonly _tag: "Gone" } | { readonly _tag: "BadInput" }
 * const classify = Classify.firstOf<AppError>([
 *   Classify.tagged("Busy", Classify.transient("Overloaded")),
 *   Classify.tagged("Gone", Classify.transient("Unavailable"))
 * ], Classify.always(Classify.permanent("InvalidRequest")))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const firstOf = <E>(rules: ReadonlyArray<Rule<E>>, otherwise: Classifier<E>): Classifier<E> => (error) => {
  for (const rule of rules) {
    const verdict = rule(error)
    if (Option.isSome(verdict)) return verdict.value
  }
  return otherwise(error)
}

/**
 * Completes a rule with a classifier for the errors it does not know.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * const classify = Classify.orElse(
 *   Classify.when((error: unknown) => error instanceof TypeError, Classify.permanent("InvalidRequest")),
 *   Classify.standard
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const orElse: {
  <E>(otherwise: Classifier<E>): (self: Rule<E>) => Classifier<E>
  <E>(self: Rule<E>, otherwise: Classifier<E>): Classifier<E>
} = dual(2, <E>(self: Rule<E>, otherwise: Classifier<E>): Classifier<E> => firstOf([self], otherwise))

/**
 * Classifies an error by a part of it: a classifier for `A` becomes one for
 * `B` given a way to get an `A` out of a `B`.
 *
 * @example
 * ```ts
 * import { Classify, ProviderError } from "@effect-resilience/core"
 *
 * interface Wrapped {
 *   readonly inner: ProviderError.ProviderError
 * }
 * const classify = Classify.mapInput(Classify.providerError, (error: Wrapped) => error.inner)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapInput: {
  <B, A>(f: (error: B) => A): (self: Classifier<A>) => Classifier<B>
  <A, B>(self: Classifier<A>, f: (error: B) => A): Classifier<B>
} = dual(2, <A, B>(self: Classifier<A>, f: (error: B) => A): Classifier<B> => (error) => self(f(error)))

/**
 * The Retry-After of a verdict, if it is transient and has one.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 *
 * Classify.retryAfter(Classify.transient("RateLimited", { retryAfter: "3 seconds" })) // Some(3 seconds)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfter = (verdict: Verdict): Option.Option<Duration.Duration> =>
  verdict._tag === "Transient" ? verdict.retryAfter : Option.none()
