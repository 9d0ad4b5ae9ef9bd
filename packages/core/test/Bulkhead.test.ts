import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as Bulkhead from "../src/Bulkhead.js"
import * as Classify from "../src/Classify.js"
import * as PolicyError from "../src/PolicyError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import { failureOf } from "./utils.js"

/** Lets every forked fiber run until it blocks (on the clock or on the semaphore). */
const settle = Effect.yieldNow().pipe(Effect.repeatN(20))

/** Calls that record the instant they start and end, and sleep for their duration in between. */
const recorder = () => {
  const starts: Array<readonly [name: string, at: number]> = []
  const ends: Array<readonly [name: string, at: number]> = []
  const call = (name: string, duration: Duration.DurationInput) =>
    Effect.gen(function*() {
      starts.push([name, yield* Clock.currentTimeMillis])
      yield* Effect.sleep(duration)
      ends.push([name, yield* Clock.currentTimeMillis])
      return name
    })
  return { call, starts, ends }
}

const gauges = (key: string) =>
  Effect.all({
    active: Effect.map(Metric.value(Bulkhead.activeGauge.pipe(Metric.tagged("resilience.key", key))), (s) => s.value),
    queued: Effect.map(Metric.value(Bulkhead.queuedGauge.pipe(Metric.tagged("resilience.key", key))), (s) => s.value)
  })

