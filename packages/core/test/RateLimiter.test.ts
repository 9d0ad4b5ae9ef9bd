import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as Classify from "../src/Classify.js"
import * as PolicyError from "../src/PolicyError.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import { failureOf } from "./utils.js"

/** A call that records the `Clock` instant it runs at: through a limiter, the instant it was admitted. */
const recorder = () => {
  const admitted: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => admitted.push(now)))
  return { admitted, call }
}

/** Fires `n` calls at once through a limiter and moves the clock until they have all been admitted. */
const burst = <L>(limiter: RateLimiter.RateLimiter<L>, n: number, options?: RateLimiter.ProtectOptions) =>
  Effect.gen(function*() {
    const { admitted, call } = recorder()
    const fiber = yield* Effect.fork(
      Effect.forEach(Array.from({ length: n }), () => RateLimiter.protect(call, limiter, options), {
        concurrency: "unbounded",
        discard: true
      })
    )
    yield* TestClock.adjust("1 hour")
    yield* Fiber.join(fiber)
    return admitted.sort((a, b) => a - b)
  })

/** Lets every forked fiber run until it blocks on the clock. */
const settle = Effect.yieldNow().pipe(Effect.repeatN(20))

const times = (n: number, value: number): Array<number> => Array.from({ length: n }, () => value)

describe("RateLimiter requests per minute", () => {
  it.effect("600 RPM: a burst of 11 admits 10 at once (one second's worth) and the 11th exactly 100 ms later", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      expect(limiter.burst).toEqual({ requests: 10, tokens: undefined })
      const { admitted, call } = recorder()
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 11 }), () => RateLimiter.protect(call, limiter), { concurrency: 11 })
      )
      yield* settle
      expect(admitted).toEqual(times(10, 0))
      yield* TestClock.adjust("99 millis")
      expect(admitted.length).toBe(10)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      expect(admitted).toEqual([...times(10, 0), 100])
    }))

  it.effect("a burst of 50 at 600 RPM: one every 100 ms after the first 10, the last at (50 - 10) × 100 ms", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      const admitted = yield* burst(limiter, 50)
      expect(admitted).toEqual([...times(10, 0), ...Array.from({ length: 40 }, (_, i) => (i + 1) * 100)])
      expect(admitted.at(-1)).toBe(4_000)
    }))

  it.effect("a burst of 2,000 at 600 RPM is scheduled at once to complete at 199 s, the ideal pace", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      const events = yield* ResilienceEvent.subscribe
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 2_000 }), () => RateLimiter.protect(Effect.void, limiter), {
          concurrency: "unbounded",
          discard: true
        })
      )
      // Lets every call ask (TestClock waits for all fibers to block) without waking any: each knows its turn.
      yield* TestClock.adjust("0 millis")
      const waits = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).map((event) =>
        event._tag === "RateLimited" ? Duration.toMillis(event.wait) : -1
      )
      // 10 pass at once; the others wait 100 ms, 200 ms, ... one more interval each: the last 1,990 × 100 ms.
      expect(waits.sort((a, b) => a - b)).toEqual(Array.from({ length: 1_990 }, (_, i) => (i + 1) * 100))
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer({ capacity: 4_096 }))))

  it.effect("the bucket refills one request per 100 ms up to its burst, no further", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      expect(yield* burst(limiter, 10)).toEqual(times(10, 0))
      // An hour later (burst moved the clock) the bucket holds 10 again, not 36,000.
      const now = yield* Clock.currentTimeMillis
      const admitted = yield* burst(limiter, 12)
      expect(admitted).toEqual([...times(10, now), now + 100, now + 200])
    }))

  it.effect("calls arriving at the configured pace never wait", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 60, burst: { requests: 1 } })
      const { admitted, call } = recorder()
      for (let i = 0; i < 5; i++) {
        yield* RateLimiter.protect(call, limiter)
        yield* TestClock.adjust("1 second")
      }
      expect(admitted).toEqual([0, 1_000, 2_000, 3_000, 4_000])
    }))

  it.effect("a wait counts whole intervals from the ask: never shorter than ideal, at most one interval longer", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 60, burst: { requests: 1 } })
      const { admitted, call } = recorder()
      yield* RateLimiter.protect(call, limiter)
      yield* TestClock.adjust("500 millis")
      const fiber = yield* Effect.fork(RateLimiter.protect(call, limiter))
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      // The next request is refilled at 1,000 ms; the store does not credit the 500 ms already elapsed.
      expect(admitted).toEqual([0, 1_500])
    }))

  it.effect("burst sets how many pass at once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, burst: { requests: 3 } })
      expect(yield* burst(limiter, 5)).toEqual([0, 0, 0, 100, 200])
    }))
})

