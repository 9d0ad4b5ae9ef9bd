import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Backoff from "../src/Backoff.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Classify from "../src/Classify.js"
import * as PolicyError from "../src/PolicyError.js"
import type * as ProviderError from "../src/ProviderError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import * as Retry from "../src/Retry.js"
import * as SeededRandom from "../src/SeededRandom.js"
import * as StateStore from "../src/StateStore.js"
import { failureOf, overloaded, runVirtual, scripted, unauthorized } from "./utils.js"

/**
 * A provider whose answers are chosen per call: `ok`, `down` (transient),
 * `denied` (permanent). It records the `Clock` instant of every call that
 * reached it, so a test can tell a call the breaker let through from one it
 * refused.
 */
const fakeProvider = () => {
  const instants: Array<number> = []
  const answer = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      instants.push(now)
      return effect
    })
  return {
    instants,
    get calls() {
      return instants.length
    },
    ok: answer(Effect.succeed("ok")) as Effect.Effect<string, ProviderError.ProviderError>,
    down: answer(Effect.fail(overloaded())) as Effect.Effect<string, ProviderError.ProviderError>,
    denied: answer(Effect.fail(unauthorized())) as Effect.Effect<string, ProviderError.ProviderError>,
    answer
  }
}

/** Runs one call through a breaker and returns its exit. */
const attempt = <A, E>(breaker: CircuitBreaker.CircuitBreaker<E>, call: Effect.Effect<A, E>) =>
  Effect.exit(CircuitBreaker.protect(call, breaker))

/** The `CircuitOpenError` an exit failed with; throws when it is anything else. */
const rejection = <A, E>(exit: Exit.Exit<A, E>): CircuitBreaker.CircuitOpenError => {
  const error = failureOf(exit)
  if (!CircuitBreaker.isCircuitOpenError(error)) throw new Error(`expected a CircuitOpenError, got ${String(error)}`)
  return error
}

const stateTag = <E>(breaker: CircuitBreaker.CircuitBreaker<E>) => Effect.map(breaker.state, (state) => state._tag)

const makeBreaker = (options: CircuitBreaker.Options<unknown>) => Effect.orDie(CircuitBreaker.make(options))

describe("CircuitBreaker: consecutive failures", () => {
  it.effect("opens exactly at the threshold of transient failures in a row", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(3), breakDuration: "10 seconds" })
      yield* attempt(breaker, provider.down)
      yield* attempt(breaker, provider.down)
      expect(yield* breaker.state).toEqual({ _tag: "Closed" })
      yield* attempt(breaker, provider.down)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, until: 10_000, opens: 1 })
      const exit = yield* attempt(breaker, provider.ok)
      expect(rejection(exit).state).toBe("Open")
      expect(provider.calls).toBe(3)
    }))

  it.effect("a success starts the count again", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(3) })
      for (const call of [provider.down, provider.down, provider.ok, provider.down, provider.down]) {
        yield* attempt(breaker, call)
      }
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* attempt(breaker, provider.down)
      expect(yield* stateTag(breaker)).toBe("Open")
    }))

  it.effect("permanent errors never trip it, and count as neither success nor failure", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(2) })
      for (let n = 0; n < 10; n++) {
        const exit = yield* attempt(breaker, provider.denied)
        expect(failureOf(exit)._tag).toBe("PermanentError")
      }
      expect(yield* stateTag(breaker)).toBe("Closed")
      expect(provider.calls).toBe(10)
      // down, denied, down: the permanent error in between does not reset the count
      yield* attempt(breaker, provider.down)
      yield* attempt(breaker, provider.denied)
      yield* attempt(breaker, provider.down)
      expect(yield* stateTag(breaker)).toBe("Open")
    }))

  it.effect("defects and interruptions do not count", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1) })
      const dead = yield* attempt(breaker, Effect.die("bug"))
      expect(Exit.isFailure(dead) && !Exit.isInterrupted(dead)).toBe(true)
      const interrupted = yield* attempt(breaker, Effect.interrupt)
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      expect(yield* stateTag(breaker)).toBe("Closed")
    }))

  it.effect("counts only what the classifier calls transient", () =>
    Effect.gen(function*() {
      class Busy {
        readonly _tag = "Busy"
      }
      const busy = Effect.fail(new Busy())
      const standard = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1) })
      yield* attempt(standard, busy)
      expect(yield* stateTag(standard)).toBe("Closed")
      const classified = yield* Effect.orDie(CircuitBreaker.make({
        trip: CircuitBreaker.consecutive(1),
        classify: (_: Busy) => Classify.transient("Overloaded")
      }))
      yield* attempt(classified, busy)
      expect(yield* stateTag(classified)).toBe("Open")
    }))
})

