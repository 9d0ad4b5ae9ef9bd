/**
 * Retry: call again on transient failures, with backoff, honouring the
 * provider's Retry-After.
 *
 * A `Policy` says how many calls to make (`maxAttempts`, counting the first),
 * how long to wait between them (a `Schedule`), which failures are worth
 * another call (a `Classifier`), and when waiting is pointless
 * (`retryAfterCeiling`, `maxElapsed`). `Retry.retry` applies it to an effect
 * without changing the effect's types: when retrying ends, the caller gets the
 * last error as it was.
 *
 * The wait before a retry is `max(backoff delay, Retry-After)`: a provider's
 * Retry-After is a floor that jitter never cuts short. Retrying stops at once,
 * without sleeping, when the provider asks for more than `retryAfterCeiling`,
 * when the next call would start after `maxElapsed` or after the caller's
 * `Deadline`, or when the retry budget says no.
 *
 * A circuit breaker inside the retry refuses calls with a `CircuitOpenError`
 * whose Retry-After is the time left in its break: by default the retry waits
 * for it (`onOpenCircuit: "wait"`), so a caller that can wait gets an answer as
 * soon as the breaker's probe finds the provider back; `onOpenCircuit: "fail"`
 * stops at the first refusal, for a caller that would rather hear at once. A
 * refused call costs the retry budget nothing.
 *
 * Every call is a span (`resilience.attempt`), every decision an event
 * (`ResilienceEvent`) and a metric (`ResilienceMetrics`).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Backoff from "./Backoff.js"
import type * as Classify from "./Classify.js"
import * as internal from "./internal/retry.js"
import type * as PolicyError from "./PolicyError.js"
import type * as RetryBudget from "./RetryBudget.js"

/**
 * What the backoff schedule receives before each retry: the failure that is
 * about to be retried, its verdict, and the number of the call that failed
 * (from 1). A custom schedule can read it, e.g. to stop on a reason.
 *
 * @example
 * ```ts
 * import type { Retry } from "@effect-resilience/core"
 * import { Schedule } from "effect"
 *
 * // Back off, but never retry an overload more than once
 * const backoff = Schedule.exponential("100 millis").pipe(
 *   Schedule.whileInput((failure: Retry.Failure<unknown>) =>
 *     failure.verdict.reason !== "Overloaded" || failure.attempt < 2
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure<out E> {
  readonly error: E
  readonly verdict: Classify.Transient
  readonly attempt: number
}

/**
 * The options of a retry policy. Every one has a default.
 *
 * @example
 * ```ts
 * import type { Retry } from "@effect-resilience/core"
 *
 * const options: Retry.Options<unknown> = {
 *   maxAttempts: 5,
 *   backoff: { base: "250 millis", max: "10 seconds", jitter: "equal" },
 *   retryAfterCeiling: "30 seconds",
 *   maxElapsed: "2 minutes"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<in E> {
  /**
   * Calls in all, the first included: `maxAttempts: 3` makes at most 3 calls
   * (2 retries). Default 3.
   */
  readonly maxAttempts?: number | undefined
  /**
   * The wait before each retry: a `Schedule` (it may end early, which stops
   * retrying) or `Backoff.Options`. Default `Backoff.standard`: 500 ms
   * doubling to 30 s, full jitter.
   */
  readonly backoff?: Schedule.Schedule<unknown, Failure<E>> | Backoff.Options | undefined
  /** Which failures to retry. Default `Classify.standard`. */
  readonly classify?: Classify.Classifier<E> | undefined
  /**
   * The longest Retry-After worth waiting for; a longer one stops retrying at
   * once with the last error. Default 60 s.
   */
  readonly retryAfterCeiling?: Duration.DurationInput | undefined
  /**
   * The longest time from the first call to the start of the last one; a
   * retry that would start later is not made. No limit by default.
   */
  readonly maxElapsed?: Duration.DurationInput | undefined
  /**
   * A retry budget shared by every call for this key (see `RetryBudget`): when
   * it says no, retrying stops with the last error. None by default.
   */
  readonly budget?: RetryBudget.RetryBudget | undefined
  /**
   * What a refusal by a circuit breaker inside the retry means (`CircuitOpenError`):
   *
   * - `"wait"` (the default): the refusal is retried like any transient failure, after the time left until
   *   the breaker half-opens (its Retry-After) when that is within `retryAfterCeiling`: the caller waits for
   *   the breaker's probe, and gets an answer as soon as the provider is back;
   * - `"fail"`: retrying stops at once with the `CircuitOpenError` (stop reason `CircuitOpen`): the caller
   *   hears at once that the provider is down, and decides itself (a cached answer, another provider).
   *
   * Either way a refused call reaches no provider and costs the retry budget nothing.
   */
  readonly onOpenCircuit?: "wait" | "fail" | undefined
  /** Names what is protected in events, metrics and spans, e.g. `"openai/gpt-4o"`. Default `"default"`. */
  readonly key?: string | undefined
  /**
   * One span per call (`resilience.attempt`): `true`, `false`, or `"auto"`
   * (the default): spans only when a tracer that exports them is installed
   * (e.g. `@effect/opentelemetry`), since a span costs ~10 µs per call and
   * effect's built-in tracer sends them nowhere.
   */
  readonly tracing?: boolean | "auto" | undefined
}