describe("RateLimiter tokens per minute", () => {
  it.effect("TPM 1,000, calls of 400 tokens: 0, 0, then 12 s (200 missing × 60 ms), then 36 s", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      expect(limiter.burst).toEqual({ requests: undefined, tokens: 1_000 })
      expect(yield* burst(limiter, 4, { tokens: 400 })).toEqual([0, 0, 12_000, 36_000])
    }))

  it.effect("a call declaring more tokens than the bucket holds waits for a full bucket, never forever", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      const { admitted, call } = recorder()
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          yield* RateLimiter.protect(call, limiter, { tokens: 1_500 }) // the bucket is full: at once, empties it
          yield* RateLimiter.protect(call, limiter, { tokens: 1_500 }) // a full bucket again: 60 s
          yield* RateLimiter.protect(call, limiter, { tokens: 100 }) // 100 more: 6 s
        })
      )
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      expect(admitted).toEqual([0, 60_000, 66_000])
    }))

  it.effect("a call that declares no tokens costs none", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      expect(yield* burst(limiter, 100)).toEqual(times(100, 0))
    }))

  it.effect("with both rates, a call waits for the scarcer resource", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, tokensPerMinute: 1_000 })
      // Tokens are scarcer at 400 a call: 0, 0, 12 s
      expect(yield* burst(limiter, 3, { tokens: 400 })).toEqual([0, 0, 12_000])
      const other = yield* RateLimiter.make({ requestsPerMinute: 600, tokensPerMinute: 100_000 })
      const now = yield* Clock.currentTimeMillis
      // Requests are scarcer at 10 tokens a call
      expect(yield* burst(other, 12, { tokens: 10 })).toEqual([...times(10, now), now + 100, now + 200])
    }))

  it.effect("a fractional token cost is rounded up", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      // 500 each: the third finds an empty bucket and waits 500 × 60 ms
      expect(yield* burst(limiter, 3, { tokens: 499.5 })).toEqual([0, 0, 30_000])
    }))
})