describe("CircuitBreaker: half-open", () => {
  it.effect("half-opens exactly when the break ends: fails fast 1 ms before, admits at the instant", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1), breakDuration: "1 second" })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("999 millis")
      const early = rejection(yield* attempt(breaker, provider.ok))
      expect(early.state).toBe("Open")
      expect(early.retryAfter).toEqual(Duration.millis(1))
      yield* TestClock.adjust("1 millis")
      expect(yield* attempt(breaker, provider.ok)).toEqual(Exit.succeed("ok"))
      expect(provider.instants).toEqual([0, 1000])
      expect(yield* stateTag(breaker)).toBe("Closed")
    }))

  it.effect("closes after the configured number of successful probes", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: "1 second",
        successesToClose: 2
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      yield* attempt(breaker, provider.ok)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", probes: 0, successes: 1, opens: 1 })
      yield* attempt(breaker, provider.ok)
      expect(yield* breaker.state).toEqual({ _tag: "Closed" })
    }))

  it.effect("a probe's transient failure opens it again", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: Schedule.spaced("1 second")
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      yield* attempt(breaker, provider.down)
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 1000, until: 2000, opens: 2 })
      expect(rejection(yield* attempt(breaker, provider.ok)).state).toBe("Open")
      expect(provider.calls).toBe(2)
    }))

  it.effect("break durations grow while the provider stays down, and start again after it closes", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: Backoff.exponential({ base: "1 second", max: "1 minute" })
      })
      const untilOf = Effect.map(breaker.state, (state) => state._tag === "Open" ? state.until : undefined)
      yield* attempt(breaker, provider.down) // opens at 0 for 1 s
      expect(yield* untilOf).toBe(1000)
      yield* TestClock.adjust(1000)
      yield* attempt(breaker, provider.down) // probe at 1 s fails: open for 2 s
      expect(yield* untilOf).toBe(3000)
      yield* TestClock.adjust(1999)
      expect(rejection(yield* attempt(breaker, provider.ok)).retryAfter).toEqual(Duration.millis(1))
      yield* TestClock.adjust(1)
      yield* attempt(breaker, provider.down) // probe at 3 s fails: open for 4 s
      expect(yield* untilOf).toBe(7000)
      yield* TestClock.adjust(4000)
      yield* attempt(breaker, provider.ok) // probe at 7 s succeeds: closed
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* attempt(breaker, provider.down) // opens again at 7 s, for 1 s
      expect(yield* untilOf).toBe(8000)
      expect(provider.instants).toEqual([0, 1000, 3000, 7000, 7000])
    }))

  it.effect("callers beyond the probes fail fast while the probes are in flight", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: "1 second",
        halfOpenProbes: 2
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      const started = yield* Queue.unbounded<void>()
      const release = yield* Deferred.make<void>()
      const heldProbe = Effect.zipRight(
        Queue.offer(started, undefined),
        Effect.zipRight(Deferred.await(release), provider.ok)
      )
      const probes = yield* Effect.fork(
        Effect.all([attempt(breaker, heldProbe), attempt(breaker, heldProbe)], { concurrency: "unbounded" })
      )
      yield* Queue.take(started)
      yield* Queue.take(started)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", probes: 2, successes: 0, opens: 1 })
      const refused = rejection(yield* attempt(breaker, provider.ok))
      expect(refused.state).toBe("HalfOpen")
      expect(refused.retryAfter).toEqual(Duration.zero)
      expect(refused.message).toBe(
        "circuit for default is half-open and its probe calls are in flight; try again shortly"
      )
      expect(provider.calls).toBe(1)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(probes)).toEqual([Exit.succeed("ok"), Exit.succeed("ok")])
      expect(yield* stateTag(breaker)).toBe("Closed")
      expect(yield* attempt(breaker, provider.ok)).toEqual(Exit.succeed("ok"))
    }))

  it.effect("a probe that fails permanently, dies or is interrupted frees its slot without deciding", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1), breakDuration: "1 second" })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      const halfOpen = { _tag: "HalfOpen", probes: 0, successes: 0, opens: 1 }
      yield* attempt(breaker, provider.denied)
      expect(yield* breaker.state).toEqual(halfOpen)
      yield* attempt(breaker, Effect.die("bug"))
      expect(yield* breaker.state).toEqual(halfOpen)
      const started = yield* Deferred.make<void>()
      const stuck = yield* Effect.fork(
        attempt(breaker, Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      expect(yield* breaker.state).toEqual({ ...halfOpen, probes: 1 })
      yield* Fiber.interrupt(stuck)
      expect(yield* breaker.state).toEqual(halfOpen)
      expect(yield* attempt(breaker, provider.ok)).toEqual(Exit.succeed("ok"))
      expect(yield* stateTag(breaker)).toBe("Closed")
    }))

  it.effect("a classifier that throws frees the probe slot and surfaces as a defect", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      let broken = false
      const breaker = yield* Effect.orDie(CircuitBreaker.make({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: "1 second",
        classify: (error: ProviderError.ProviderError) => {
          if (broken) throw new Error("classifier bug")
          return Classify.standard(error)
        }
      }))
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      broken = true
      const exit = yield* attempt(breaker, provider.down)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", probes: 0, successes: 0, opens: 1 })
    }))
})