/**
 * A validated retry policy for failures of type `E`.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 *
 * const policy: Retry.Policy<unknown> = Retry.policy({ maxAttempts: 4 })
 * policy.maxAttempts // 4
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy<in E> {
  readonly maxAttempts: number
  readonly backoff: Schedule.Schedule<unknown, Failure<E>>
  readonly classify: Classify.Classifier<E>
  readonly retryAfterCeiling: Duration.Duration
  readonly maxElapsed: Option.Option<Duration.Duration>
  readonly budget: Option.Option<RetryBudget.RetryBudget>
  readonly onOpenCircuit: "wait" | "fail"
  readonly key: string
  readonly tracing: boolean | "auto"
}

/**
 * Checks options and builds a policy, or lists every problem found, each
 * with its option's path and the value received: for options that come from
 * outside the program, whatever their static type says. Unknown options (a
 * typo such as `maxAttempt`), a `backoff` that is neither a `Schedule` nor
 * valid `Backoff.Options`, a `budget` that is not a `RetryBudget` and a
 * `tracing` other than `true`, `false` or `"auto"` are problems too.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * Either.isLeft(Retry.validate({ maxAttempts: 0, retryAfterCeiling: "-1 seconds" })) // true, with two issues
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate: <E = unknown>(
  options?: Options<E>
) => Either.Either<Policy<E>, PolicyError.InvalidPolicyError> = internal.validate

/**
 * Builds a policy from options; omitted options take the defaults (3 calls,
 * 500 ms doubling to 30 s with full jitter, Retry-After ceiling 60 s).
 *
 * Invalid options throw an `InvalidPolicyError` listing every problem, where
 * the policy is defined: a programming error should fail at start-up. For
 * options that come from outside the program, use `Retry.validate`.
 *
 * @example
 * ```ts
 * import { Classify, Retry } from "@effect-resilience/core"
 *
 * const policy = Retry.policy({
 *   maxAttempts: 5,
 *   backoff: { base: "200 millis", max: "5 seconds" },
 *   classify: (error: { readonly status: number }) =>
 *     error.status >= 500 ? Classify.transient("ServerError") : Classify.permanent("InvalidRequest")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy: <E = unknown>(options?: Options<E>) => Policy<E> = internal.policy

/**
 * The default policy: 3 calls, 500 ms doubling to 30 s with full jitter,
 * Retry-After honoured up to 60 s, errors classified by `Classify.standard`.
 *
 * @example
 * ```ts
 * import { Retry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.succeed(42).pipe(Retry.retry(Retry.standard))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const standard: Policy<unknown> = internal.policy()

/**
 * Retries an effect by a policy.
 *
 * - a `Permanent` verdict is not retried, nor are defects and interruptions;
 * - at most `maxAttempts` calls are made, the first included;
 * - the wait before a retry is `max(backoff delay, Retry-After)`;
 * - a Retry-After above `retryAfterCeiling`, a retry that would start after
 *   `maxElapsed` or after the caller's deadline (`Deadline.within`), a
 *   retry the `budget` refuses, or (with `onOpenCircuit: "fail"`) a refusal by
 *   a circuit breaker, stops at once;
 * - interrupting the caller during a wait ends the wait and makes no further call;
 * - when retrying ends, the effect fails with the last error, unchanged.
 *
 * The success path does no bookkeeping beyond one metric (and one span and
 * events, when enabled): the retry loop only starts on a failure.
 *
 * @example
 * ```ts
 * import { ProviderError, Retry } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * let calls = 0
 * const flaky = Effect.suspend(() =>
 *   ++calls < 3
 *     ? Effect.fail(
 *       new ProviderError.TransientError({
 *         provider: "openai",
 *         reason: "RateLimited",
 *         retryAfter: Duration.millis(10),
 *         message: "slow down"
 *       })
 *     )
 *     : Effect.succeed("done")
 * )
 *
 * // data-last
 * const a = flaky.pipe(Retry.retry(Retry.policy({ maxAttempts: 3 })))
 * // data-first
 * const b = Retry.retry(flaky, Retry.standard)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <P>(policy: Policy<P>): <A, E extends P, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, policy: Policy<NoInfer<E>>): Effect.Effect<A, E, R>
} = dual(2, internal.retry)