describe("RateLimiter onExceeded: \"fail\"", () => {
  it.effect("fails at once with RateLimitedLocallyError: resource, retryAfter, message, verdict and event", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ key: "openai/gpt-4o", requestsPerMinute: 600, onExceeded: "fail" })
      const events = yield* ResilienceEvent.subscribe
      const { admitted, call } = recorder()
      for (let i = 0; i < 10; i++) yield* RateLimiter.protect(call, limiter)
      const exit = yield* Effect.exit(RateLimiter.protect(call, limiter))
      const error = failureOf(exit)
      expect(RateLimiter.isRateLimitedLocallyError(error)).toBe(true)
      expect(error).toMatchObject({ _tag: "RateLimitedLocallyError", key: "openai/gpt-4o", resource: "requests" })
      expect(Duration.toMillis(error.retryAfter)).toBe(100)
      expect(error.message).toBe("rate limit for openai/gpt-4o: no requests left; retry in 100ms")
      expect(Classify.standard(error)).toEqual(Classify.transient("RateLimited", { retryAfter: "100 millis" }))
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events))).toEqual([
        ResilienceEvent.CallRejected({
          key: "openai/gpt-4o",
          at: 0,
          by: "RateLimiter",
          retryAfter: Duration.millis(100)
        })
      ])
      expect(admitted).toEqual(times(10, 0))
      yield* TestClock.adjust("100 millis")
      yield* RateLimiter.protect(call, limiter)
      expect(admitted).toEqual([...times(10, 0), 100])
      const refused = yield* Metric.value(
        RateLimiter.rejectedCounter.pipe(
          Metric.tagged("resilience.key", "openai/gpt-4o"),
          Metric.tagged("resilience.resource", "requests")
        )
      )
      expect(refused.count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("a call refused for tokens takes no request either", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        key: "both",
        requestsPerMinute: 600,
        tokensPerMinute: 1_000,
        onExceeded: "fail"
      })
      const { admitted, call } = recorder()
      yield* RateLimiter.protect(call, limiter, { tokens: 400 })
      yield* RateLimiter.protect(call, limiter, { tokens: 400 })
      const error = failureOf(yield* Effect.exit(RateLimiter.protect(call, limiter, { tokens: 400 })))
      expect(error).toMatchObject({ resource: "tokens" })
      // 200 tokens missing, one every 60 ms
      expect(Duration.toMillis(error.retryAfter)).toBe(12_000)
      // 2 of the 10 requests were taken: 8 more pass, the 9th is refused.
      for (let i = 0; i < 8; i++) yield* RateLimiter.protect(call, limiter)
      expect(failureOf(yield* Effect.exit(RateLimiter.protect(call, limiter)))).toMatchObject({ resource: "requests" })
      expect(admitted.length).toBe(10)
    }))

  it.effect("the limiter's type says whether it can refuse", () =>
    Effect.gen(function*() {
      const call = Effect.succeed(1) as Effect.Effect<number, "boom">
      const delaying = yield* RateLimiter.make({ requestsPerMinute: 600 })
      const failing = yield* RateLimiter.make({ requestsPerMinute: 600, onExceeded: "fail" })
      expectTypeOf(delaying).toEqualTypeOf<RateLimiter.RateLimiter<never>>()
      expectTypeOf(failing).toEqualTypeOf<RateLimiter.RateLimiter<RateLimiter.RateLimitedLocallyError>>()
      expectTypeOf(RateLimiter.protect(call, delaying)).toEqualTypeOf<Effect.Effect<number, "boom">>()
      expectTypeOf(call.pipe(RateLimiter.protect(delaying, { tokens: 10 }))).toEqualTypeOf<
        Effect.Effect<number, "boom">
      >()
      expectTypeOf(RateLimiter.protect(call, failing, { tokens: 10 })).toEqualTypeOf<
        Effect.Effect<number, "boom" | RateLimiter.RateLimitedLocallyError>
      >()
      expectTypeOf(call.pipe(RateLimiter.protect(failing))).toEqualTypeOf<
        Effect.Effect<number, "boom" | RateLimiter.RateLimitedLocallyError>
      >()
    }))
})

