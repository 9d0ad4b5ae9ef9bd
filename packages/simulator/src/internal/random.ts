import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/**
 * A standard normal draw (mean 0, standard deviation 1) from two uniform draws of effect's `Random` (Box–Muller),
 * so a seeded `Random` (`TestRandom`, `SeededRandom`) makes it reproducible.
 */
export const standardNormal: Effect.Effect<number> = Effect.map(
  Effect.zip(Random.next, Random.next),
  ([u, v]) => Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v)
)
