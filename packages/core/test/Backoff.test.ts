import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import { Backoff, SeededRandom } from "../src/index.js"

const millis = <R>(self: Effect.Effect<Array<Duration.Duration>, never, R>) =>
  Effect.map(self, (delays) => delays.map(Duration.toMillis))

describe("Backoff.exponential", () => {
  it.effect("doubles from base and stops growing at the cap", () =>
    Effect.gen(function*() {
      const delays = yield* millis(Backoff.delays(Backoff.exponential({ base: "10 millis", max: "40 millis" }), 6))
      expect(delays).toEqual([10, 20, 40, 40, 40, 40])
    }))

  it.effect("grows by the given factor", () =>
    Effect.gen(function*() {
      const delays = yield* millis(
        Backoff.delays(Backoff.exponential({ base: "1 second", factor: 3, max: "1 minute" }), 5)
      )
      expect(delays).toEqual([1000, 3000, 9000, 27000, 60000])
    }))

  it.effect("stays at the cap long after base * factor^n overflows", () =>
    Effect.gen(function*() {
      const delays = yield* millis(Backoff.delays(Backoff.exponential({ base: "1 millis", max: "5 seconds" }), 1200))
      expect(delays.slice(-3)).toEqual([5000, 5000, 5000])
      expect(delays.every((d) => Number.isFinite(d) && d >= 0 && d <= 5000)).toBe(true)
    }))
})

describe("Backoff.delays", () => {
  it.effect("stops early when the schedule ends", () =>
    Effect.gen(function*() {
      const schedule = Backoff.exponential({ base: "100 millis", max: "1 second" }).pipe(
        Schedule.intersect(Schedule.recurs(2))
      )
      expect(yield* millis(Backoff.delays(schedule, 10))).toEqual([100, 200])
    }))

  it.effect("lists any effect schedule", () =>
    Effect.gen(function*() {
      expect(yield* millis(Backoff.delays(Schedule.fibonacci("10 millis"), 5))).toEqual([10, 10, 20, 30, 50])
    }))
})

describe("Backoff.make", () => {
  it.effect("without jitter is the plain exponential", () =>
    Effect.gen(function*() {
      const delays = yield* millis(
        Backoff.delays(Backoff.make({ base: "500 millis", max: "30 seconds", jitter: "none" }), 8)
      )
      expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000])
    }))

  it.effect("gives the same delays for the same seed and different ones for another", () =>
    Effect.gen(function*() {
      const first = yield* millis(Backoff.delays(Backoff.standard, 10)).pipe(SeededRandom.withSeed(7))
      const again = yield* millis(Backoff.delays(Backoff.standard, 10)).pipe(SeededRandom.withSeed(7))
      const other = yield* millis(Backoff.delays(Backoff.standard, 10)).pipe(SeededRandom.withSeed(8))
      expect(again).toEqual(first)
      expect(other).not.toEqual(first)
    }))
})

// Laws of every jitter strategy, for random bases, caps and seeds.
const backoffArbs = {
  seed: FastCheck.integer(),
  base: FastCheck.integer({ min: 0, max: 10_000 }),
  extra: FastCheck.integer({ min: 0, max: 100_000 }),
  factor: FastCheck.double({ min: 1, max: 4, noNaN: true })
}

// Delays pass through the schedule's absolute instants (now + d - now), which can cost a few ulps: allow a nanosecond.
const slack = (d: number) => 1e-6 + 1e-9 * d

const envelope = (base: number, factor: number, max: number, count: number) =>
  Array.from({ length: count }, (_, n) => Math.min(max, base * Math.pow(factor, n)))