describe("RateLimiter.observe", () => {
  it.effect("remaining 0 with a reset in 10 s holds admissions until the reset, then paces them", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      yield* RateLimiter.observe(limiter, { remainingRequests: 0, resetRequests: Duration.seconds(10) })
      expect(yield* burst(limiter, 3)).toEqual([10_000, 10_100, 10_200])
    }))

  it.effect("remaining 0 beside the limit empties the bucket, with no pause until the reset", () =>
    Effect.gen(function*() {
      // OpenAI's and Anthropic's reset is the time until the bucket is full again: holding until then idles.
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, tokensPerMinute: 6_000 })
      yield* RateLimiter.observe(limiter, {
        limitRequests: 600,
        remainingRequests: 0,
        resetRequests: "1 second",
        limitTokens: 6_000,
        remainingTokens: 0,
        resetTokens: "60 seconds"
      })
      // Both buckets empty: 1 request 100 ms away, 50 tokens 500 ms away (10 ms each), not 60 s.
      expect(yield* burst(limiter, 2, { tokens: 50 })).toEqual([500, 1_000])
    }))

  it.effect("remaining 0 beside the limit of a resource the limiter does not count still pauses it", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      yield* RateLimiter.observe(limiter, { limitTokens: 6_000, remainingTokens: 0, resetTokens: "5 seconds" })
      expect(yield* burst(limiter, 2)).toEqual([5_000, 5_000])
    }))

  it.effect("in fail mode, a pause refuses calls with the time left as retryAfter", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, onExceeded: "fail" })
      yield* RateLimiter.observe(limiter, { remainingTokens: 0, resetTokens: "10 seconds" })
      yield* TestClock.adjust("4 seconds")
      const error = failureOf(yield* Effect.exit(RateLimiter.protect(Effect.void, limiter)))
      expect(error).toMatchObject({ resource: "tokens" })
      expect(Duration.toMillis(error.retryAfter)).toBe(6_000)
      yield* TestClock.adjust("6 seconds")
      expect(Exit.isSuccess(yield* Effect.exit(RateLimiter.protect(Effect.void, limiter)))).toBe(true)
    }))

  it.effect("a Retry-After observed while calls wait holds them too, then lets them through in order", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      const { admitted, call } = recorder()
      const fiber = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 12 }), () => RateLimiter.protect(call, limiter), { concurrency: 12 })
      )
      yield* settle
      // 10 passed; the 11th waits until 100 ms, the 12th until 200 ms.
      yield* TestClock.adjust("50 millis")
      yield* RateLimiter.observe(limiter, { retryAfter: "1 second" })
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      expect(admitted).toEqual([...times(10, 0), 1_050, 1_100])
    }))

  // Durations keep whole nanoseconds: a wait until a fractional pause end can end half a nanosecond short of it.
  // The waiter must then wait 1 ns more, not wait "0" for ever at that instant (a call that costs no tokens on a
  // tokens-only limiter waits for the pause alone).
  it.effect("a call held by a pause with a fractional end goes at its end", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      yield* TestClock.setTime(498.104671)
      yield* RateLimiter.observe(limiter, { retryAfter: Duration.millis(831.704234) })
      yield* TestClock.adjust(Duration.millis(84.063059))
      const { admitted, call } = recorder()
      const fiber = yield* Effect.fork(RateLimiter.protect(call, limiter))
      // The wait from 582.16773 to the pause's end, 1329.808905, lands at 1329.8089049999999.
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(admitted).toHaveLength(1)
      expect(admitted[0]).toBeGreaterThanOrEqual(1329.808905)
      expect(admitted[0]! - 1329.808905).toBeLessThan(2e-6)
    }))

  it.effect("remaining n lowers the bucket to n", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      yield* RateLimiter.observe(limiter, { remainingTokens: 100 })
      // 300 tokens missing for a call of 400: 300 × 60 ms
      expect(yield* burst(limiter, 1, { tokens: 400 })).toEqual([18_000])
    }))

  it.effect("remaining n never raises the bucket", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 400 })
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 400 })
      // The bucket holds 200; the provider says 900 are left: the limiter keeps its own, lower count.
      yield* RateLimiter.observe(limiter, { remainingTokens: 900, resetTokens: "1 second" })
      expect(yield* burst(limiter, 1, { tokens: 400 })).toEqual([12_000])
    }))

  it.effect("a token pause holds a limiter that counts only requests", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      yield* RateLimiter.observe(limiter, { remainingTokens: 0, resetTokens: "5 seconds" })
      expect(yield* burst(limiter, 2)).toEqual([5_000, 5_000])
    }))

  it.effect("ignores what it cannot read", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      yield* RateLimiter.observe(limiter, {
        remainingRequests: Number.NaN,
        resetRequests: "soon" as Duration.DurationInput,
        retryAfter: Duration.infinity
      })
      expect(yield* burst(limiter, 10)).toEqual(times(10, 0))
    }))

  it.effect("data-last", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      yield* RateLimiter.observe({ retryAfter: Duration.seconds(2) })(limiter)
      expect(yield* burst(limiter, 1)).toEqual([2_000])
    }))
})

