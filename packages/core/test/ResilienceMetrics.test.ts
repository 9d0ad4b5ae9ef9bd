import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as Bulkhead from "../src/Bulkhead.js"
import * as metricsInternal from "../src/internal/metrics.js"
import * as PolicyError from "../src/PolicyError.js"
import * as Resilience from "../src/Resilience.js"
import * as ResilienceMetrics from "../src/ResilienceMetrics.js"

/** The series in effect's registry whose `resilience.key` is `"other"` or starts with `prefix`, by metric name. */
const seriesOf = (prefix: string) =>
  Effect.map(
    Metric.snapshot,
    (pairs) =>
      pairs.filter((pair) =>
        pair.metricKey.tags.some((tag) =>
          tag.key === "resilience.key" && (tag.value === "other" || tag.value.startsWith(prefix))
        )
      )
  )

const labelledKeys = (series: ReadonlyArray<MetricPair.MetricPair.Untyped>) =>
  new Set(
    series.flatMap((pair) => pair.metricKey.tags.filter((tag) => tag.key === "resilience.key").map((t) => t.value))
  )

const successes = (key: string) =>
  Effect.map(
    Metric.value(
      ResilienceMetrics.attempts.pipe(
        Metric.tagged("resilience.key", key),
        Metric.tagged("resilience.outcome", "success")
      )
    ),
    (state) => state.count
  )

const active = (key: string) =>
  Effect.map(Metric.value(Bulkhead.activeGauge.pipe(Metric.tagged("resilience.key", key))), (state) => state.value)

// Runs first in this file (each test file has a process of its own): no key has a label yet.
describe("ResilienceMetrics", () => {
  it.scoped("keeps the metric series bounded whatever the keys: the first 1,000 get their own, later ones are \"other\"", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make()
      const keys = 1_200
      // Keys labelled before these (none but what making a pipeline labels): the rest of the 1,000 is theirs.
      const room = ResilienceMetrics.maxKeys - metricsInternal.labelledKeys()
      expect(room).toBeGreaterThan(990)
      for (let i = 0; i < keys; i++) yield* pipeline.run(Effect.void, { key: `tenant-${i}` })

      const series = yield* seriesOf("tenant-")
      const labelled = labelledKeys(series)
      // Series of their own for the keys that found room, and "other": 1,200 keys used once no longer make 3,600.
      expect(labelled.size).toBe(room + 1)
      expect(labelled.has(`tenant-${room - 1}`)).toBe(true)
      expect(labelled.has(`tenant-${room}`)).toBe(false)
      expect(labelled.has(ResilienceMetrics.otherKey)).toBe(true)
      // Per key: its successful attempts, and its bulkhead's two gauges.
      expect(series.length).toBe(3 * (room + 1))
      expect(yield* successes(`tenant-${room - 1}`)).toBe(1)
      expect(yield* successes(ResilienceMetrics.otherKey)).toBe(keys - room)

      // Used again, a key keeps the label it got first: no new series.
      for (let i = 0; i < keys; i++) yield* pipeline.run(Effect.void, { key: `tenant-${i}` })
      expect((yield* seriesOf("tenant-")).length).toBe(series.length)
      expect(yield* successes(ResilienceMetrics.otherKey)).toBe(2 * (keys - room))
    }))

  it.scoped("adds up the bulkhead gauges of the keys counted as \"other\"", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make()
      const gate = yield* Deferred.make<void>()
      // No room left: these keys are all "other".
      yield* ResilienceMetrics.setMaxKeys(0)
      const fibers = yield* Effect.forEach(
        ["late-a", "late-b", "late-b"],
        (key) => Effect.fork(pipeline.run(Deferred.await(gate), { key }))
      )
      yield* Effect.yieldNow().pipe(Effect.repeatN(10))
      expect(yield* active(ResilienceMetrics.otherKey)).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
      expect(yield* active(ResilienceMetrics.otherKey)).toBe(0)
    }))

  it.scoped("gives series to more keys once the limit is raised, and takes none back once it is lowered", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make()
      yield* ResilienceMetrics.setMaxKeys(metricsInternal.labelledKeys() + 2)
      for (const key of ["raised-0", "raised-1", "raised-2"]) yield* pipeline.run(Effect.void, { key })
      const labelled = labelledKeys(yield* seriesOf("raised-"))
      expect([...labelled].sort()).toEqual(["other", "raised-0", "raised-1"])
      // Lowered again, the limit takes no label back.
      yield* ResilienceMetrics.setMaxKeys(0)
      yield* pipeline.run(Effect.void, { key: "raised-0" })
      expect(yield* successes("raised-0")).toBe(2)
    }))

  it.effect("refuses a limit that is not a whole number ≥ 0", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ResilienceMetrics.setMaxKeys(-1))
      expect(error).toBeInstanceOf(PolicyError.InvalidPolicyError)
      expect(error.issues).toEqual(["maxKeys: must be a whole number ≥ 0, got -1"])
    }))
})
