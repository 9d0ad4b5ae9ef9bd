/**
 * Reproducible randomness for jitter.
 *
 * Every jitter in this library draws from effect's `Random` service. Effect 3
 * has no `TestRandom`, and its default `Random` is seeded differently on every
 * run; these helpers install a `Random` seeded with a value you choose, so the
 * same seed gives the same delays, in tests and in simulations alike.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"

/**
 * A layer that replaces the `Random` service with one seeded by `seed`.
 *
 * @example
 * ```ts
 * import { Backoff, SeededRandom } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const sameEveryTime = Backoff.standard.pipe(Backoff.delays(5), Effect.provide(SeededRandom.layer(42)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (seed: unknown): Layer.Layer<never> => Layer.setRandom(Random.make(seed))

/**
 * Runs an effect with a `Random` seeded by `seed`.
 *
 * @example
 * ```ts
 * import { Backoff, SeededRandom } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const delays = Backoff.standard.pipe(Backoff.delays(5), SeededRandom.withSeed("test-1"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSeed: {
  (seed: unknown): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, seed: unknown): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, seed: unknown): Effect.Effect<A, E, R> =>
    Effect.withRandom(self, Random.make(seed))
)