describe("jitter laws", () => {
  const count = 12

  it.effect.prop(
    "full jitter stays within [0, d]",
    backoffArbs,
    ({ base, extra, factor, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(
          Backoff.delays(Backoff.jittered(Backoff.exponential({ base, factor, max }), Backoff.full), count)
        ).pipe(SeededRandom.withSeed(seed))
        envelope(base, factor, max, count).forEach((d, n) => {
          expect(delays[n]).toBeGreaterThanOrEqual(0)
          expect(delays[n]).toBeLessThanOrEqual(d + slack(d))
        })
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "equal jitter stays within [d/2, d]",
    backoffArbs,
    ({ base, extra, factor, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(
          Backoff.delays(Backoff.jittered(Backoff.exponential({ base, factor, max }), Backoff.equal), count)
        ).pipe(SeededRandom.withSeed(seed))
        envelope(base, factor, max, count).forEach((d, n) => {
          expect(delays[n]).toBeGreaterThanOrEqual(d / 2 - slack(d))
          expect(delays[n]).toBeLessThanOrEqual(d)
        })
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "proportional jitter stays within d ± ratio",
    { ...backoffArbs, ratio: FastCheck.double({ min: 0, max: 1, noNaN: true }) },
    ({ base, extra, factor, ratio, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(
          Backoff.delays(
            Backoff.jittered(Backoff.exponential({ base, factor, max }), Backoff.proportional(ratio)),
            count
          )
        ).pipe(SeededRandom.withSeed(seed))
        envelope(base, factor, max, count).forEach((d, n) => {
          expect(delays[n]).toBeGreaterThanOrEqual(Math.max(0, d * (1 - ratio)) - slack(d))
          expect(delays[n]).toBeLessThanOrEqual(d * (1 + ratio) + slack(d))
        })
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "additive jitter stays within [d, d + amount]",
    { ...backoffArbs, amount: FastCheck.integer({ min: 0, max: 5_000 }) },
    ({ amount, base, extra, factor, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(
          Backoff.delays(Backoff.jittered(Backoff.exponential({ base, factor, max }), Backoff.additive(amount)), count)
        ).pipe(SeededRandom.withSeed(seed))
        envelope(base, factor, max, count).forEach((d, n) => {
          expect(delays[n]).toBeGreaterThanOrEqual(d - slack(d))
          expect(delays[n]).toBeLessThanOrEqual(d + amount + slack(d))
        })
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "decorrelated jitter stays within [base, cap]",
    backoffArbs,
    ({ base, extra, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(Backoff.delays(Backoff.decorrelated({ base, max }), 30)).pipe(
          SeededRandom.withSeed(seed)
        )
        for (const delay of delays) {
          expect(delay).toBeGreaterThanOrEqual(base)
          expect(delay).toBeLessThanOrEqual(max)
        }
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "make never exceeds max and never goes negative, whatever the jitter",
    {
      ...backoffArbs,
      jitter: FastCheck.constantFrom<Backoff.Options["jitter"]>(
        "none",
        "full",
        "equal",
        "decorrelated",
        Backoff.proportional(0.5),
        Backoff.additive("2 seconds")
      )
    },
    ({ base, extra, factor, jitter, seed }) =>
      Effect.gen(function*() {
        const max = base + extra
        const delays = yield* millis(Backoff.delays(Backoff.make({ base, factor, max, jitter }), count)).pipe(
          SeededRandom.withSeed(seed)
        )
        expect(delays).toHaveLength(count)
        for (const delay of delays) {
          expect(delay).toBeGreaterThanOrEqual(0)
          expect(delay).toBeLessThanOrEqual(max)
        }
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("decorrelated delays depend on the previous one: min(cap, random(base, 3 * prev))", () =>
    Effect.gen(function*() {
      const delays = yield* millis(Backoff.delays(Backoff.decorrelated({ base: 100, max: 100_000 }), 50)).pipe(
        SeededRandom.withSeed("decorrelated")
      )
      let previous = 100
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(100)
        expect(delay).toBeLessThanOrEqual(Math.min(100_000, 3 * previous))
        previous = delay
      }
    }))
})

// The bounds above would hold for a jitter that returned the delay unchanged. These pin each law's spread: every
// delay is the law applied to the seeded draw `r` (so a jitter that ignores `r` fails), and over many draws the
// delays cover the law's whole range uniformly (so a jitter that narrows or shifts the range fails).
describe("jitter spread", () => {
  const seed = "jitter-spread"
  const count = 2_000
  /** The seeded draws in [0, 1) that a schedule under the same seed would see, one per delay. */
  const draws = (n: number) => Effect.replicateEffect(Random.next, n).pipe(SeededRandom.withSeed(seed))
  const delaysOf = (schedule: Schedule.Schedule<unknown>, n: number) =>
    millis(Backoff.delays(schedule, n)).pipe(SeededRandom.withSeed(seed))

  /** Positions of `values` in `[lo, hi]`, from 0 to 1: uniform for a law that spreads over its whole range. */
  const positions = (values: ReadonlyArray<number>, lo: (n: number) => number, hi: (n: number) => number) =>
    values.map((v, n) => (v - lo(n)) / (hi(n) - lo(n)))

  /**
   * Uniform on [0, 1]: mean 1/2, standard deviation 1/√12 ≈ 0.289, reaching both ends, and the largest gap
   * between the empirical and the uniform distribution (Kolmogorov–Smirnov) below 0.05 (for 2,000 draws the
   * 1 % critical value is 0.036). The seed is fixed, so this never flickers.
   */
  const expectUniform = (us: ReadonlyArray<number>) => {
    const mean = us.reduce((a, b) => a + b, 0) / us.length
    const sd = Math.sqrt(us.reduce((a, u) => a + (u - mean) ** 2, 0) / us.length)
    const sorted = [...us].sort((a, b) => a - b)
    const ks = Math.max(
      ...sorted.map((u, i) => Math.max(Math.abs(u - i / us.length), Math.abs(u - (i + 1) / us.length)))
    )
    expect(mean).toBeGreaterThan(0.47)
    expect(mean).toBeLessThan(0.53)
    expect(sd).toBeGreaterThan(0.27)
    expect(sd).toBeLessThan(0.31)
    expect(sorted[0]).toBeLessThan(0.01)
    expect(sorted[sorted.length - 1]).toBeGreaterThan(0.99)
    expect(ks).toBeLessThan(0.05)
  }

  /** A delay that stays `d` every time, so that one law is sampled `count` times at one point. */
  const steady = (d: number) => Backoff.exponential({ base: d, max: d })

  it.effect("full jitter: each delay is r·d, spread uniformly over [0, d]", () =>
    Effect.gen(function*() {
      const rs = yield* draws(12)
      const exact = yield* delaysOf(Backoff.jittered(Backoff.exponential({ base: 100, max: 10_000 }), Backoff.full), 12)
      envelope(100, 2, 10_000, 12).forEach((d, n) => expect(exact[n]).toBeCloseTo(rs[n] * d, 6))
      const delays = yield* delaysOf(Backoff.jittered(steady(1_000), Backoff.full), count)
      expectUniform(positions(delays, () => 0, () => 1_000))
    }))

  it.effect("equal jitter: each delay is d/2 + r·d/2, spread uniformly over [d/2, d]", () =>
    Effect.gen(function*() {
      const rs = yield* draws(12)
      const exact = yield* delaysOf(
        Backoff.jittered(Backoff.exponential({ base: 100, max: 10_000 }), Backoff.equal),
        12
      )
      envelope(100, 2, 10_000, 12).forEach((d, n) => expect(exact[n]).toBeCloseTo(d / 2 + rs[n] * (d / 2), 6))
      const delays = yield* delaysOf(Backoff.jittered(steady(1_000), Backoff.equal), count)
      expectUniform(positions(delays, () => 500, () => 1_000))
    }))

  it.effect("proportional jitter: each delay is d·(1 + ratio·(2r − 1)), spread uniformly over d ± ratio", () =>
    Effect.gen(function*() {
      const rs = yield* draws(12)
      const exact = yield* delaysOf(
        Backoff.jittered(Backoff.exponential({ base: 100, max: 10_000 }), Backoff.proportional(0.25)),
        12
      )
      envelope(100, 2, 10_000, 12).forEach((d, n) => expect(exact[n]).toBeCloseTo(d * (1 + 0.25 * (2 * rs[n] - 1)), 6))
      const delays = yield* delaysOf(Backoff.jittered(steady(1_000), Backoff.proportional(0.25)), count)
      expectUniform(positions(delays, () => 750, () => 1_250))
    }))

  it.effect("additive jitter: each delay is d + r·amount, spread uniformly over [d, d + amount]", () =>
    Effect.gen(function*() {
      const rs = yield* draws(12)
      const exact = yield* delaysOf(
        Backoff.jittered(Backoff.exponential({ base: 100, max: 10_000 }), Backoff.additive("250 millis")),
        12
      )
      envelope(100, 2, 10_000, 12).forEach((d, n) => expect(exact[n]).toBeCloseTo(d + rs[n] * 250, 6))
      const delays = yield* delaysOf(Backoff.jittered(steady(1_000), Backoff.additive("250 millis")), count)
      expectUniform(positions(delays, () => 1_000, () => 1_250))
    }))

  it.effect("decorrelated jitter: each delay is min(cap, base + r·(3·prev − base)), spread uniformly over that range", () =>
    Effect.gen(function*() {
      const rs = yield* draws(count)
      // A cap far above the walk, so that no delay is clamped and every one is a fresh draw in [base, 3·prev].
      const delays = yield* delaysOf(Backoff.decorrelated({ base: 100, max: 1e300 }), count)
      const previous = (n: number) => n === 0 ? 100 : delays[n - 1]
      // Within a nanosecond, and a few ulps of the schedule's absolute instant (the walk drifts upwards).
      let instant = 0
      delays.forEach((delay, n) => {
        const expected = 100 + rs[n] * (3 * previous(n) - 100)
        instant += expected
        expect(Math.abs(delay - expected)).toBeLessThanOrEqual(1e-6 + 1e-12 * instant)
      })
      expectUniform(positions(delays, () => 100, (n) => 3 * previous(n)))
      // With the default-like cap, the walk reaches the cap and stays within [base, cap].
      const capped = yield* delaysOf(Backoff.decorrelated({ base: 100, max: 5_000 }), 12)
      let prev = 100
      capped.forEach((delay, n) => {
        expect(delay).toBeCloseTo(Math.min(5_000, 100 + rs[n] * (3 * prev - 100)), 5)
        prev = delay
      })
    }))
})