describe("CircuitBreaker: failure ratio", () => {
  const ratio = CircuitBreaker.failureRatio({ ratio: 0.5, window: "10 seconds", minimumThroughput: 4, buckets: 10 })

  it.effect("does not open below the minimum throughput, not even on 1 failure out of 1 call", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: ratio })
      yield* attempt(breaker, provider.down) // 1 of 1
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* attempt(breaker, provider.ok) // 1 of 2
      yield* attempt(breaker, provider.down) // 2 of 3: ratio reached, throughput not
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* attempt(breaker, provider.down) // 3 of 4
      expect(yield* stateTag(breaker)).toBe("Open")
    }))

  it.effect("stays closed while failures stay under the ratio", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.failureRatio({ ratio: 0.5, window: "10 seconds", minimumThroughput: 4 })
      })
      for (const call of [provider.ok, provider.ok, provider.ok, provider.down, provider.ok, provider.down]) {
        yield* attempt(breaker, call)
      }
      expect(yield* stateTag(breaker)).toBe("Closed") // 2 of 6
      yield* attempt(breaker, provider.down) // 3 of 7
      expect(yield* stateTag(breaker)).toBe("Closed")
      yield* attempt(breaker, provider.down) // 4 of 8
      expect(yield* stateTag(breaker)).toBe("Open")
    }))

  it.effect("the window slides: failures older than the window no longer count", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const expired = yield* makeBreaker({ trip: ratio })
      const current = yield* makeBreaker({ trip: ratio })
      for (let n = 0; n < 3; n++) {
        yield* attempt(expired, provider.down)
        yield* attempt(current, provider.down)
      }
      yield* TestClock.adjust("9999 millis")
      yield* attempt(current, provider.down) // the three at 0 still count: 4 of 4
      expect(yield* stateTag(current)).toBe("Open")
      yield* TestClock.adjust("1 millis")
      yield* attempt(expired, provider.down) // the three at 0 have left the window: 1 of 1
      expect(yield* stateTag(expired)).toBe("Closed")
    }))

  it.effect("permanent failures are not calls for the ratio", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ trip: ratio })
      for (let n = 0; n < 10; n++) yield* attempt(breaker, provider.denied)
      yield* attempt(breaker, provider.down)
      expect(yield* stateTag(breaker)).toBe("Closed") // 1 of 1, not 1 of 11 nor 11 of 11
    }))
})

