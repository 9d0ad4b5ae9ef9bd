/**
 * Hedge: for latency-critical calls, a second call started when the first is
 * slow; the first to succeed wins and the other is interrupted.
 *
 * The hedge starts after a delay: a fixed one, or, once enough calls have
 * been seen, a percentile of the latencies of the last calls (the p95 of the
 * last 100 by default), so only the slowest few calls in a hundred are
 * hedged. The hedge may call the same effect again or another (the next
 * provider). Effects race with effect's own `Effect.race`: the first success
 * wins; the loser is interrupted and its finalizers have run when the caller
 * gets the result.
 *
 * A hedge is extra load on a provider, like a retry, and is charged to a
 * `RetryBudget`: a ratio budget counts it as a retry when it allows it; a
 * token bucket, whose only debit is a failure, is charged one token per hedge
 * when the hedge ends. A hedge refused locally (an open circuit, a full
 * bulkhead, a local rate limit: an error marked `Classify.rejectedLocally`)
 * never reached the provider and costs the budget nothing, as a retry refused
 * locally does (`RetryBudget.reserve` / `refund`). When the budget says no,
 * the primary call goes on alone and a `HedgeDenied` event says so. Without a
 * budget every slow call is hedged.
 *
 * When the primary call fails before the delay, the hedge starts at once if
 * the failure is transient (a second provider may well answer), charged to
 * the budget as well; a permanent failure is the caller's at once. When both
 * calls fail, the cause holds both failures (the first to fail first).
 *
 * Events: `HedgeStarted` (with the delay and what set it), `HedgeDenied`,
 * `HedgeSettled` (which call won); the winner is also the span attribute
 * `resilience.hedge.winner`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import { dual } from "effect/Function"
import type * as Classify from "./Classify.js"
import * as internal from "./internal/hedge.js"
import type * as PolicyError from "./PolicyError.js"
import type * as RetryBudget from "./RetryBudget.js"

/**
 * The options of a hedge. Only `delay` is required.
 *
 * @example
 * ```ts
 * import type { Hedge } from "@effect-resilience/core"
 *
 * const options: Hedge.Options = { key: "openai/gpt-4o-mini", delay: "800 millis", percentile: 0.95 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the hedge in events, e.g. `"openai/gpt-4o-mini"`. Default `"default"`. */
  readonly key?: string | undefined
  /** The wait before the hedge starts, until `minSamples` latencies have been seen (always, with `percentile: false`). */
  readonly delay: Duration.DurationInput
  /**
   * The percentile of the recent latencies used as the delay once there are
   * `minSamples` of them, in (0, 1] (nearest rank); `false` keeps the fixed
   * delay. Default 0.95.
   */
  readonly percentile?: number | false | undefined
  /** How many recent latencies are kept (the last ones). Default 100. */
  readonly sampleSize?: number | undefined
  /** Latencies needed before the percentile replaces the fixed delay (≤ `sampleSize`). Default 20. */
  readonly minSamples?: number | undefined
  /** The budget each hedge is charged to (a hedge refused locally is given back); none by default (every slow call is hedged). */
  readonly budget?: RetryBudget.RetryBudget | undefined
  /** Whether a transient failure of the primary call before the delay starts the hedge at once. Default `true`. */
  readonly hedgeOnFailure?: boolean | undefined
  /** Classifies the primary's failures (this library's errors carry their verdict). Default `Classify.standard`. */
  readonly classify?: Classify.Classifier<any> | undefined
}

/**
 * A hedge's options, checked and with defaults filled in.
 *
 * @example
 * ```ts
 * import { Hedge } from "@effect-resilience/core"
 * import { Either } from "effect"
 *
 * const settings = Either.map(Hedge.validate({ delay: "1 second" }), (s: Hedge.Settings) => s.percentile) // 0.95
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly key: string
  readonly delay: Duration.Duration
  readonly percentile: number | false
  readonly sampleSize: number
  readonly minSamples: number
  readonly budget: RetryBudget.RetryBudget | undefined
  readonly hedgeOnFailure: boolean
  readonly classify: Classify.Classifier<any>
}

/**
 * A hedge: its settings and the sample of recent latencies it derives its
 * delay from. Use it through `Hedge.hedge`; share one per key.
 *
 * @example
 * ```ts
 * import { Hedge } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const hedge: Hedge.Hedge = yield* Hedge.make({ delay: "1 second" })
 *   return yield* hedge.nextDelay // { delay: 1 second, basis: "Fixed" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Hedge {
  readonly settings: Settings
  /** The delay the next hedged call would use, and what set it. */
  readonly nextDelay: Effect.Effect<{ readonly delay: Duration.Duration; readonly basis: "Fixed" | "Percentile" }>
  /** Adds a latency to the sample (`Hedge.hedge` records each successful call's own). */
  readonly record: (latency: Duration.DurationInput) => Effect.Effect<void>
  /** The latencies in the sample, oldest first. */
  readonly latencies: Effect.Effect<ReadonlyArray<Duration.Duration>>
  /** The classifier, with this library's errors classified by their own verdict. */
  readonly classify: Classify.Classifier<unknown>
}

/**
 * Checks options, filling in defaults, or lists every problem found.
 *
 * @example
 * ```ts
 * import { Hedge } from "@effect-resilience/core"
 *
 * Hedge.validate({ delay: "-1 seconds", percentile: 2 }) // Left(InvalidPolicyError) with two issues
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate: (options: Options) => Either.Either<Settings, PolicyError.InvalidPolicyError> = internal.validate

/**
 * Makes a hedge, with an empty latency sample.
 *
 * @example
 * ```ts
 * import { Hedge, RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.tokenBucket({ key: "openai", maxTokens: 10 })
 *   return yield* Hedge.make({ key: "openai", delay: "2 seconds", percentile: 0.9, budget })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<Hedge, PolicyError.InvalidPolicyError> = internal.make

/**
 * Runs an effect with a hedge: if it has not ended after the hedge's delay,
 * `backup` (by default the same effect) starts too; the first success wins
 * and the other call is interrupted.
 *
 * @example
 * ```ts
 * import { Hedge, ProviderError } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * declare const openai: Effect.Effect<string, ProviderError.ProviderError>
 * declare const anthropic: Effect.Effect<string, ProviderError.ProviderError>
 *
 * const program = Effect.gen(function*() {
 *   const hedge = yield* Hedge.make({ key: "chat", delay: "1500 millis" })
 *   // data-last: hedge OpenAI with Anthropic
 *   const a = yield* openai.pipe(Hedge.hedge(hedge, anthropic))
 *   // data-first: hedge with a second call to the same provider
 *   const b = yield* Hedge.hedge(openai, hedge)
 *   return [a, b]
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const hedge: {
  <A2 = never, E2 = never, R2 = never>(
    hedge: Hedge,
    backup?: Effect.Effect<A2, E2, R2>
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | E2, R | R2>
  <A, E, R, A2 = A, E2 = E, R2 = R>(
    self: Effect.Effect<A, E, R>,
    hedge: Hedge,
    backup?: Effect.Effect<A2, E2, R2>
  ): Effect.Effect<A | A2, E | E2, R | R2>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, A2, E2, R2>(
    self: Effect.Effect<A, E, R>,
    hedge: Hedge,
    backup?: Effect.Effect<A2, E2, R2>
  ): Effect.Effect<A | A2, E | E2, R | R2> =>
    internal.hedge(self, hedge, backup ?? (self as unknown as Effect.Effect<A2, E2, R2>))
)