describe("RateLimiter store", () => {
  it.effect("limiters with one key on the RateLimiterStore in context share their buckets", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({ key: "shared", requestsPerMinute: 600 })
      const b = yield* RateLimiter.make({ key: "shared", requestsPerMinute: 600 })
      const c = yield* RateLimiter.make({ key: "other", requestsPerMinute: 600 })
      for (let i = 0; i < 10; i++) yield* RateLimiter.protect(Effect.void, a)
      expect(yield* burst(c, 1)).toEqual([0])
      yield* TestClock.setTime(0)
      expect(yield* burst(b, 1)).toEqual([100])
    }).pipe(Effect.provide(ExperimentalRateLimiter.layerStoreMemory)))

  it.effect("without a store in context, each limiter has its own", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({ key: "same", requestsPerMinute: 600 })
      const b = yield* RateLimiter.make({ key: "same", requestsPerMinute: 600 })
      for (let i = 0; i < 10; i++) yield* RateLimiter.protect(Effect.void, a)
      expect(yield* burst(b, 1)).toEqual([0])
    }))

  it.effect("a failing store falls back to local buckets: calls are admitted, and still limited", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 600 })
      expect(yield* burst(limiter, 11)).toEqual([...times(10, 0), 100])
    }).pipe(
      Effect.provide(
        Layer.succeed(
          ExperimentalRateLimiter.RateLimiterStore,
          ExperimentalRateLimiter.RateLimiterStore.of({
            fixedWindow: () => Effect.fail(new ExperimentalRateLimiter.RateLimitStoreError({ message: "down" })),
            tokenBucket: () => Effect.fail(new ExperimentalRateLimiter.RateLimitStoreError({ message: "down" }))
          })
        )
      )
    ))
})

describe("RateLimiter events and metrics", () => {
  it.effect("a held call publishes RateLimited with its wait and tokens; waits feed the histogram", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ key: "events", requestsPerMinute: 600, tokensPerMinute: 1_000 })
      const events = yield* ResilienceEvent.subscribe
      yield* burst(limiter, 3, { tokens: 400 })
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(events))).toEqual([
        ResilienceEvent.RateLimited({ key: "events", at: 0, wait: Duration.millis(12_000), tokens: 400 })
      ])
      const waits = yield* Metric.value(RateLimiter.waitHistogram.pipe(Metric.tagged("resilience.key", "events")))
      expect(waits.count).toBe(3)
      expect(waits.sum).toBe(12_000)
      expect(waits.max).toBe(12_000)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("interrupting a waiting call ends its wait at once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ requestsPerMinute: 60, burst: { requests: 1 } })
      yield* RateLimiter.protect(Effect.void, limiter)
      const fiber = yield* Effect.fork(RateLimiter.protect(Effect.succeed("late"), limiter))
      yield* settle
      yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
      expect(yield* Clock.currentTimeMillis).toBe(0)
    }))
})

