/**
 * `Resilience.run` runs learned admission, breaker, bulkhead and attempt timeout in one uninterruptible region
 * with one continuation (`src/internal/pipelineAttempt.ts`). What each took must be given back whichever way an
 * attempt ends, at whichever stage: these tests interrupt it at each, and check that nothing is left behind.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ProviderError from "../src/ProviderError.js"
import * as Resilience from "../src/Resilience.js"

/**
 * Fibers with an attempt of a pipeline still recorded: 0 once every call has ended. Imported once the public
 * modules are (an internal module loaded first would meet the public one half-loaded).
 */
const fibersWithAttempts = Effect.promise(() =>
  import("../src/internal/pipelineAttempt.js").then((internal) => internal.fibersWithAttempts())
)

const down = new ProviderError.TransientError({ provider: "p", reason: "Unavailable", status: 503, message: "down" })

/** Forks `n` calls of `run(effect)` and lets them reach the call (or their wait). */
const forkAll = <A, E>(n: number, call: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(call))
    yield* Effect.yieldNow()
    return fibers
  })

describe("Resilience.run: one region for admission, breaker, bulkhead and attempt timeout", () => {
  it.scoped("calls interrupted while running or waiting for a bulkhead slot give their slots back", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ bulkhead: { maxConcurrent: 2, maxQueue: 10 } })
      const gate = yield* Deferred.make<void>()
      const started = yield* Ref.make(0)
      const call = resilience.run(Effect.zipRight(Ref.update(started, (n) => n + 1), Deferred.await(gate)), {
        key: "k"
      })
      // 2 running, 5 queued.
      const fibers = yield* forkAll(7, call)
      expect(yield* Ref.get(started)).toBe(2)
      yield* Fiber.interruptAll(fibers)
      expect(yield* fibersWithAttempts).toBe(0)
      // Had a slot been kept, these would wait for ever.
      yield* Deferred.succeed(gate, undefined)
      const exits = yield* Effect.forEach(yield* forkAll(2, call), Fiber.await)
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(yield* Ref.get(started)).toBe(4)
    }))

  it.scoped("calls interrupted while holding or waiting for a cold-start admission slot give it back", () =>
    Effect.gen(function*() {
      // A new key admits 10 attempts in flight: 10 run, 5 wait for a slot.
      const resilience = yield* Resilience.make({ bulkhead: false })
      const started = yield* Ref.make(0)
      const blocked = resilience.run(Effect.zipRight(Ref.update(started, (n) => n + 1), Effect.never), { key: "k" })
      const fibers = yield* forkAll(15, blocked)
      expect(yield* Ref.get(started)).toBe(10)
      yield* Fiber.interruptAll(fibers)
      expect(yield* fibersWithAttempts).toBe(0)
      // The window is whole again: 10 more start at once.
      const again = yield* forkAll(10, blocked)
      expect(yield* Ref.get(started)).toBe(20)
      yield* Fiber.interruptAll(again)
    }))

  it.scoped("a half-open probe interrupted mid-call frees the probe: the next call is the probe", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        retry: false,
        circuitBreaker: { trip: { kind: "consecutive", threshold: 1 }, breakDuration: { base: "1 second" } }
      })
      expect(yield* Effect.flip(resilience.run(Effect.fail(down), { key: "k" }))).toBe(down)
      const breaker = resilience.breaker("k")!
      expect(yield* breaker.state).toMatchObject({ _tag: "Open" })
      yield* TestClock.adjust("1 second")
      const probe = yield* Effect.fork(resilience.run(Effect.never, { key: "k" }))
      yield* Effect.yieldNow()
      expect(yield* breaker.state).toMatchObject({ _tag: "HalfOpen" })
      yield* Fiber.interrupt(probe)
      // Were the probe slot kept, this would be refused as "half-open and its probe calls are in flight".
      expect(yield* resilience.run(Effect.succeed("back"), { key: "k" })).toBe("back")
      expect(yield* breaker.state).toMatchObject({ _tag: "Closed" })
    }))

  it.scoped("an uninterruptible caller's call is not interrupted, and still ends every policy", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } })
      const gate = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.uninterruptible(resilience.run(Effect.as(Deferred.await(gate), "done"), { key: "k" }))
      )
      yield* Effect.yieldNow()
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.join(interrupting)
      // The call ran to its end: the fiber ends with its value, the interruption noted after it.
      expect(Exit.isInterrupted(exit) || Exit.isSuccess(exit)).toBe(true)
      expect(yield* fibersWithAttempts).toBe(0)
      // The one slot is free again.
      expect(yield* resilience.run(Effect.succeed(1), { key: "k" })).toBe(1)
    }))

  it.scoped("pipelines nested on one fiber each end their own attempt, retries included", () =>
    Effect.gen(function*() {
      const outer = yield* Resilience.make({ retry: { backoff: { base: "10 millis", jitter: "none" } } })
      const inner = yield* Resilience.make({ retry: { backoff: { base: "10 millis", jitter: "none" } } })
      const calls = yield* Ref.make(0)
      // Fails twice, then succeeds: the inner pipeline's retry absorbs both failures.
      const flaky = Effect.flatMap(Ref.getAndUpdate(calls, (n) => n + 1), (n) =>
        n < 2 ? Effect.fail(down) : Effect.succeed(n))
      const fiber = yield* Effect.fork(outer.run(inner.run(flaky, { key: "inner" }), { key: "outer" }))
      yield* TestClock.adjust("10 millis")
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(fiber)).toBe(2)
      expect(yield* Ref.get(calls)).toBe(3)
      expect(yield* fibersWithAttempts).toBe(0)
    }))

  it.scoped("a breaker refusal and a full bulkhead end the attempt with what they took given back", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        retry: { onOpenCircuit: "fail" },
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 1 },
          breakDuration: { base: "1 minute", max: "1 minute" }
        },
        bulkhead: { maxConcurrent: 1, maxQueue: 0 }
      })
      yield* resilience.breaker("k")!.isolate
      for (let i = 0; i < 20; i++) {
        const error = yield* Effect.flip(resilience.run(Effect.succeed(1), { key: "k" }))
        expect(error).toBeInstanceOf(CircuitBreaker.CircuitOpenError)
      }
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(resilience.run(Deferred.await(gate), { key: "other" }))
      yield* Effect.yieldNow()
      const refused = yield* Effect.flip(resilience.run(Effect.succeed(1), { key: "other", retry: false }))
      expect(refused._tag).toBe("BulkheadRejectedError")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      // 20 refusals did not use up the learned admission's cold-start window of 10.
      expect(
        yield* resilience.breaker("k")!.reset.pipe(Effect.zipRight(resilience.run(Effect.succeed(2), { key: "k" })))
      )
        .toBe(2)
      expect(yield* fibersWithAttempts).toBe(0)
    }))
})
