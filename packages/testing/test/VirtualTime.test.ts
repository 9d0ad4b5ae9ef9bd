import * as Core from "@effect-resilience/core"
import { Backoff } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import { SeededRandom, VirtualTime } from "../src/index.js"

describe("VirtualTime.expectDelays", () => {
  it.effect("passes when the schedule's delays are exactly the ones expected", () =>
    Effect.gen(function*() {
      const backoff = Backoff.exponential({ base: "10 millis", max: "40 millis" })
      yield* VirtualTime.expectDelays(backoff, [10, 20, 40, 40])
      yield* backoff.pipe(VirtualTime.expectDelays(["10 millis", Duration.millis(20), "40 millis"]))
    }))

  it.effect("fails with both lists and the first difference", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        VirtualTime.expectDelays(Backoff.exponential({ base: "10 millis", max: "1 second" }), [10, 20, 50])
      )
      expect(error._tag).toBe("DelaysMismatchError")
      expect(error.expected).toEqual([10, 20, 50])
      expect(error.actual).toEqual([10, 20, 40])
      expect(error.message).toBe(
        "expected delays [10, 20, 50] ms, got [10, 20, 40] ms: delay 3 is 40 ms, expected 50 ms"
      )
    }))

  it.effect("says when the schedule stops before the expected delays", () =>
    Effect.gen(function*() {
      const twice = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      const error = yield* Effect.flip(VirtualTime.expectDelays(twice, [1_000, 1_000, 1_000]))
      expect(error.message).toBe(
        "expected delays [1000, 1000, 1000] ms, got [1000, 1000] ms: the schedule stopped after 2 delay(s)"
      )
    }))

  it.effect("with exhaustive: true, the schedule must stop right after the expected delays", () =>
    Effect.gen(function*() {
      const twice = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      yield* VirtualTime.expectDelays(twice, [1_000, 1_000], { exhaustive: true })
      const error = yield* Effect.flip(VirtualTime.expectDelays(twice, [1_000], { exhaustive: true }))
      expect(error.message).toBe("expected delays [1000] ms, got [1000, 1000] ms: 1 more than expected")
      // Without exhaustive, only the first delays are compared.
      yield* VirtualTime.expectDelays(twice, [1_000])
    }))

  it.effect("checks jittered schedules reproducibly under a seed", () =>
    Effect.gen(function*() {
      const seeded = yield* Backoff.standard.pipe(Backoff.delays(4), SeededRandom.withSeed("jitter"))
      yield* Backoff.standard.pipe(VirtualTime.expectDelays(seeded), SeededRandom.withSeed("jitter"))
      const error = yield* Backoff.standard.pipe(
        VirtualTime.expectDelays(seeded),
        SeededRandom.withSeed("other"),
        Effect.flip
      )
      expect(error.actual).not.toEqual(error.expected)
    }))
})

describe("VirtualTime.run", () => {
  it.effect("runs an effect to its end in virtual time and says when it ended", () =>
    Effect.gen(function*() {
      const { endedAt, exit } = yield* VirtualTime.run(Effect.as(Effect.sleep("90 seconds"), "done"))
      expect(exit).toEqual(Exit.succeed("done"))
      expect(endedAt).toBe(90_000)
    }))

  it.effect("fires chained sleeps in order", () =>
    Effect.gen(function*() {
      const instants: Array<number> = []
      const effect = Effect.forEach([100, 200, 300], (ms) =>
        Effect.sleep(Duration.millis(ms)).pipe(
          Effect.zipRight(Effect.clockWith((clock) => clock.currentTimeMillis)),
          Effect.tap((now) => Effect.sync(() => instants.push(now)))
        ))
      const { endedAt } = yield* VirtualTime.run(effect)
      expect(instants).toEqual([100, 300, 600])
      expect(endedAt).toBe(600)
    }))

  it.effect("gives a failure as the exit, not as its own failure", () =>
    Effect.gen(function*() {
      const { endedAt, exit } = yield* VirtualTime.run(Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom")))
      expect(exit).toEqual(Exit.fail("boom"))
      expect(endedAt).toBe(1_000)
    }))

  it.effect("dies saying so when the effect is still running at the horizon", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(VirtualTime.run(Effect.sleep("2 hours")))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
        "the effect was still running 1h of virtual time after it started"
      )
      // A horizon long enough lets it finish.
      const { endedAt } = yield* VirtualTime.run(Effect.sleep("2 hours"), "3 hours")
      expect(endedAt - 3_600_000).toBe(7_200_000)
    }))
})

describe("SeededRandom", () => {
  it("is core's, re-exported", () => {
    expect(SeededRandom).toBe(Core.SeededRandom)
  })
})