describe("CircuitOpenError", () => {
  it.effect("carries the time left until half-open and a message a person can act on", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        key: "openai/gpt-4o",
        trip: CircuitBreaker.consecutive(1),
        breakDuration: "14 seconds"
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("2 seconds")
      const error = rejection(yield* attempt(breaker, provider.ok))
      expect(error._tag).toBe("CircuitOpenError")
      expect(error.key).toBe("openai/gpt-4o")
      expect(error.state).toBe("Open")
      expect(error.retryAfter).toEqual(Duration.seconds(12))
      expect(error.message).toBe("circuit for openai/gpt-4o is open; half-open in 12s")
      expect(Classify.standard(error)).toEqual(Classify.transient("Unavailable", { retryAfter: "12 seconds" }))
      expect(CircuitBreaker.isCircuitOpenError(error)).toBe(true)
      expect(CircuitBreaker.isCircuitOpenError(overloaded())).toBe(false)
    }))

  it.effect("a Retry outside the breaker waits for the half-open instant", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1), breakDuration: "5 seconds" })
      const { endedAt, exit } = yield* runVirtual(
        provider.call.pipe(
          CircuitBreaker.protect(breaker),
          Retry.retry(Retry.policy({ maxAttempts: 3, backoff: Backoff.make({ base: 100, max: 100, jitter: "none" }) }))
        )
      )
      // call at 0 fails and opens; the retry at 100 ms is refused with 4.9 s left; the next waits for it
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(provider.instants).toEqual([0, 5000])
      expect(endedAt).toBe(5000)
    }))

  it.effect("a Retry outside the breaker gives up at once when the break outlasts its ceiling", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1), breakDuration: "2 minutes" })
      const { endedAt, exit } = yield* runVirtual(
        provider.call.pipe(
          CircuitBreaker.protect(breaker),
          Retry.retry(Retry.policy({ maxAttempts: 5, backoff: Backoff.make({ base: 100, max: 100, jitter: "none" }) }))
        )
      )
      expect(rejection(exit).retryAfter).toEqual(Duration.millis(119_900))
      expect(provider.calls).toBe(1)
      expect(endedAt).toBe(100)
    }))
  it.scoped("a Retry with onOpenCircuit: \"fail\" stops at the first refusal, with the stop reason CircuitOpen", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.subscribe
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const breaker = yield* makeBreaker({ trip: CircuitBreaker.consecutive(1), breakDuration: "5 seconds" })
      const policy = Retry.policy({
        maxAttempts: 3,
        backoff: Backoff.make({ base: 100, max: 100, jitter: "none" }),
        onOpenCircuit: "fail"
      })
      const { endedAt, exit } = yield* runVirtual(
        provider.call.pipe(CircuitBreaker.protect(breaker), Retry.retry(policy))
      )
      // call at 0 fails and opens; the retry at 100 ms is refused with 4.9 s left: the caller hears it then
      expect(rejection(exit).retryAfter).toEqual(Duration.millis(4_900))
      expect(provider.instants).toEqual([0])
      expect(endedAt).toBe(100)
      const exhausted = Array.from(yield* Queue.takeAll(events)).filter((e) => e._tag === "RetriesExhausted")
      expect(exhausted).toEqual([
        ResilienceEvent.RetriesExhausted({ key: "default", attempts: 2, at: 100, why: "CircuitOpen" })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it("rejects an onOpenCircuit that is neither wait nor fail", () => {
    const issues = Either.getLeft(Retry.validate({ onOpenCircuit: "later" as "wait" }))
    expect(issues._tag === "Some" && issues.value.issues).toEqual([
      "onOpenCircuit: must be \"wait\" or \"fail\", got \"later\""
    ])
  })
})

describe("CircuitBreaker: isolate and reset", () => {
  it.effect("isolate holds it open until reset; reset closes it and forgets its history", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ key: "anthropic", trip: CircuitBreaker.consecutive(2) })
      yield* attempt(breaker, provider.down)
      yield* breaker.isolate
      expect(yield* breaker.state).toEqual({ _tag: "Isolated" })
      yield* TestClock.adjust("1 hour")
      const error = rejection(yield* attempt(breaker, provider.ok))
      expect(error.state).toBe("Isolated")
      expect(error.retryAfter).toBeUndefined()
      expect(error.message).toBe("circuit for anthropic is isolated by hand; calls fail until it is reset")
      // only a person can reset it: a Retry gives up at once rather than hammering the breaker
      const retried = yield* runVirtual(CircuitBreaker.protect(provider.ok, breaker).pipe(Retry.retry(Retry.standard)))
      expect(retried.endedAt).toBe(3_600_000)
      expect(provider.calls).toBe(1)

      yield* breaker.reset
      expect(yield* breaker.state).toEqual({ _tag: "Closed" })
      expect(yield* attempt(breaker, provider.ok)).toEqual(Exit.succeed("ok"))
      // reset forgot the failure before the isolation, and a later one
      yield* attempt(breaker, provider.down)
      yield* breaker.reset
      yield* attempt(breaker, provider.down)
      expect(yield* stateTag(breaker)).toBe("Closed")
    }))

  it.effect("reset closes an open breaker at once and restarts its break durations", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        trip: CircuitBreaker.consecutive(1),
        breakDuration: Backoff.exponential({ base: "1 second", max: "1 minute" })
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      yield* attempt(breaker, provider.down) // open for 2 s
      yield* breaker.reset
      expect(failureOf(yield* attempt(breaker, provider.down))._tag).toBe("TransientError")
      expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 1000, until: 2000, opens: 1 })
    }))
})