describe("RateLimiter.adjust", () => {
  /** TPM 1,000: a bucket of 1,000 tokens, one more every 60 ms; refusals say how long until a call fits. */
  const tokenLimiter = RateLimiter.make({ tokensPerMinute: 1_000, onExceeded: "fail" })
  const refusedAfter = <L>(limiter: RateLimiter.RateLimiter<L>, tokens: number) =>
    Effect.map(Effect.exit(RateLimiter.protect(Effect.void, limiter, { tokens })), (exit) => {
      if (Exit.isSuccess(exit)) return 0
      const error = failureOf(exit) as RateLimiter.RateLimitedLocallyError
      return Duration.toMillis(error.retryAfter)
    })

  it.effect("a positive adjustment charges the difference: the next call waits for it", () =>
    Effect.gen(function*() {
      const limiter = yield* tokenLimiter
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 400 })
      // The response used 1,000 tokens, not 400: the bucket is empty, 100 tokens are 6 s away.
      yield* RateLimiter.adjust(limiter, 600)
      expect(yield* refusedAfter(limiter, 100)).toBe(6_000)
    }))

  it.effect("a charge may take the bucket below zero; a waiting call then waits for the debt too", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 1_000 })
      yield* RateLimiter.adjust(limiter, 500)
      const { admitted, call } = recorder()
      const fiber = yield* Effect.fork(RateLimiter.protect(call, limiter, { tokens: 100 }))
      yield* TestClock.adjust("35999 millis")
      expect(admitted).toEqual([])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      // (500 owed + 100) × 60 ms
      expect(admitted).toEqual([36_000])
    }))

  it.effect("a negative adjustment gives tokens back", () =>
    Effect.gen(function*() {
      const limiter = yield* tokenLimiter
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 1_000 })
      expect(yield* refusedAfter(limiter, 600)).toBe(36_000)
      // The response used 400 of the 1,000 charged.
      yield* RateLimiter.adjust(limiter, -600)
      expect(yield* refusedAfter(limiter, 600)).toBe(0)
      expect(yield* refusedAfter(limiter, 1)).toBe(60)
    }))

  it.effect("a refund never fills the bucket beyond its burst", () =>
    Effect.gen(function*() {
      const limiter = yield* tokenLimiter
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 100 })
      yield* RateLimiter.adjust(limiter, -500)
      expect(yield* refusedAfter(limiter, 1_000)).toBe(0)
      expect(yield* refusedAfter(limiter, 1)).toBe(60)
    }))

  it.effect("rounds a charge up and a refund down; ignores 0, non-finite counts and limiters without tokens", () =>
    Effect.gen(function*() {
      const limiter = yield* tokenLimiter
      yield* RateLimiter.protect(Effect.void, limiter, { tokens: 1_000 })
      yield* RateLimiter.adjust(limiter, -1.9)
      expect(yield* refusedAfter(limiter, 2)).toBe(60)
      yield* RateLimiter.adjust(limiter, 0.1)
      expect(yield* refusedAfter(limiter, 1)).toBe(60)
      yield* RateLimiter.adjust(limiter, 0)
      yield* RateLimiter.adjust(limiter, Number.NaN)
      yield* RateLimiter.adjust(-Infinity)(limiter)
      expect(yield* refusedAfter(limiter, 1)).toBe(60)
      const requestsOnly = yield* RateLimiter.make({ requestsPerMinute: 60, onExceeded: "fail" })
      yield* RateLimiter.adjust(requestsOnly, 1_000)
      expect(Exit.isSuccess(yield* Effect.exit(RateLimiter.protect(Effect.void, requestsOnly)))).toBe(true)
    }))
})

describe("RateLimiter options", () => {
  it.effect("lists every problem in one InvalidPolicyError", () =>
    Effect.gen(function*() {
      const none = yield* Effect.flip(RateLimiter.make({}))
      expect(PolicyError.isInvalidPolicyError(none)).toBe(true)
      expect(none.policy).toBe("rate limiter")
      expect(none.issues).toEqual(["requestsPerMinute: give requestsPerMinute, tokensPerMinute or both"])

      const bad = yield* Effect.flip(RateLimiter.make({
        key: "",
        requestsPerMinute: 0,
        tokensPerMinute: Infinity,
        burst: { requests: 1.5, tokens: 0 },
        onExceeded: "drop" as "fail"
      }))
      expect(bad.issues).toEqual([
        "key: must be a non-empty string",
        "requestsPerMinute: must be a finite number > 0, got 0",
        "tokensPerMinute: must be a finite number > 0, got Infinity",
        "burst.requests: must be a whole number ≥ 1, got 1.5",
        "burst.tokens: must be a whole number ≥ 1, got 0",
        "onExceeded: must be \"delay\" or \"fail\", got \"drop\""
      ])

      const orphan = yield* Effect.flip(RateLimiter.make({ requestsPerMinute: 60, burst: { tokens: 100 } }))
      expect(orphan.issues).toEqual(["burst.tokens: needs tokensPerMinute"])
    }))

  it.effect("a negative or non-finite token cost is a defect", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ tokensPerMinute: 1_000 })
      const exit = yield* Effect.exit(RateLimiter.protect(Effect.void, limiter, { tokens: -1 }))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
    }))
})
