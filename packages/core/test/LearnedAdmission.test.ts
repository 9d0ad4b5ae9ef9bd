/**
 * Learned admission, the pipeline's default: each rule on TestClock, with the exact instants at which the provider
 * is called.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Deadline from "../src/Deadline.js"
import * as ProviderError from "../src/ProviderError.js"
import * as Resilience from "../src/Resilience.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import { failureOf, rateLimited, scripted } from "./utils.js"

const key = "openai/gpt-4o"

/** Nothing but admission (and the policies a test turns on). */
const only = (extra: Resilience.Config = {}): Resilience.Config => ({
  retry: false,
  budget: false,
  circuitBreaker: false,
  bulkhead: false,
  attemptTimeout: false,
  ...extra
})

/** Collects every event published while `effect` runs. */
const collecting = <A, E, R>(effect: (events: Array<ResilienceEvent.ResilienceEvent>) => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const events: Array<ResilienceEvent.ResilienceEvent> = []
    return effect(events).pipe(
      Effect.provideService(ResilienceEvent.ResilienceEvents, {
        enabled: true,
        publish: (event) => Effect.sync(() => events.push(event)),
        subscribe: Effect.dieMessage("not subscribed")
      })
    )
  })

const learned = (events: ReadonlyArray<ResilienceEvent.ResilienceEvent>) =>
  events.flatMap((event) =>
    event._tag === "LimitLearned"
      // Rounded: 0.7 × 20 × 60 is 839.9999999999999 in floating point.
      ? [{
        at: event.at,
        resource: event.resource,
        perMinute: Math.round(event.perMinute * 1e6) / 1e6,
        source: event.source
      }]
      : []
  )

/** A provider call that takes `latency` and records the instant it was sent. */
const timed = (
  latency: Duration.DurationInput,
  outcome: Effect.Effect<string, ProviderError.ProviderError> = Effect.succeed("ok")
) => {
  const instants: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    instants.push(now)
    return Effect.zipRight(Effect.sleep(latency), outcome)
  })
  return { call, instants }
}

const unavailable = new ProviderError.TransientError({
  provider: "test",
  reason: "Unavailable",
  status: 503,
  message: "unavailable"
})

/** Runs `count` calls of `call` at once through `pipeline` and moves the clock by `horizon`. */
const burst = <A, E>(
  pipeline: Resilience.Service,
  call: Effect.Effect<A, E>,
  count: number,
  options: Resilience.RunOptions = { key },
  horizon: Duration.DurationInput = "1 minute"
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(
      Effect.all(Array.from({ length: count }, () => Effect.exit(pipeline.run(call, options))), {
        concurrency: "unbounded"
      })
    )
    yield* TestClock.adjust(horizon)
    return yield* Fiber.join(fiber)
  })

describe("learned admission: headers", () => {
  it.scoped("a limit of 60 requests a minute with none left paces calls one second apart", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(only())
        yield* pipeline.observe(key, { limitRequests: 60, remainingRequests: 0 })
        const { call, instants } = scripted([{ succeed: "ok" }])
        yield* burst(pipeline, call, 3)
        expect(instants).toEqual([1000, 2000, 3000])
        expect(learned(events)).toEqual([{ at: 0, resource: "requests", perMinute: 60, source: "headers" }])
      })
    ))

  it.scoped("a token limit paces calls by their declared tokens, from what remains", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(only())
        // 6,000 a minute is 100 a second; 1,000 left now.
        yield* pipeline.observe(key, { limitTokens: 6_000, remainingTokens: 1_000 })
        const { call, instants } = scripted([{ succeed: "ok" }])
        yield* burst(pipeline, call, 3, { key, tokens: 1_000 })
        expect(instants).toEqual([0, 10_000, 20_000])
        expect(learned(events)).toEqual([{ at: 0, resource: "tokens", perMinute: 6_000, source: "headers" }])
      })
    ))

  it.scoped("a configured rate is a ceiling the learned rate never exceeds", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({ rateLimiter: { requestsPerMinute: 30, burst: { requests: 1 } } }))
      yield* pipeline.observe(key, { limitRequests: 600 })
      const { call, instants } = scripted([{ succeed: "ok" }])
      yield* burst(pipeline, call, 3)
      expect(instants).toEqual([0, 2000, 4000])
    }))

  it.scoped("no limit known: none remaining with a reset holds every call until the reset", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only())
      yield* pipeline.observe(key, { remainingRequests: 0, resetRequests: Duration.seconds(2) })
      const { call, instants } = scripted([{ succeed: "ok" }])
      yield* burst(pipeline, call, 2)
      expect(instants).toEqual([2000, 2000])
    }))
})

