import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
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
