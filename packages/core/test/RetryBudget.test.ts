import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ProviderError from "../src/ProviderError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import * as Retry from "../src/Retry.js"
import * as RetryBudget from "../src/RetryBudget.js"
import * as StateStore from "../src/StateStore.js"
import { runVirtual, scripted } from "./utils.js"

const down = new ProviderError.TransientError({ provider: "p", reason: "Unavailable", status: 503, message: "down" })

/**
 * `requests` logical requests, one every `spacingMillis`, all concurrent, each retried by `policy`
 * against a provider whose health `healthy` decides. Returns provider calls per logical request.
 */
const traffic = (options: {
  readonly requests: number
  readonly spacingMillis: number
  readonly policy: Retry.Policy<ProviderError.ProviderError>
  readonly healthy: (now: number) => boolean
}) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const provider = Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
      Ref.update(calls, (n) =>
        n + 1).pipe(
          Effect.zipRight(options.healthy(now) ? Effect.succeed("ok") : Effect.fail(down))
        ))
    yield* runVirtual(
      Effect.forEach(
        Array.from({ length: options.requests }, (_, i) =>
          i),
        (i) => provider.pipe(Retry.retry(options.policy), Effect.delay(i * options.spacingMillis), Effect.either),
        { concurrency: "unbounded", discard: true }
      ),
      "1 day"
    )
    return (yield* Ref.get(calls)) / options.requests
  })

describe("RetryBudget.tokenBucket", () => {
  it.effect("keeps amplification near 1 during a full outage, then refills on success", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.tokenBucket({ maxTokens: 10, tokenRatio: 0.1, key: "openai" })
      const policy = Retry.policy<ProviderError.ProviderError>({
        maxAttempts: 3,
        backoff: { base: "100 millis", max: "1 second", jitter: "none" },
        budget
      })
      const amplification = yield* traffic({ requests: 200, spacingMillis: 50, policy, healthy: () => false })
      // without a budget: 3.0; the bucket allows ~maxTokens / 2 retries in all
      expect(amplification).toBeLessThanOrEqual(1 + 5 / 200)
      expect(yield* RetryBudget.level(budget)).toBeLessThanOrEqual(5)
      // 60 successes at 0.1 tokens each bring the bucket back above half
      yield* traffic({ requests: 60, spacingMillis: 10, policy, healthy: () => true })
      expect(yield* RetryBudget.level(budget)).toBeGreaterThan(5)
      expect(yield* RetryBudget.withdraw(budget)).toBe(true)
    }))

  it.effect("starts full and allows retries while more than half the tokens remain", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.tokenBucket({ maxTokens: 4, tokenRatio: 1 })
      expect(yield* RetryBudget.level(budget)).toBe(4)
      yield* RetryBudget.record(budget, "Failure")
      expect(yield* RetryBudget.withdraw(budget)).toBe(true) // 3 > 2
      yield* RetryBudget.record(budget, "Failure")
      expect(yield* RetryBudget.withdraw(budget)).toBe(false) // 2 is not > 2
      yield* RetryBudget.record(budget, "Success")
      expect(yield* RetryBudget.withdraw(budget)).toBe(true)
      for (let i = 0; i < 10; i++) yield* RetryBudget.record(budget, "Success")
      expect(yield* RetryBudget.level(budget)).toBe(4)
    }))
})

describe("RetryBudget.ratio", () => {
  it.effect("keeps calls per request under 1 + ratio during a full outage", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.ratio({ ratio: 0.1, minRetriesPerSecond: 0.2, window: "10 seconds" })
      const policy = Retry.policy<ProviderError.ProviderError>({
        maxAttempts: 3,
        backoff: { base: "100 millis", max: "1 second", jitter: "none" },
        budget
      })
      // 20 requests per second for 15 s
      const amplification = yield* traffic({ requests: 300, spacingMillis: 50, policy, healthy: () => false })
      // ratio 0.1, plus 0.2 retries per second (3 / 300 = 0.01), plus the first window's allowance
      expect(amplification).toBeLessThanOrEqual(1 + 0.1 + 0.01 + 0.01)
      expect(amplification).toBeGreaterThan(1.05)
    }))

  it.effect("counts requests and retries for exactly one window", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.ratio({ ratio: 0.5, minRetriesPerSecond: 0, window: "10 seconds" })
      for (let i = 0; i < 4; i++) yield* RetryBudget.record(budget, "Request")
      yield* TestClock.setTime(1_000)
      // 4 requests at 0: 2 retries
      expect([yield* RetryBudget.withdraw(budget), yield* RetryBudget.withdraw(budget)]).toEqual([true, true])
      expect(yield* RetryBudget.withdraw(budget)).toBe(false)
      yield* TestClock.setTime(9_999)
      expect(yield* RetryBudget.level(budget)).toBe(0)
      // the requests of t=0 leave the window at 10 s, the retries of t=1 s at 11 s
      yield* TestClock.setTime(10_000)
      yield* RetryBudget.record(budget, "Request")
      yield* RetryBudget.record(budget, "Request")
      expect(yield* RetryBudget.withdraw(budget)).toBe(false)
      yield* TestClock.setTime(10_999)
      expect(yield* RetryBudget.withdraw(budget)).toBe(false)
      yield* TestClock.setTime(11_000)
      expect(yield* RetryBudget.level(budget)).toBe(1)
      expect(yield* RetryBudget.withdraw(budget)).toBe(true)
    }))

  it.effect("allows the minimum per second when traffic is quiet", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.ratio({ ratio: 0, minRetriesPerSecond: 1, window: "10 seconds" })
      const allowed = []
      for (let i = 0; i < 12; i++) allowed.push(yield* RetryBudget.withdraw(budget))
      expect(allowed.filter(Boolean)).toHaveLength(10)
      yield* TestClock.adjust("10 seconds")
      expect(yield* RetryBudget.withdraw(budget)).toBe(true)
    }))
})