describe("CircuitBreaker: observability", () => {
  it.scoped("subscribe reports every transition of the breaker, in order, with exact instants", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ key: "k", trip: CircuitBreaker.consecutive(1), breakDuration: "1 second" })
      const changes = yield* breaker.subscribe
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("1 second")
      yield* attempt(breaker, provider.ok)
      yield* breaker.isolate
      yield* breaker.reset
      yield* breaker.reset // already closed: no transition
      const transitions = Chunk.toArray(yield* Stream.runCollect(Stream.take(changes, 5)))
      expect(transitions).toEqual([
        { key: "k", from: "Closed", to: "Open", at: 0, until: 1000 },
        { key: "k", from: "Open", to: "HalfOpen", at: 1000 },
        { key: "k", from: "HalfOpen", to: "Closed", at: 1000 },
        { key: "k", from: "Closed", to: "Isolated", at: 1000 },
        { key: "k", from: "Isolated", to: "Closed", at: 1000 }
      ])
    }))

  it.scoped("the changes stream subscribes when it starts running", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ key: "k" })
      yield* breaker.isolate // before the stream runs: not seen
      const fiber = yield* breaker.changes.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      // Waits until every fiber of the test is suspended: the stream has subscribed and waits for a transition.
      yield* TestClock.adjust(0)
      yield* breaker.reset
      expect(Chunk.toArray(yield* Fiber.join(fiber))).toEqual([{ key: "k", from: "Isolated", to: "Closed", at: 0 }])
    }))

  it.scoped("publishes transitions and refusals as events", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({
        key: "openai",
        trip: CircuitBreaker.consecutive(1),
        breakDuration: Backoff.exponential({ base: "1 second", max: "1 minute" })
      })
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("400 millis")
      yield* attempt(breaker, provider.ok)
      yield* TestClock.adjust("600 millis")
      yield* attempt(breaker, provider.down)
      yield* TestClock.adjust("2 seconds")
      yield* attempt(breaker, provider.ok)
      yield* breaker.isolate
      yield* attempt(breaker, provider.ok)
      yield* breaker.reset
      const events = Array.from(yield* Queue.takeAll(queue))
      expect(events.map(ResilienceEvent.format)).toEqual([
        "[openai] circuit opened (from Closed) for 1s",
        "[openai] call rejected by CircuitBreaker (retry in 600 ms)",
        "[openai] circuit half-open: probing",
        "[openai] circuit opened (from HalfOpen) for 2s",
        "[openai] circuit half-open: probing",
        "[openai] circuit closed",
        "[openai] circuit isolated by hand",
        "[openai] call rejected by CircuitBreaker",
        "[openai] circuit closed"
      ])
      expect(events.map((event) => event.at)).toEqual([0, 400, 1000, 1000, 3000, 3000, 3000, 3000, 3000])
      expect(events[0]).toEqual(
        ResilienceEvent.BreakerOpened({ key: "openai", at: 0, from: "Closed", openFor: Duration.millis(1000) })
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("a gauge tells each key's state and a counter the calls refused", () =>
    Effect.gen(function*() {
      const key = "breaker-metrics-test"
      const provider = fakeProvider()
      const breaker = yield* makeBreaker({ key, trip: CircuitBreaker.consecutive(1), breakDuration: "1 second" })
      const gauge = Metric.value(CircuitBreaker.stateGauge.pipe(Metric.tagged("resilience.key", key))).pipe(
        Effect.map((state) => state.value)
      )
      const rejected = Metric.value(CircuitBreaker.rejectedCounter.pipe(Metric.tagged("resilience.key", key))).pipe(
        Effect.map((state) => state.count)
      )
      yield* attempt(breaker, provider.down)
      expect(yield* gauge).toBe(2)
      yield* attempt(breaker, provider.ok)
      yield* attempt(breaker, provider.ok)
      expect(yield* rejected).toBe(2)
      yield* TestClock.adjust("1 second")
      const started = yield* Deferred.make<void>()
      const held = yield* Deferred.make<void>()
      const probe = yield* Effect.fork(
        attempt(
          breaker,
          Effect.zipRight(Deferred.succeed(started, undefined), Effect.zipRight(Deferred.await(held), provider.ok))
        )
      )
      yield* Deferred.await(started)
      expect(yield* gauge).toBe(1)
      yield* Deferred.succeed(held, undefined)
      yield* Fiber.join(probe)
      expect(yield* gauge).toBe(0)
      yield* breaker.isolate
      expect(yield* gauge).toBe(3)
      expect(yield* rejected).toBe(2)
    }))
})

