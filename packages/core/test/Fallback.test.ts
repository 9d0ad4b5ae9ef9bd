import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Classify from "../src/Classify.js"
import * as Deadline from "../src/Deadline.js"
import * as Fallback from "../src/Fallback.js"
import * as ProviderError from "../src/ProviderError.js"
import * as Resilience from "../src/Resilience.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import { failureOf, overloaded, runVirtual, scripted } from "./utils.js"

const permanent = (reason: ProviderError.PermanentReason) =>
  new ProviderError.PermanentError({ provider: "test", reason, message: reason })

/** A pipeline whose breakers open on the first transient failure, with 3 calls per step 100 ms apart. */
const pipeline = Resilience.make({
  retry: { maxAttempts: 3, backoff: { base: 100, max: 100, jitter: "none" } },
  budget: false,
  circuitBreaker: {
    trip: { kind: "consecutive", threshold: 3 },
    breakDuration: { base: "5 seconds", max: "5 seconds", jitter: "none" }
  }
})

const fallbackEvents = (events: Iterable<ResilienceEvent.ResilienceEvent>) =>
  Array.from(events).filter((event) => event._tag === "StepSkipped" || event._tag === "FallbackUsed")

describe("Fallback", () => {
  it.scoped("serves from the first step when it succeeds, and says so on the span", () =>
    Effect.gen(function*() {
      const a = scripted<string, ProviderError.ProviderError>([{ succeed: "a" }])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "b" }])
      const chat = Fallback.make([Fallback.step("a", a.call), Fallback.step("b", b.call)])
      const servedBy = yield* chat.run().pipe(
        Effect.zipRight(Effect.currentSpan),
        Effect.map((span) => span.attributes.get("resilience.served_by")),
        Effect.withSpan("call")
      )
      expect(servedBy).toBe("a")
      expect([a.calls, b.calls]).toEqual([1, 0])
    }))

  it.scoped("fails over a transient failure only once the step's own retries are spent", () =>
    Effect.gen(function*() {
      const resilience = yield* pipeline
      const queue = yield* ResilienceEvent.subscribe
      const a = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "from b" }])
      const chat = Fallback.make([
        Fallback.step("openai/gpt-4o", a.call, { resilience }),
        Fallback.step("anthropic/claude", b.call, { resilience })
      ], { name: "chat" })
      const { endedAt, exit } = yield* runVirtual(chat.run())
      expect(exit).toEqual(Exit.succeed("from b"))
      expect(a.instants).toEqual([0, 100, 200])
      expect(b.instants).toEqual([200])
      expect(endedAt).toBe(200)
      expect(fallbackEvents(yield* Queue.takeAll(queue))).toEqual([
        ResilienceEvent.StepSkipped({ key: "chat", at: 200, step: "openai/gpt-4o", index: 0, why: "Overloaded" }),
        ResilienceEvent.FallbackUsed({
          key: "chat",
          at: 200,
          servedBy: "anthropic/claude",
          index: 1,
          skipped: [{ step: "openai/gpt-4o", why: "Overloaded" }]
        })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("skips a step whose breaker is open without calling it, and tries it again once half-open", () =>
    Effect.gen(function*() {
      const resilience = yield* pipeline
      const a = scripted<string, ProviderError.ProviderError>([
        { fail: overloaded() },
        { fail: overloaded() },
        { fail: overloaded() },
        { succeed: "a is back" }
      ])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "from b" }])
      const chat = Fallback.make([
        Fallback.step("a", a.call, { resilience }),
        Fallback.step("b", b.call, { resilience })
      ], { name: "chat" })
      // The first call opens a's breaker (3 failures at 0, 100, 200) and is served by b.
      expect(yield* runVirtual(chat.run(), 200)).toEqual({ exit: Exit.succeed("from b"), endedAt: 200 })
      expect(a.calls).toBe(3)

      const queue = yield* ResilienceEvent.subscribe
      // At 1 s a's breaker is open until 5.2 s: a is skipped with no call.
      yield* TestClock.adjust(800)
      expect(yield* chat.run()).toBe("from b")
      expect(a.calls).toBe(3)
      expect(b.instants).toEqual([200, 1000])
      expect(fallbackEvents(yield* Queue.takeAll(queue))).toEqual([
        ResilienceEvent.StepSkipped({ key: "chat", at: 1000, step: "a", index: 0, why: "BreakerOpen" }),
        ResilienceEvent.FallbackUsed({
          key: "chat",
          at: 1000,
          servedBy: "b",
          index: 1,
          skipped: [{ step: "a", why: "BreakerOpen" }]
        })
      ])
      // At 5.2 s the break is over: a is tried (its probe) and serves.
      yield* TestClock.adjust(4200)
      expect(yield* chat.run()).toBe("a is back")
      expect(a.instants).toEqual([0, 100, 200, 5200])
      expect(b.calls).toBe(2)
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("fails with the open circuit's error when every step was skipped without a call", () =>
    Effect.gen(function*() {
      const resilience = yield* pipeline
      yield* resilience.breaker("a")!.isolate
      const b = resilience.breaker("b")!
      // Open b's breaker: 3 transient failures in a row, at 0.
      for (let i = 0; i < 3; i++) {
        yield* Effect.exit(CircuitBreaker.protect(Effect.fail(overloaded()), b))
      }
      yield* TestClock.adjust(1000)
      const a = scripted<string, never>([{ succeed: "a" }])
      const bCall = scripted<string, never>([{ succeed: "b" }])
      const chat = Fallback.make([
        Fallback.step("a", a.call, { resilience }),
        Fallback.step("b", bCall.call, { resilience })
      ])
      const error = failureOf(yield* Effect.exit(chat.run()))
      expect([a.calls, bCall.calls]).toEqual([0, 0])
      expect(error).toEqual(
        new CircuitBreaker.CircuitOpenError({ key: "b", state: "Open", retryAfter: Duration.millis(4000) })
      )
    }))

  it.effect("does not fail over a permanent failure such as InvalidRequest", () =>
    Effect.gen(function*() {
      const invalid = permanent("InvalidRequest")
      const a = scripted<string, ProviderError.ProviderError>([{ fail: invalid }])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "b" }])
      const chat = Fallback.make([Fallback.step("a", a.call), Fallback.step("b", b.call)])
      const error = failureOf(yield* Effect.exit(chat.run()))
      expect(error).toBe(invalid)
      expect([a.calls, b.calls]).toEqual([1, 0])
    }))

  it.effect("fails over a permanent QuotaExhausted, and any reason the triggers say", () =>
    Effect.gen(function*() {
      const a = scripted<string, ProviderError.ProviderError>([{ fail: permanent("QuotaExhausted") }])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "b" }])
      expect(yield* Fallback.make([Fallback.step("a", a.call), Fallback.step("b", b.call)]).run()).toBe("b")

      const filtered = scripted<string, ProviderError.ProviderError>([{ fail: permanent("ContentFiltered") }])
      const custom = Fallback.make([Fallback.step("a", filtered.call), Fallback.step("b", b.call)], {
        triggers: { ContentFiltered: "Failover" }
      })
      expect(yield* custom.run()).toBe("b")
      expect(b.calls).toBe(2)
    }))

  it.effect("classifies the steps' own errors with the given classifier", () =>
    Effect.gen(function*() {
      class Busy {
        readonly _tag = "Busy"
      }
      const a = scripted<string, Busy>([{ fail: new Busy() }])
      const b = scripted<string, Busy>([{ succeed: "b" }])
      const steps = [Fallback.step("a", a.call), Fallback.step("b", b.call)] as const
      // Unknown errors are permanent by default...
      expect(failureOf(yield* Effect.exit(Fallback.make(steps).run()))).toBeInstanceOf(Busy)
      // ...transient when the classifier says so.
      const classify = Classify.always(Classify.transient("Overloaded"))
      expect(yield* Fallback.make(steps, { classify }).run()).toBe("b")
    }))

  it.scoped("sends a context-length failure only to a step with a larger context window", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const small = scripted<string, ProviderError.ProviderError>([{ fail: permanent("ContextLengthExceeded") }])
      const same = scripted<string, ProviderError.ProviderError>([{ succeed: "same" }])
      const unknown = scripted<string, ProviderError.ProviderError>([{ succeed: "unknown" }])
      const larger = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      const smallAgain = scripted<string, ProviderError.ProviderError>([{ succeed: "small again" }])
      const largest = scripted<string, ProviderError.ProviderError>([{ succeed: "largest" }])
      const chat = Fallback.make([
        Fallback.step("small", (prompt: string) => Effect.zipRight(Effect.log(prompt), small.call), {
          contextWindow: 8_000
        }),
        Fallback.step("same", same.call, { contextWindow: 8_000 }),
        Fallback.step("unknown", unknown.call),
        // An overload on a larger step keeps the floor: the prompt still does not fit in 8k.
        Fallback.step("larger", larger.call, { contextWindow: 32_000 }),
        Fallback.step("small again", smallAgain.call, { contextWindow: 4_000 }),
        Fallback.step("largest", largest.call, { contextWindow: 200_000 })
      ], { name: "chat" })
      expect(yield* chat.run("a long prompt")).toBe("largest")
      expect([small.calls, same.calls, unknown.calls, larger.calls, smallAgain.calls, largest.calls]).toEqual([
        1,
        0,
        0,
        1,
        0,
        1
      ])
      const events = fallbackEvents(yield* Queue.takeAll(queue))
      expect(events.at(-1)).toEqual(
        ResilienceEvent.FallbackUsed({
          key: "chat",
          at: 0,
          servedBy: "largest",
          index: 5,
          skipped: [
            { step: "small", why: "ContextLengthExceeded" },
            { step: "same", why: "ContextWindow" },
            { step: "unknown", why: "ContextWindow" },
            { step: "larger", why: "Overloaded" },
            { step: "small again", why: "ContextWindow" }
          ]
        })
      )
      expect(events.length).toBe(6)
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("fails with the context-length error when no later step has a larger window", () =>
    Effect.gen(function*() {
      const tooLong = permanent("ContextLengthExceeded")
      const a = scripted<string, ProviderError.ProviderError>([{ fail: tooLong }])
      const b = scripted<string, ProviderError.ProviderError>([{ succeed: "b" }])
      const chat = Fallback.make([
        Fallback.step("a", a.call, { contextWindow: 128_000 }),
        Fallback.step("b", b.call, { contextWindow: 128_000 })
      ])
      expect(failureOf(yield* Effect.exit(chat.run()))).toBe(tooLong)
      expect(b.calls).toBe(0)
    }))

  it.effect("fails with the last step's own error when every step failed", () =>
    Effect.gen(function*() {
      const first = overloaded()
      const last = permanent("QuotaExhausted")
      const a = scripted<string, ProviderError.ProviderError>([{ fail: first }])
      const b = scripted<number, ProviderError.PermanentError>([{ fail: last }])
      const chat: Fallback.Fallback<unknown, string | number, ProviderError.ProviderError, never> = Fallback.make([
        Fallback.step("a", a.call),
        Fallback.step("b", b.call)
      ])
      expect(failureOf(yield* Effect.exit(chat.run()))).toBe(last)
      expect([a.calls, b.calls]).toEqual([1, 1])
    }))

  it.effect("never fails over the caller's deadline", () =>
    Effect.gen(function*() {
      const a = scripted<string, never>([{ succeed: "late" }])
      const b = scripted<string, never>([{ succeed: "b" }])
      const slow = Deadline.within(Effect.zipRight(Effect.sleep("2 seconds"), a.call), { after: "1 second", key: "a" })
      const chat = Fallback.make([Fallback.step("a", slow), Fallback.step("b", b.call)], {
        classify: Classify.always(Classify.transient("Timeout"))
      })
      const { endedAt, exit } = yield* runVirtual(chat.run())
      expect(Deadline.isDeadlineExceededError(failureOf(exit))).toBe(true)
      expect(endedAt).toBe(1000)
      expect(b.calls).toBe(0)
    }))

  it.effect("reads the breaker given to a step protected elsewhere", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ key: "http/openai" })
      yield* breaker.isolate
      const a = scripted<string, never>([{ succeed: "a" }])
      const chat = Fallback.make([
        Fallback.step("a", a.call, { breaker }),
        Fallback.step("b", Effect.succeed("b"))
      ])
      expect(yield* chat.run()).toBe("b")
      expect(a.calls).toBe(0)
    }))
})
