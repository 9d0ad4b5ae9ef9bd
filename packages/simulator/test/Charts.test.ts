import { SeededRandom } from "@effect-resilience/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Charts from "../src/internal/charts.js"
import { standardNormal } from "../src/internal/random.js"

describe("Charts", () => {
  it("cuts a run into about 60 buckets of a round width, at least 1 ms wide", () => {
    assert.deepStrictEqual(Charts.buckets(100_000), { width: 2000, count: 50 })
    assert.deepStrictEqual(Charts.buckets(1500), { width: 50, count: 30 })
    assert.deepStrictEqual(Charts.buckets(7), { width: 1, count: 7 })
  })

  it("counts events per bucket in seconds as a rate, in milliseconds as a count", () => {
    const buckets = { width: 500, count: 3 }
    // 1999 lies past the last bucket and counts in it.
    const times = [0, 499, 500, 1200, 1999]
    assert.deepStrictEqual(Charts.rateSeries("s", times, buckets, { unit: "s", y: "perSecond" }).points, [
      [0, 4],
      [0.5, 2],
      [1, 4],
      [1.5, 4]
    ])
    assert.deepStrictEqual(Charts.rateSeries("ms", times, buckets, { unit: "ms", y: "perBucket" }).points, [
      [0, 2],
      [500, 1],
      [1000, 2],
      [1500, 2]
    ])
  })

  it("samples an empirical CDF at the given number of quantiles, nearest rank", () => {
    const sorted = [100, 200, 300, 400]
    assert.deepStrictEqual(Charts.cdfSeries("ms", sorted, { unit: "ms", quantiles: 4 }).points, [
      [100, 0],
      [100, 0.25],
      [200, 0.5],
      [300, 0.75],
      [400, 1]
    ])
    assert.deepStrictEqual(Charts.cdfSeries("s", sorted, { unit: "s", quantiles: 2 }).points, [
      [0.1, 0],
      [0.2, 0.5],
      [0.4, 1]
    ])
    assert.deepStrictEqual(Charts.cdfSeries("none", [], { unit: "s", quantiles: 200 }).points, [])
    // Shares of a total: 4 successes out of 8 requests reach one half, and the line goes on to the right edge.
    assert.deepStrictEqual(Charts.cdfSeries("succeeded", sorted, { unit: "ms", quantiles: 2, total: 8 }), {
      name: "succeeded",
      points: [[100, 0], [200, 0.25], [400, 0.5]],
      extend: true
    })
  })

  it.effect("draws the same standard normals for the same seed, with mean near 0 and variance near 1", () =>
    Effect.gen(function*() {
      const draw = Effect.all(Array.from({ length: 10_000 }, () => standardNormal))
      const a = yield* SeededRandom.withSeed(draw, 7)
      const b = yield* SeededRandom.withSeed(draw, 7)
      assert.deepStrictEqual(a, b)
      const mean = a.reduce((s, z) => s + z, 0) / a.length
      const variance = a.reduce((s, z) => s + (z - mean) ** 2, 0) / a.length
      assert.isBelow(Math.abs(mean), 0.05)
      assert.isBelow(Math.abs(variance - 1), 0.05)
    }))
})