describe("CircuitBreaker.keyed", () => {
  it.effect("gives one independent breaker per key, made on demand", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breakers = yield* Effect.orDie(CircuitBreaker.keyed({ trip: CircuitBreaker.consecutive(1) }))
      const gpt = breakers.get("openai/gpt-4o")
      expect(breakers.get("openai/gpt-4o")).toBe(gpt)
      expect(gpt.key).toBe("openai/gpt-4o")
      yield* attempt(gpt, provider.down)
      expect(yield* stateTag(gpt)).toBe("Open")
      const claude = breakers.get("anthropic/claude")
      expect(yield* stateTag(claude)).toBe("Closed")
      expect(yield* attempt(claude, provider.ok)).toEqual(Exit.succeed("ok"))
      expect(rejection(yield* attempt(gpt, provider.ok)).key).toBe("openai/gpt-4o")
    }))

  it.effect("keeps at most maxKeys breakers; one made again finds its state in the store", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breakers = yield* Effect.orDie(CircuitBreaker.keyed({ trip: CircuitBreaker.consecutive(1), maxKeys: 1 }))
      const first = breakers.get("a")
      yield* attempt(first, provider.down)
      breakers.get("b")
      const again = breakers.get("a")
      expect(again).not.toBe(first)
      expect(yield* stateTag(again)).toBe("Open")
    }))

  it.scoped("reports the transitions of every key, and each breaker's of its own key", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const breakers = yield* Effect.orDie(CircuitBreaker.keyed({ trip: CircuitBreaker.consecutive(1) }))
      const all = yield* breakers.subscribe
      const onlyB = yield* breakers.get("b").subscribe
      yield* attempt(breakers.get("a"), provider.down)
      yield* attempt(breakers.get("b"), provider.down)
      expect(Chunk.toArray(yield* Stream.runCollect(Stream.take(all, 2))).map((t) => t.key)).toEqual(["a", "b"])
      expect(Chunk.toArray(yield* Stream.runCollect(Stream.take(onlyB, 1)))).toEqual([
        { key: "b", from: "Closed", to: "Open", at: 0, until: 5000 }
      ])
    }))
})