describe("RetryBudget with Retry", () => {
  it.effect("charges a ratio budget only for retries that reach the provider (not those the breaker refuses)", () =>
    Effect.gen(function*() {
      // 2 retries per 10 s window, whatever the traffic
      const budget = yield* RetryBudget.ratio({ ratio: 0, minRetriesPerSecond: 0.2, window: "10 seconds" })
      const breaker = yield* CircuitBreaker.make({ trip: CircuitBreaker.consecutive(1), breakDuration: "1 second" })
      const policy = Retry.policy({ maxAttempts: 5, backoff: Schedule.spaced("100 millis"), budget })
      const provider = scripted<string, ProviderError.TransientError>([
        { fail: down },
        { succeed: "ok" },
        { fail: down },
        { succeed: "ok" }
      ])
      const request = provider.call.pipe(CircuitBreaker.protect(breaker), Retry.retry(policy), Effect.exit, Effect.fork)
      // request 1 fails at 0; its retry at 100 ms is refused by the open breaker; its retry at 1 s succeeds
      const first = yield* request
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(first)).toEqual(Exit.succeed("ok"))
      expect(provider.instants).toEqual([0, 1_000])
      // request 2 fails once at 2 s: one retry of the window reached the provider, so one is left for it
      const second = yield* request
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(second)).toEqual(Exit.succeed("ok"))
      expect(provider.instants).toEqual([0, 1_000, 2_000, 3_000])
      // both retries of the window are spent now: the refused ones cost nothing
      expect(yield* RetryBudget.level(budget)).toBe(0)
    }))

  it.effect("gives the retry back when the caller gives up while waiting for it", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.ratio({ ratio: 0, minRetriesPerSecond: 0.1, window: "10 seconds" })
      const policy = Retry.policy({ maxAttempts: 3, backoff: Schedule.spaced("1 second"), budget })
      const provider = scripted<string, ProviderError.TransientError>([{ fail: down }])
      const fiber = yield* Effect.fork(Retry.retry(provider.call, policy))
      yield* TestClock.adjust("500 millis")
      // the window's only retry is granted, and the caller is waiting for it
      expect(yield* RetryBudget.level(budget)).toBe(0)
      yield* Fiber.interrupt(fiber)
      expect(yield* RetryBudget.level(budget)).toBe(1)
      expect(provider.instants).toEqual([0])
    }))

  it.scoped("stops retrying with the last error and a BudgetExhausted event", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const budget = yield* RetryBudget.tokenBucket({ maxTokens: 2, tokenRatio: 0.1 })
      let calls = 0
      const { exit } = yield* runVirtual(
        Effect.suspend(() => (calls++, Effect.fail(down))).pipe(
          Retry.retry(Retry.policy({ maxAttempts: 5, budget, backoff: { base: 10, max: 10, jitter: "none" } }))
        )
      )
      // 2 tokens: the first failure leaves 1, which is not more than half of 2
      expect(calls).toBe(1)
      expect(exit._tag).toBe("Failure")
      const tags = Array.from(yield* Queue.takeAll(queue)).map((event) => event._tag)
      expect(tags).toEqual(["AttemptStarted", "AttemptFailed", "BudgetExhausted", "RetriesExhausted"])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("is shared through a StateStore layer", () =>
    Effect.gen(function*() {
      const a = yield* RetryBudget.tokenBucket({ maxTokens: 4, key: "shared" })
      const b = yield* RetryBudget.tokenBucket({ maxTokens: 4, key: "shared" })
      yield* RetryBudget.record(a, "Failure")
      yield* RetryBudget.record(a, "Failure")
      expect(yield* RetryBudget.withdraw(b)).toBe(false)
    }).pipe(Effect.provide(StateStore.layerMemory())))

  it("lists every problem of invalid options", () => {
    const tokenIssues = Either.getLeft(RetryBudget.validateTokenBucket({ maxTokens: 0, tokenRatio: -1 }))
    expect(Option.map(tokenIssues, (e) => e.issues.length)).toEqual(Option.some(2))
    const ratioIssues = Either.getLeft(RetryBudget.validateRatio({ ratio: 1.5, minRetriesPerSecond: -1, window: 0 }))
    expect(Option.map(ratioIssues, (e) => e.issues)).toEqual(Option.some([
      "ratio: must be a number in [0, 1], got 1.5",
      "minRetriesPerSecond: must be a finite number ≥ 0, got -1",
      "window: must be > 0, got 0"
    ]))
  })
})

describe("RetryBudget.levelGauge", () => {
  it.effect("shows the level at the last retry decision", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.tokenBucket({ maxTokens: 10, key: "gauge-test" })
      yield* RetryBudget.record(budget, "Failure")
      yield* RetryBudget.withdraw(budget)
      const gauge = yield* Metric.value(RetryBudget.levelGauge.pipe(Metric.tagged("resilience.key", "gauge-test")))
      expect(gauge.value).toBe(9)
    }))
})