describe("learned admission: events", () => {
  it("LimitLearned reads as one line", () => {
    const event = ResilienceEvent.LimitLearned({
      key,
      at: 0,
      resource: "requests",
      perMinute: 840,
      source: "throttling"
    })
    expect(ResilienceEvent.format(event)).toBe(
      "[openai/gpt-4o] learned a limit of 840 requests/min from throttling (429s)"
    )
    expect(ResilienceEvent.format({ ...event, resource: "tokens", perMinute: 200_000, source: "headers" })).toBe(
      "[openai/gpt-4o] learned a limit of 200000 tokens/min from headers"
    )
  })
})

describe("learned admission: throttling (429s without headers)", () => {
  it.scoped("a 429 holds every caller of the key until its Retry-After, then paces at the decreased rate", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(
          only({ retry: { maxAttempts: 2, backoff: { base: 100, max: 100, jitter: "none" } } })
        )
        const { call, instants } = scripted<string, ProviderError.ProviderError>([
          { fail: rateLimited("2 seconds") },
          { succeed: "ok" }
        ])
        const first = yield* Effect.fork(pipeline.run(call, { key }))
        yield* TestClock.adjust(500)
        // A call of another caller, started during the pause: held until it ends.
        const second = yield* Effect.fork(pipeline.run(call, { key }))
        yield* TestClock.adjust("10 seconds")
        expect(Exit.isSuccess(yield* Fiber.await(first))).toBe(true)
        expect(Exit.isSuccess(yield* Fiber.await(second))).toBe(true)
        // No success measured yet: the slowest rate, 1 a second. The waiting call goes when the pause ends, the
        // retry (asking at the same instant, behind it) one interval later.
        expect(instants).toEqual([0, 2000, 3000])
        expect(learned(events)).toEqual([{ at: 0, resource: "requests", perMinute: 60, source: "throttling" }])
      })
    ))

  it.scoped("the decrease is 0.7 × the success rate measured before the 429, once per throttling event", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(only())
        // 20 calls answered in 100 ms, 10 at a time (the cold-start window), all successes: 20 a second.
        const ok = timed("50 millis")
        yield* burst(pipeline, ok.call, 20, { key }, "990 millis")
        expect(ok.instants).toEqual([...Array(10).fill(0), ...Array(10).fill(50)])
        // Then three calls answered with a 429 at 1 s, in the same instant: one throttling event.
        const throttled = timed("10 millis", Effect.fail(rateLimited("1 second")))
        yield* burst(pipeline, throttled.call, 3, { key }, "10 millis")
        expect(throttled.instants).toEqual([990, 990, 990])
        expect(learned(events)).toEqual([
          { at: 1000, resource: "requests", perMinute: 0.7 * 20 * 60, source: "throttling" }
        ])
      })
    ))

  it.scoped("after a decrease the rate grows back while no 429 comes (CUBIC): calls come closer together", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only())
      const ok = timed("50 millis")
      yield* burst(pipeline, ok.call, 20, { key }, "990 millis")
      yield* burst(pipeline, timed("10 millis", Effect.fail(rateLimited("1 second"))).call, 1, { key }, "10 millis")
      // 14 a second when the pause ends (t = 2 s), one call at once; back to 20 a second K = ∛(20 · 0.3 / 0.4) ≈ 2.47 s
      // later (≈ 18.7 a second at 3 s), flat around 20 until about 5 s, then above it (≈ 24 a second at 6.5 s).
      const after = timed("0 millis")
      yield* burst(pipeline, after.call, 120, { key }, "20 seconds")
      const inSecond = (s: number) => after.instants.filter((t) => t >= s * 1000 && t < (s + 1) * 1000).length
      expect(after.instants[0]).toBe(2000)
      expect([inSecond(2), inSecond(3), inSecond(4), inSecond(5), inSecond(6)]).toEqual([17, 20, 20, 20, 24])
    }))

  it.scoped("headers after throttling take precedence: the level they state, then remaining only lowers it", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(only())
        // A 429 without Retry-After and no success yet: throttled to 1 a second (a bucket of 1).
        const throttled = timed("0 millis", Effect.fail(rateLimited()))
        yield* burst(pipeline, throttled.call, 1, { key }, "0 millis")
        // Then headers: 600 a minute (10 a second, a bucket of 10), 5 left.
        yield* pipeline.observe(key, { limitRequests: 600, remainingRequests: 5 })
        const ok = timed("0 millis")
        const sending = yield* Effect.fork(
          Effect.all(Array.from({ length: 7 }, () => pipeline.run(ok.call, { key })), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("200 millis")
        expect(ok.instants).toEqual([0, 0, 0, 0, 0, 100, 200])
        yield* Fiber.join(sending)
        // At 200 ms, a stale answer (sent before those 7) says 9 are left: no credit, the bucket stays empty.
        yield* pipeline.observe(key, { limitRequests: 600, remainingRequests: 9 })
        const later = timed("0 millis")
        yield* burst(pipeline, later.call, 2, { key }, "1 second")
        expect(later.instants).toEqual([300, 400])
        expect(learned(events)).toEqual([
          { at: 0, resource: "requests", perMinute: 60, source: "throttling" },
          { at: 0, resource: "requests", perMinute: 600, source: "headers" }
        ])
      })
    ))

  it.scoped("a provider that never answers 429 is never slowed: failures leave the cold-start window as it is", () =>
    collecting((events) =>
      Effect.gen(function*() {
        const pipeline = yield* Resilience.make(only())
        const failing = timed("100 millis", Effect.fail(unavailable))
        yield* burst(pipeline, failing.call, 30)
        expect(failing.instants).toEqual([...Array(10).fill(0), ...Array(10).fill(100), ...Array(10).fill(200)])
        expect(learned(events)).toEqual([])
      })
    ))
})