describe("CircuitBreaker and the StateStore", () => {
  it.effect("two breakers with the same key on a shared store see one state", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const options = { key: "shared", trip: CircuitBreaker.consecutive(2) }
      const a = yield* makeBreaker(options)
      const b = yield* makeBreaker(options)
      yield* attempt(a, provider.down)
      yield* attempt(b, provider.down)
      expect(yield* stateTag(a)).toBe("Open")
      expect(rejection(yield* attempt(b, provider.ok)).key).toBe("shared")
      yield* b.reset
      expect(yield* stateTag(a)).toBe("Closed")
    }).pipe(Effect.provide(StateStore.layerMemory())))

  it.effect("without a store in context, each breaker keeps its own state", () =>
    Effect.gen(function*() {
      const provider = fakeProvider()
      const options = { key: "same", trip: CircuitBreaker.consecutive(1) }
      const a = yield* makeBreaker(options)
      const b = yield* makeBreaker(options)
      yield* attempt(a, provider.down)
      expect(yield* stateTag(a)).toBe("Open")
      expect(yield* stateTag(b)).toBe("Closed")
    }))

  it.effect("uses the store in context", () =>
    Effect.gen(function*() {
      const store = yield* StateStore.makeMemory()
      const breaker = yield* makeBreaker({ key: "seen", trip: CircuitBreaker.consecutive(1) }).pipe(
        Effect.provideService(StateStore.StateStore, store)
      )
      yield* attempt(breaker, Effect.fail(overloaded()))
      expect(yield* store.breaker.state("seen")).toEqual({ _tag: "Open", openedAt: 0, until: 5000, opens: 1 })
    }))
})

