import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ResilienceEvent } from "../src/index.js"

describe("ResilienceEvent", () => {
  it.effect("is disabled without a layer: publishing costs nothing and keeps nothing", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.ResilienceEvents
      expect(events.enabled).toBe(false)
      yield* ResilienceEvent.publish((at) => ResilienceEvent.AttemptStarted({ key: "k", attempt: 1, at }))
    }))

  it.scoped("stamps events with the Clock time and delivers them to subscribers", () =>
    Effect.gen(function*() {
      // Subscribing first guarantees that no event published afterwards is missed.
      const queue = yield* ResilienceEvent.subscribe
      const fiber = yield* Stream.fromQueue(queue).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* ResilienceEvent.publish((at) => ResilienceEvent.AttemptStarted({ key: "k", attempt: 1, at }))
      yield* TestClock.adjust("1500 millis")
      yield* ResilienceEvent.publish((at) => ResilienceEvent.Succeeded({ key: "k", attempt: 1, at }))
      const events = Chunk.toArray(yield* Fiber.join(fiber))
      expect(events).toEqual([
        ResilienceEvent.AttemptStarted({ key: "k", attempt: 1, at: 0 }),
        ResilienceEvent.Succeeded({ key: "k", attempt: 1, at: 1500 })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it("formats every event as one readable line", () => {
    expect(
      ResilienceEvent.format(
        ResilienceEvent.RetryScheduled({
          key: "openai",
          attempt: 1,
          at: 0,
          delay: Duration.millis(1234.4),
          basis: "Backoff",
          reason: "ServerError"
        })
      )
    ).toBe("[openai] retry 2 in 1234 ms (backoff, ServerError)")
    expect(
      ResilienceEvent.format(
        ResilienceEvent.AttemptFailed({
          key: "openai",
          attempt: 3,
          at: 0,
          verdict: { kind: "Permanent", reason: "Authentication" },
          errorTag: "PermanentError",
          willRetry: false
        })
      )
    ).toBe("[openai] attempt 3 failed: Permanent Authentication, giving up")
    expect(
      ResilienceEvent.format(ResilienceEvent.RetriesExhausted({ key: "k", attempts: 3, at: 0, why: "MaxElapsed" }))
    ).toBe("[k] retries exhausted after 3 attempts: MaxElapsed")
  })
})

describe("ResilienceEvent.listen", () => {
  it.scoped("sees every event published after it returns", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      yield* ResilienceEvent.listen((event) => Effect.sync(() => seen.push(event._tag)))
      yield* ResilienceEvent.publish((at) => ResilienceEvent.AttemptStarted({ key: "k", attempt: 1, at }))
      yield* ResilienceEvent.publish((at) => ResilienceEvent.Succeeded({ key: "k", attempt: 1, at }))
      yield* TestClock.adjust(0)
      yield* Effect.yieldNow()
      expect(seen).toEqual(["AttemptStarted", "Succeeded"])
    }).pipe(Effect.provide(ResilienceEvent.layer())))
})