describe("Bulkhead.protect", () => {
  it.effect("maxConcurrent 2, maxQueue 1: two run, one waits, the fourth is rejected at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ key: "admission", maxConcurrent: 2, maxQueue: 1 })
      const { call, starts } = recorder()
      const fibers = yield* Effect.forEach(
        ["a", "b", "c"],
        (name) => Effect.fork(Bulkhead.protect(call(name, "1 second"), bulkhead))
      )
      yield* settle
      expect(starts).toEqual([["a", 0], ["b", 0]])
      expect(yield* bulkhead.stats).toEqual({ active: 2, queued: 1 })
      expect(yield* gauges("admission")).toEqual({ active: 2, queued: 1 })

      const rejected = yield* Effect.exit(Bulkhead.protect(call("d", "1 second"), bulkhead))
      expect(failureOf(rejected)).toBeInstanceOf(Bulkhead.BulkheadRejectedError)
      expect(yield* Clock.currentTimeMillis).toBe(0)

      yield* TestClock.adjust("1 second")
      expect(starts).toEqual([["a", 0], ["b", 0], ["c", 1000]])
      yield* TestClock.adjust("1 second")
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual(["a", "b", "c"])
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      expect(yield* gauges("admission")).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("a waiting call starts exactly when a slot frees, in arrival order", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2, maxQueue: 2 })
      const { call, ends, starts } = recorder()
      const calls = [["a", 300], ["b", 500], ["c", 100], ["d", 100]] as const
      for (const [name, millis] of calls) {
        yield* Effect.fork(call(name, Duration.millis(millis)).pipe(Bulkhead.protect(bulkhead)))
        yield* settle
      }
      yield* TestClock.adjust("1 second")
      // c takes a's slot at 300; d takes c's at 400, before b frees its own at 500.
      expect(starts).toEqual([["a", 0], ["b", 0], ["c", 300], ["d", 400]])
      expect(ends).toEqual([["a", 300], ["c", 400], ["d", 500], ["b", 500]])
    }))

  it.effect("never runs more than maxConcurrent calls at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueue: 100 })
      let running = 0
      let peak = 0
      const call = Effect.acquireUseRelease(
        Effect.sync(() => peak = Math.max(peak, ++running)),
        () => Effect.sleep("10 millis"),
        () => Effect.sync(() => running--)
      )
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 30 }), () => Bulkhead.protect(call, bulkhead), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(peak).toBe(3)
      expect(yield* Clock.currentTimeMillis).toBe(1000)
    }))

  it.effect("an interrupted waiting call leaves the queue and takes no slot", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ key: "interrupt-queued", maxConcurrent: 1, maxQueue: 2 })
      const { call, starts } = recorder()
      yield* Effect.fork(Bulkhead.protect(call("a", "1 second"), bulkhead))
      yield* settle
      const b = yield* Effect.fork(Bulkhead.protect(call("b", "1 second"), bulkhead))
      yield* settle
      const c = yield* Effect.fork(Bulkhead.protect(call("c", "1 second"), bulkhead))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 2 })

      yield* Fiber.interrupt(b)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 1 })
      expect(yield* gauges("interrupt-queued")).toEqual({ active: 1, queued: 1 })
      // The freed queue place can be taken again.
      const d = yield* Effect.fork(Bulkhead.protect(call("d", "1 second"), bulkhead))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 2 })

      yield* TestClock.adjust("3 seconds")
      expect(starts).toEqual([["a", 0], ["c", 1000], ["d", 2000]])
      expect(yield* Fiber.join(c)).toBe("c")
      expect(yield* Fiber.join(d)).toBe("d")
      // No permit leaked: the one slot is free again.
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      expect(yield* Bulkhead.protect(Effect.succeed("e"), bulkhead)).toBe("e")
    }))

  it.effect("interrupting every waiting call at once keeps the counts right", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueue: 10 })
      const running = yield* Effect.fork(Bulkhead.protect(Effect.sleep("1 second"), bulkhead))
      yield* settle
      const waiting = yield* Effect.forEach(
        Array.from({ length: 10 }),
        () => Effect.fork(Bulkhead.protect(Effect.sleep("1 second"), bulkhead))
      )
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 10 })
      yield* Fiber.interruptAll(waiting)
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      yield* Fiber.interrupt(running)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      const fiber = yield* Effect.fork(Bulkhead.protect(Effect.sleep("1 second"), bulkhead))
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
    }))

  it.effect("a waiting call interrupted after it was given a slot, before it started, passes the slot on", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueue: 2 })
      const { call, starts } = recorder()
      const waiting: Array<Fiber.RuntimeFiber<string, unknown>> = []
      // When `a` leaves, its slot goes to `b`; `a`'s fiber then interrupts `b` before `b` can run.
      const a = yield* Effect.fork(
        Bulkhead.protect(call("a", "1 second"), bulkhead).pipe(
          Effect.tap(() => Effect.sync(() => waiting[0].unsafeInterruptAsFork(FiberId.none)))
        )
      )
      yield* settle
      waiting.push(yield* Effect.fork(Bulkhead.protect(call("b", "1 second"), bulkhead)))
      yield* settle
      const c = yield* Effect.fork(Bulkhead.protect(call("c", "1 second"), bulkhead))
      yield* settle
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 2 })

      yield* TestClock.adjust("1 second")
      yield* settle
      expect(Exit.isInterrupted(yield* Fiber.await(waiting[0]))).toBe(true)
      expect(yield* Fiber.join(a)).toBe("a")
      expect(starts).toEqual([["a", 0], ["c", 1000]])
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(c)).toBe("c")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("interrupting a running call frees its slot for the next waiting call at that instant", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ key: "interrupt-running", maxConcurrent: 1, maxQueue: 1 })
      const { call, starts } = recorder()
      const a = yield* Effect.fork(Bulkhead.protect(call("a", "10 seconds"), bulkhead))
      yield* settle
      yield* Effect.fork(Bulkhead.protect(call("b", "1 second"), bulkhead))
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(a)
      yield* settle
      expect(starts).toEqual([["a", 0], ["b", 100]])
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      expect(yield* gauges("interrupt-running")).toEqual({ active: 1, queued: 0 })
      yield* TestClock.adjust("1 second")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("a failure or a defect frees the slot", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1 })
      const failed = yield* Effect.exit(Bulkhead.protect(Effect.fail("boom" as const), bulkhead))
      expect(failed).toEqual(Exit.fail("boom"))
      const died = yield* Effect.exit(Bulkhead.protect(Effect.die("bug"), bulkhead))
      expect(Exit.isFailure(died)).toBe(true)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      expect(yield* Bulkhead.protect(Effect.succeed(1), bulkhead)).toBe(1)
    }))

  it.effect("keeps the effect's types and adds BulkheadRejectedError", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1 })
      const call = Effect.fail("boom" as const) as Effect.Effect<number, "boom">
      const a = Bulkhead.protect(call, bulkhead)
      const b = call.pipe(Bulkhead.protect(bulkhead))
      expectTypeOf(a).toEqualTypeOf<Effect.Effect<number, "boom" | Bulkhead.BulkheadRejectedError>>()
      expectTypeOf(b).toEqualTypeOf<Effect.Effect<number, "boom" | Bulkhead.BulkheadRejectedError>>()
    }))
})

