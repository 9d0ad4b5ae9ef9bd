import { Resilience } from "@effect-resilience/core"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber } from "effect"
import * as VirtualRuntime from "../src/VirtualRuntime.js"

describe("VirtualRuntime", () => {
  it("wakes chained sleeps at their exact instants", () => {
    const result = VirtualRuntime.runSync(Effect.gen(function*() {
      const instants: Array<number> = []
      for (const ms of [100, 250, 0, 1000]) {
        yield* Effect.sleep(Duration.millis(ms))
        instants.push(yield* Clock.currentTimeMillis)
      }
      return instants
    }))
    assert.deepStrictEqual(result.exit, Exit.succeed([100, 350, 350, 1350]))
    assert.strictEqual(Duration.toMillis(result.elapsed), 1350)
  })

  it("wakes concurrent fibers in wake-time order, ties in insertion order", () => {
    const result = VirtualRuntime.runSync(Effect.gen(function*() {
      const order: Array<string> = []
      const sleeper = (name: string, ms: number) =>
        Effect.sleep(Duration.millis(ms)).pipe(
          Effect.zipRight(Clock.currentTimeMillis),
          Effect.map((now) => order.push(`${name}@${now}`))
        )
      yield* Effect.all([sleeper("a", 300), sleeper("b", 100), sleeper("c", 300), sleeper("d", 200)], {
        concurrency: "unbounded"
      })
      return order
    }))
    assert.deepStrictEqual(result.exit, Exit.succeed(["b@100", "d@200", "a@300", "c@300"]))
  })

  it("interrupting a sleeping fiber cancels its timer", () => {
    const result = VirtualRuntime.runSync(Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.sleep("1 hour"))
      yield* Effect.sleep("1 second")
      yield* Fiber.interrupt(fiber)
      return yield* Clock.currentTimeMillis
    }))
    assert.deepStrictEqual(result.exit, Exit.succeed(1000))
    assert.strictEqual(Duration.toMillis(result.elapsed), 1000)
    assert.strictEqual(result.wakeUps, 1)
  })

  // A pipeline's per-key attempt timeout and rate limiter are made on first use; their finalizers must run on
  // this runtime's scheduler when the pipeline's scope closes (they once ran on a nested runSync's, never seen here).
  it("closes pipelines made and used inside it, attempt timeout and rate limiter included", () => {
    const request = Effect.scoped(Effect.gen(function*() {
      const pipeline = yield* Resilience.make({ rateLimiter: { requestsPerMinute: 600 }, attemptTimeout: "2 minutes" })
      return yield* pipeline.run(Effect.sleep("100 millis"), { key: "openai/gpt-4o" })
    }))
    const result = VirtualRuntime.runSync(
      Effect.forEach(Array.from({ length: 50 }, (_, i) => i), () => request, { concurrency: 10, discard: true }),
      { horizon: "10 minutes" }
    )
    assert.isTrue(result.exit !== undefined && Exit.isSuccess(result.exit))
    assert.strictEqual(Duration.toMillis(result.elapsed), 500)
  })

  it("stops at the horizon and interrupts the workload", () => {
    const result = VirtualRuntime.runSync(Effect.forever(Effect.sleep("1 second")), { horizon: "10 seconds" })
    assert.strictEqual(result.exit, undefined)
    assert.strictEqual(Duration.toMillis(result.elapsed), 10_000)
  })

  // About 1 s of real time on an idle machine; `pnpm sim` is where speed is measured, not this test.
  it("runs 3,000 concurrent fibers sleeping twice each, waking each exactly twice", () => {
    const result = VirtualRuntime.runSync(
      Effect.forEach(
        Array.from({ length: 3_000 }, (_, i) => i),
        (i) => Effect.sleep(Duration.millis(i % 977)).pipe(Effect.zipRight(Effect.sleep("1 minute"))),
        { concurrency: "unbounded", discard: true }
      )
    )
    assert.isTrue(result.exit !== undefined && Exit.isSuccess(result.exit))
    assert.strictEqual(Duration.toMillis(result.elapsed), 976 + 60_000)
    assert.strictEqual(result.wakeUps, 6_000)
  })
})
