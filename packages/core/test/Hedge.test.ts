import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as Bulkhead from "../src/Bulkhead.js"
import * as Hedge from "../src/Hedge.js"
import * as ProviderError from "../src/ProviderError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import * as RetryBudget from "../src/RetryBudget.js"
import { failureOf, overloaded, runVirtual } from "./utils.js"

/**
 * A call that takes `latency` and then succeeds with `value` (or fails with `error`), recording the instant it
 * started, the instant it was interrupted, and its fiber.
 */
const slowCall = <E = never>(latency: Duration.DurationInput, value: string, error?: E) => {
  const started: Array<number> = []
  const interrupted: Array<number> = []
  const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
  const call: Effect.Effect<string, E> = Effect.withFiberRuntime<string, E>((fiber) => {
    fibers.push(fiber)
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      started.push(now)
      return Effect.sleep(latency).pipe(
        Effect.zipRight(error === undefined ? Effect.succeed(value) : Effect.fail(error)),
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => interrupted.push(at)))
        )
      )
    })
  })
  return { call, started, interrupted, fibers }
}

const hedgeEvents = (events: Iterable<ResilienceEvent.ResilienceEvent>) =>
  Array.from(events).filter((event) => event._tag.startsWith("Hedge"))

describe("Hedge", () => {
  it.scoped("starts the hedge exactly at the delay; the first success wins and the loser is interrupted", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const hedge = yield* Hedge.make({ key: "chat", delay: "2 seconds" })
      const primary = slowCall("5 seconds", "primary")
      const backup = slowCall("1 second", "backup")
      // The caller goes on after the result: the loser must be gone by then, not when the caller's fiber ends.
      let loserExitAtReturn: Exit.Exit<unknown, unknown> | null = null
      const fiber = yield* Hedge.hedge(primary.call, hedge, backup.call).pipe(
        Effect.tap(() => Effect.sync(() => loserExitAtReturn = primary.fibers[0].unsafePoll())),
        Effect.zipLeft(Effect.sleep("1 minute")),
        Effect.fork
      )
      yield* TestClock.adjust(1999)
      expect(backup.started).toEqual([])
      yield* TestClock.adjust(1)
      expect(backup.started).toEqual([2000])
      yield* TestClock.adjust(1000)
      expect(primary.started).toEqual([0])
      expect(primary.interrupted).toEqual([3000])
      // The loser's fiber had ended, interrupted, when the caller got the result.
      const loserExit: Exit.Exit<unknown, unknown> | null = loserExitAtReturn
      expect(loserExit !== null && Exit.isInterrupted(loserExit)).toBe(true)
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toBe("backup")
      expect(hedgeEvents(yield* Queue.takeAll(queue))).toEqual([
        ResilienceEvent.HedgeStarted({ key: "chat", at: 2000, delay: Duration.seconds(2), basis: "Fixed" }),
        ResilienceEvent.HedgeSettled({ key: "chat", at: 3000, winner: "Hedge" })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("does not hedge a call that ends before the delay", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const hedge = yield* Hedge.make({ delay: "1 second" })
      const primary = slowCall("999 millis", "primary")
      const backup = slowCall("1 millis", "backup")
      const { endedAt, exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call))
      expect(exit).toEqual(Exit.succeed("primary"))
      expect(endedAt).toBe(999)
      expect(backup.started).toEqual([])
      expect(Chunk.toArray(yield* Queue.takeAll(queue))).toEqual([])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("interrupts the hedge when the primary wins after it started", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const hedge = yield* Hedge.make({ key: "k", delay: "1 second" })
      const primary = slowCall("1500 millis", "primary")
      const { endedAt, exit } = yield* runVirtual(primary.call.pipe(Hedge.hedge(hedge)))
      // The same call served as its own hedge, started at 1 s and interrupted at 1.5 s.
      expect(exit).toEqual(Exit.succeed("primary"))
      expect(endedAt).toBe(1500)
      expect(primary.started).toEqual([0, 1000])
      expect(primary.interrupted).toEqual([1500])
      expect(hedgeEvents(yield* Queue.takeAll(queue)).map((e) => e._tag === "HedgeSettled" && e.winner)).toEqual([
        false,
        "Primary"
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("interrupting the hedged call interrupts both calls", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "1 second" })
      const primary = slowCall("1 minute", "primary")
      const backup = slowCall("1 minute", "backup")
      const fiber = yield* Effect.fork(Hedge.hedge(primary.call, hedge, backup.call))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.interrupt(fiber)
      expect(primary.interrupted).toEqual([2000])
      expect(backup.interrupted).toEqual([2000])
      const exits = [primary.fibers[0].unsafePoll(), backup.fibers[0].unsafePoll()]
      expect(exits.every((exit) => exit !== null && Exit.isInterrupted(exit))).toBe(true)
    }))

  it.effect("the hedge's fiber is interrupted, not left running, when the primary wins", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "1 second" })
      const backupFiber = yield* Deferred.make<Fiber.RuntimeFiber<unknown, unknown>>()
      const released = yield* Deferred.make<number>()
      const backup = Effect.withFiberRuntime<string>((fiber) =>
        Deferred.succeed(backupFiber, fiber).pipe(
          Effect.zipRight(Effect.never),
          Effect.ensuring(Effect.flatMap(Clock.currentTimeMillis, (at) => Deferred.succeed(released, at)))
        )
      )
      const { exit } = yield* runVirtual(
        Hedge.hedge(Effect.as(Effect.sleep("3 seconds"), "primary"), hedge, backup),
        "3 seconds"
      )
      expect(exit).toEqual(Exit.succeed("primary"))
      expect(yield* Deferred.await(released)).toBe(3000)
      const loser = yield* Deferred.await(backupFiber)
      expect(Exit.isInterrupted(yield* Fiber.await(loser))).toBe(true)
    }))

  it.scoped("charges each hedge to the retry budget and hedges no more once it says no", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      // Hedges are allowed while more than half of the 4 tokens remain: two hedges, then none.
      const budget = yield* RetryBudget.tokenBucket({ key: "chat", maxTokens: 4, tokenRatio: 1 })
      const hedge = yield* Hedge.make({ key: "chat", delay: "1 second", budget })
      const backup = slowCall("10 millis", "backup")
      const primary = slowCall("5 seconds", "primary")
      const results: Array<[string, number]> = []
      for (let i = 0; i < 3; i++) {
        const { endedAt, exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call), "5 seconds")
        results.push([Exit.isSuccess(exit) ? exit.value : "failed", endedAt])
      }
      // Each run moves the clock 5 s: the calls start at 0, 5 s and 10 s.
      expect(results).toEqual([["backup", 1010], ["backup", 6010], ["primary", 15000]])
      expect(backup.started).toEqual([1000, 6000])
      expect(yield* RetryBudget.level(budget)).toBe(2)
      expect(hedgeEvents(yield* Queue.takeAll(queue)).map((e) => `${e._tag}@${e.at}`)).toEqual([
        "HedgeStarted@1000",
        "HedgeSettled@1010",
        "HedgeStarted@6000",
        "HedgeSettled@6010",
        "HedgeDenied@11000"
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("gives the budget back for a hedge refused locally (a full bulkhead), as Retry does", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      // The backup goes to a second provider whose bulkhead is full: every hedge is refused locally.
      const bulkhead = yield* Bulkhead.make({ key: "second", maxConcurrent: 1, maxQueue: 0 })
      yield* Effect.forkScoped(Bulkhead.protect(Effect.never, bulkhead))
      yield* Effect.yieldNow()
      const backup = slowCall("10 millis", "backup")
      const refusedBackup = Bulkhead.protect(backup.call, bulkhead)
      const primary = slowCall("5 seconds", "primary")

      // A ratio budget allowing one retry in the window: a refused hedge must not use it up.
      const ratio = yield* RetryBudget.ratio({ key: "r", ratio: 0, minRetriesPerSecond: 0.1, window: "10 seconds" })
      const byRatio = yield* Hedge.make({ key: "r", delay: "1 second", budget: ratio })
      for (let i = 0; i < 2; i++) {
        const { exit } = yield* runVirtual(Hedge.hedge(primary.call, byRatio, refusedBackup), "5 seconds")
        expect(exit).toEqual(Exit.succeed("primary"))
      }
      expect(yield* RetryBudget.level(ratio)).toBe(1)

      // A token bucket allowing two hedges (more than half of 4 tokens): a refused hedge costs no token.
      const bucket = yield* RetryBudget.tokenBucket({ key: "t", maxTokens: 4, tokenRatio: 1 })
      const byBucket = yield* Hedge.make({ key: "t", delay: "1 second", budget: bucket })
      for (let i = 0; i < 3; i++) {
        const { exit } = yield* runVirtual(Hedge.hedge(primary.call, byBucket, refusedBackup), "5 seconds")
        expect(exit).toEqual(Exit.succeed("primary"))
      }
      expect(yield* RetryBudget.level(bucket)).toBe(4)
      expect(backup.started).toEqual([])
      // Every hedge was started (and refused by the bulkhead); none was denied by the budget.
      const tags = hedgeEvents(yield* Queue.takeAll(queue)).map((e) => e._tag)
      expect(tags.filter((tag) => tag === "HedgeStarted")).toHaveLength(5)
      expect(tags).not.toContain("HedgeDenied")

      // A hedge that does reach the provider is still charged: the ratio budget's one retry is used up.
      yield* runVirtual(Hedge.hedge(primary.call, byRatio, backup.call), "5 seconds")
      expect(yield* RetryBudget.level(ratio)).toBe(0)
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("derives the delay from the latency percentile once enough calls were seen", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ delay: "1 second", percentile: 0.5, sampleSize: 4, minSamples: 3 })
      const run = (latency: number) => runVirtual(Hedge.hedge(Effect.as(Effect.sleep(latency), "ok"), hedge), latency)
      yield* run(300)
      yield* run(100)
      // Two latencies: still the fixed delay.
      expect(yield* hedge.nextDelay).toEqual({ delay: Duration.seconds(1), basis: "Fixed" })
      yield* run(200)
      // [300, 100, 200]: the median (nearest rank) is 200 ms.
      expect(yield* hedge.nextDelay).toEqual({ delay: Duration.millis(200), basis: "Percentile" })
      yield* run(50)
      yield* run(60)
      // Only the last 4 are kept, [100, 200, 50, 60]: the median (nearest rank) is 60 ms.
      expect((yield* hedge.latencies).map(Duration.toMillis)).toEqual([100, 200, 50, 60])
      expect(yield* hedge.nextDelay).toEqual({ delay: Duration.millis(60), basis: "Percentile" })

      // A slow call is now hedged exactly 60 ms after it starts (the clock is at 710 ms).
      const primary = slowCall("1 second", "primary")
      const backup = slowCall("10 millis", "backup")
      const { endedAt, exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call))
      expect(exit).toEqual(Exit.succeed("backup"))
      expect(primary.started).toEqual([710])
      expect(backup.started).toEqual([770])
      expect(endedAt).toBe(780)
      // The winner's own latency (10 ms) joined the sample.
      expect((yield* hedge.latencies).map(Duration.toMillis)).toEqual([200, 50, 60, 10])
    }))

  it.scoped("starts the hedge at once when the primary fails transiently before the delay", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const hedge = yield* Hedge.make({ key: "k", delay: "1 second" })
      const primary = slowCall("300 millis", "primary", overloaded())
      const backup = slowCall("100 millis", "backup")
      const { endedAt, exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call))
      expect(exit).toEqual(Exit.succeed("backup"))
      expect(backup.started).toEqual([300])
      expect(endedAt).toBe(400)
      expect(hedgeEvents(yield* Queue.takeAll(queue))).toEqual([
        ResilienceEvent.HedgeStarted({ key: "k", at: 300, delay: Duration.millis(300), basis: "PrimaryFailed" }),
        ResilienceEvent.HedgeSettled({ key: "k", at: 400, winner: "Hedge" })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("keeps both failures, the primary's first, when the hedge started on a failure fails too", () =>
    Effect.gen(function*() {
      const first = overloaded()
      const second = new ProviderError.TransientError({ provider: "b", reason: "ServerError", message: "down" })
      const hedge = yield* Hedge.make({ delay: "1 second" })
      const primary = slowCall("300 millis", "primary", first)
      const backup = slowCall("100 millis", "backup", second)
      const { exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call))
      expect(Exit.isFailure(exit) && Chunk.toReadonlyArray(Cause.failures(exit.cause))).toEqual([first, second])
    }))

  it.effect("fails at once, without a hedge, when the primary fails permanently", () =>
    Effect.gen(function*() {
      const invalid = new ProviderError.PermanentError({ provider: "p", reason: "InvalidRequest", message: "bad" })
      const hedge = yield* Hedge.make({ delay: "1 second" })
      const primary = slowCall("300 millis", "primary", invalid)
      const backup = slowCall("100 millis", "backup")
      const { endedAt, exit } = yield* runVirtual(Hedge.hedge(primary.call, hedge, backup.call))
      expect(failureOf(exit)).toBe(invalid)
      expect(endedAt).toBe(300)
      expect(backup.started).toEqual([])
    }))

  it("lists every problem of invalid options", () => {
    const result = Hedge.validate({ delay: "-1 seconds", percentile: 2, sampleSize: 10, minSamples: 20 })
    expect(Either.isLeft(result) && result.left.issues).toEqual([
      "delay: must be ≥ 0, got \"-1 seconds\"",
      "percentile: must be a number in (0, 1] or false, got 2",
      "minSamples: must be ≤ sampleSize (10), got 20"
    ])
  })
})