describe("BulkheadRejectedError", () => {
  it.effect("carries the key and limits, a readable message, a transient Overloaded verdict and an event", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ key: "openai/gpt-4o", maxConcurrent: 1, maxQueue: 0 })
      const events = yield* ResilienceEvent.subscribe
      yield* Effect.fork(Bulkhead.protect(Effect.never, bulkhead))
      yield* settle
      yield* TestClock.adjust("250 millis")
      const error = failureOf(yield* Effect.exit(Bulkhead.protect(Effect.succeed(1), bulkhead)))
      expect(Bulkhead.isBulkheadRejectedError(error)).toBe(true)
      expect(error).toMatchObject({
        _tag: "BulkheadRejectedError",
        key: "openai/gpt-4o",
        maxConcurrent: 1,
        maxQueue: 0
      })
      expect(error.message).toBe("bulkhead for openai/gpt-4o is full: 1 call running and no queue; call rejected")
      expect(Classify.standard(error)).toEqual(Classify.transient("Overloaded"))
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events))).toEqual([
        ResilienceEvent.CallRejected({ key: "openai/gpt-4o", at: 250, by: "Bulkhead" })
      ])
      const rejected = yield* Metric.value(
        Bulkhead.rejectedCounter.pipe(Metric.tagged("resilience.key", "openai/gpt-4o"))
      )
      expect(rejected.count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it("says how many wait", () => {
    const error = new Bulkhead.BulkheadRejectedError({ key: "anthropic", maxConcurrent: 8, maxQueue: 16 })
    expect(error.message).toBe("bulkhead for anthropic is full: 8 calls running and 16 waiting; call rejected")
    expect(Bulkhead.isBulkheadRejectedError(new Error("x"))).toBe(false)
  })
})

describe("Bulkhead.keyed", () => {
  it.effect("each key has its own slots and queue", () =>
    Effect.gen(function*() {
      const bulkheads = yield* Bulkhead.keyed({ maxConcurrent: 1 })
      const { call, starts } = recorder()
      yield* Effect.fork(Bulkhead.protect(call("a1", "1 second"), bulkheads.get("a")))
      yield* settle
      yield* Effect.fork(Bulkhead.protect(call("b1", "1 second"), bulkheads.get("b")))
      yield* settle
      expect(starts).toEqual([["a1", 0], ["b1", 0]])
      const rejected = failureOf(yield* Effect.exit(Bulkhead.protect(call("a2", "1 second"), bulkheads.get("a"))))
      expect(rejected).toMatchObject({ _tag: "BulkheadRejectedError", key: "a" })
      expect(bulkheads.get("a")).toBe(bulkheads.get("a"))
      expect(yield* bulkheads.get("a").stats).toEqual({ active: 1, queued: 0 })
      expect(yield* bulkheads.get("c").stats).toEqual({ active: 0, queued: 0 })
    }))

  it.effect("never drops a bulkhead with calls in flight, whatever maxKeys", () =>
    Effect.gen(function*() {
      const bulkheads = yield* Bulkhead.keyed({ maxConcurrent: 1, maxKeys: 1 })
      const busy = bulkheads.get("a")
      yield* Effect.fork(Bulkhead.protect(Effect.sleep("1 second"), busy))
      yield* settle
      // "b" pushes "a" out of the LRU, but "a" is busy: asking for it again gives the same bulkhead.
      bulkheads.get("b")
      expect(bulkheads.get("a")).toBe(busy)
      const rejected = yield* Effect.exit(Bulkhead.protect(Effect.succeed(1), bulkheads.get("a")))
      expect(failureOf(rejected)).toBeInstanceOf(Bulkhead.BulkheadRejectedError)
      yield* TestClock.adjust("1 second")
      // Idle now: once dropped, it is made again, empty.
      bulkheads.get("b")
      const again = bulkheads.get("a")
      expect(again).not.toBe(busy)
      expect(yield* Bulkhead.protect(Effect.succeed(2), again)).toBe(2)
    }))
})

describe("Bulkhead options", () => {
  it.effect("lists every problem in one InvalidPolicyError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Bulkhead.make({ maxConcurrent: 0, maxQueue: -1, key: "" }))
      expect(PolicyError.isInvalidPolicyError(error)).toBe(true)
      expect(error.policy).toBe("bulkhead")
      expect(error.issues).toEqual([
        "maxConcurrent: must be a whole number ≥ 1, got 0",
        "maxQueue: must be a whole number ≥ 0, got -1",
        "key: must be a non-empty string"
      ])
      const keyedError = yield* Effect.flip(Bulkhead.keyed({ maxConcurrent: 1.5, maxQueue: Infinity, maxKeys: 0 }))
      expect(keyedError.issues).toEqual([
        "maxConcurrent: must be a whole number ≥ 1, got 1.5",
        "maxQueue: must be a whole number ≥ 0, got Infinity",
        "maxKeys: must be a whole number ≥ 1, got 0"
      ])
    }))

  it.effect("defaults: no queue, key \"default\"", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3 })
      expect(bulkhead).toMatchObject({ key: "default", maxConcurrent: 3, maxQueue: 0 })
    }))
})