describe("learned admission: cold start", () => {
  it.scoped("a new key admits 10 calls in flight, one more per success, until a limit is known", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only())
      const { call, instants } = timed("100 millis")
      yield* burst(pipeline, call, 50)
      expect(instants).toEqual([...Array(10).fill(0), ...Array(20).fill(100), ...Array(20).fill(200)])
    }))

  it.scoped("the first response's headers end the cold start: the rest go at the learned rate", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only())
      const instants: Array<number> = []
      // 6,000 a minute: a bucket of 100, refilled 100 a second.
      const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        instants.push(now)
        return Effect.zipRight(Effect.sleep("100 millis"), pipeline.observe(key, { limitRequests: 6_000 }))
      })
      yield* burst(pipeline, call, 50)
      expect(instants).toEqual([...Array(10).fill(0), ...Array(40).fill(100)])
    }))

  it.scoped("learn: false keeps only the configured limiter: headers teach nothing, no window", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({ rateLimiter: { learn: false, requestsPerMinute: 6_000 } }))
      yield* pipeline.observe(key, { limitRequests: 60 })
      const { call, instants } = timed("100 millis")
      yield* burst(pipeline, call, 30)
      // 6,000 a minute: a burst of 100, so all 30 at once.
      expect(instants).toEqual(Array(30).fill(0))
    }))

  it.scoped("rateLimiter: false turns admission off: no window", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({ rateLimiter: false }))
      const { call, instants } = timed("100 millis")
      yield* burst(pipeline, call, 30)
      expect(instants).toEqual(Array(30).fill(0))
    }))
})

describe("every attempt is admitted", () => {
  it.scoped("a retry waits for admission like any call (60 a minute, burst 1)", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({
        retry: { maxAttempts: 2, backoff: { base: "1 second", max: "1 second", jitter: "none" } },
        rateLimiter: { requestsPerMinute: 60, burst: { requests: 1 } }
      }))
      const { call, instants } = scripted<string, ProviderError.ProviderError>([
        { fail: unavailable },
        { succeed: "ok" }
      ])
      // A fails at 0 and retries after 1 s; B asked at 0 and has the 1 s slot; A's retry the next one.
      yield* burst(pipeline, call, 2)
      expect(instants).toEqual([0, 1000, 2000])
    }))

  it.scoped("a wait for admission does not eat the attempt timeout", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({
        attemptTimeout: "500 millis",
        rateLimiter: { requestsPerMinute: 60, burst: { requests: 1 } }
      }))
      const { call, instants } = timed("400 millis")
      const exits = yield* burst(pipeline, call, 2)
      expect(instants).toEqual([0, 1000])
      expect(exits.every(Exit.isSuccess)).toBe(true)
    }))

  it.scoped("a wait for admission counts toward the deadline", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make(only({
        deadline: "1500 millis",
        rateLimiter: { requestsPerMinute: 60, burst: { requests: 1 } }
      }))
      const { call, instants } = timed("0 millis")
      const exits = yield* burst(pipeline, call, 3)
      expect(instants).toEqual([0, 1000])
      const error = failureOf(exits[2])
      expect(Deadline.isDeadlineExceededError(error)).toBe(true)
      expect((error as Deadline.DeadlineExceededError).activity).toBe("waiting for admission")
    }))
})