describe("CircuitBreaker options", () => {
  it.effect("has the documented defaults", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make()
      expect(breaker.key).toBe("default")
      expect(breaker.settings).toEqual({
        trip: { _tag: "Consecutive", threshold: 5 },
        halfOpenProbes: 1,
        successesToClose: 1,
        breakDurationsMillis: [5_000, 10_000, 20_000, 40_000, 60_000]
      })
      const ratio = yield* CircuitBreaker.make({
        trip: CircuitBreaker.failureRatio({ ratio: 0.25, window: "1 minute" })
      })
      expect(ratio.settings.trip).toEqual({
        _tag: "Ratio",
        ratio: 0.25,
        windowMillis: 60_000,
        minimumThroughput: 10,
        buckets: 10
      })
    }))

  it.effect("samples a break schedule once, when the breaker is made", () =>
    Effect.gen(function*() {
      const fixed = yield* CircuitBreaker.make({ breakDuration: "30 seconds" })
      expect(fixed.settings.breakDurationsMillis).toEqual([30_000])
      const spaced = yield* CircuitBreaker.make({ breakDuration: Schedule.spaced("2 seconds") })
      expect(spaced.settings.breakDurationsMillis).toEqual([2_000])
      const short = yield* CircuitBreaker.make({
        breakDuration: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(3)))
      })
      // ends after 3 delays: the last one repeats
      expect(short.settings.breakDurationsMillis).toEqual([1_000, 2_000, 4_000])
      const jittered = Backoff.make({ base: "1 second", max: "30 seconds", jitter: "full" })
      const sampled = yield* CircuitBreaker.make({ breakDuration: jittered }).pipe(SeededRandom.withSeed(7))
      const expected = yield* Backoff.delays(jittered, 32).pipe(SeededRandom.withSeed(7))
      expect(sampled.settings.breakDurationsMillis).toEqual(expected.map(Duration.toMillis))
    }))

  it.effect("lists every problem of invalid options in one typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CircuitBreaker.make({
        key: "",
        trip: CircuitBreaker.consecutive(0),
        breakDuration: "-1 seconds",
        halfOpenProbes: 0,
        successesToClose: 1.5
      }))
      expect(error).toBeInstanceOf(PolicyError.InvalidPolicyError)
      expect(error.issues).toEqual([
        "key: must be a non-empty string",
        "trip.threshold: must be a whole number ≥ 1, got 0",
        "breakDuration: must be ≥ 0, got \"-1 seconds\"",
        "halfOpenProbes: must be a whole number ≥ 1, got 0",
        "successesToClose: must be a whole number ≥ 1, got 1.5"
      ])
      expect(error.message).toContain("invalid circuit breaker policy: key")

      const ratio = yield* Effect.flip(CircuitBreaker.make({
        trip: CircuitBreaker.failureRatio({ ratio: 1.5, window: 0, minimumThroughput: 0, buckets: 0 }),
        breakDuration: Schedule.stop
      }))
      expect(ratio.issues).toEqual([
        "trip.ratio: must be a number in (0, 1], got 1.5",
        "trip.window: must be > 0, got 0",
        "trip.minimumThroughput: must be a whole number ≥ 1, got 0",
        "trip.buckets: must be a whole number ≥ 1, got 0",
        "breakDuration: the schedule must give at least one delay, but it ended at once"
      ])
      const zeroRatio = yield* Effect.flip(CircuitBreaker.make({
        trip: CircuitBreaker.failureRatio({ ratio: 0, window: "1 second" })
      }))
      expect(zeroRatio.issues).toEqual(["trip.ratio: must be a number in (0, 1], got 0"])
      const keyed = yield* Effect.flip(CircuitBreaker.keyed({ maxKeys: 0, halfOpenProbes: 2.5 }))
      expect(keyed.issues).toEqual([
        "maxKeys: must be a whole number ≥ 1, got 0",
        "halfOpenProbes: must be a whole number ≥ 1, got 2.5"
      ])
      const unknownTrip = yield* Effect.flip(CircuitBreaker.make({ trip: { _tag: "Sometimes" } as any }))
      expect(unknownTrip.issues).toHaveLength(1)
      expect(Either.isLeft(yield* Effect.either(CircuitBreaker.make({ breakDuration: Duration.infinity })))).toBe(
        true
      )
    }))

  it.effect("keeps the effect's types and adds CircuitOpenError", () =>
    Effect.gen(function*() {
      const call = Effect.fail(overloaded()) as Effect.Effect<number, ProviderError.TransientError>
      const breaker = yield* CircuitBreaker.make()
      const dataLast = call.pipe(CircuitBreaker.protect(breaker))
      expectTypeOf(dataLast).toEqualTypeOf<
        Effect.Effect<number, ProviderError.TransientError | CircuitBreaker.CircuitOpenError>
      >()
      const dataFirst = CircuitBreaker.protect(call, breaker)
      expectTypeOf(dataFirst).toEqualTypeOf<
        Effect.Effect<number, ProviderError.TransientError | CircuitBreaker.CircuitOpenError>
      >()
      const typed = yield* CircuitBreaker.make({
        classify: (_: ProviderError.TransientError) => Classify.transient("Network")
      })
      expectTypeOf(call.pipe(CircuitBreaker.protect(typed))).toEqualTypeOf<
        Effect.Effect<number, ProviderError.TransientError | CircuitBreaker.CircuitOpenError>
      >()
      // @ts-expect-error: a breaker that classifies TransientError cannot protect a call failing with a string
      CircuitBreaker.protect(Effect.fail("nope"), typed)
    }))
})
