import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ProviderError, ResilienceEvent, Retry } from "../src/index.js"

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
    ).toBe("[openai] retry 2 in 1s 234ms (backoff, ServerError)")
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
    ).toBe("[k] gave up after 3 attempts: MaxElapsed")
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

  it.effect("handles every event still queued when its scope closes", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      yield* Effect.gen(function*() {
        yield* ResilienceEvent.listen((event) => Effect.sync(() => seen.push(ResilienceEvent.format(event))))
        yield* Retry.retry(Effect.succeed("hi"), Retry.policy({ key: "quick" }))
      }).pipe(Effect.scoped)
      expect(seen).toEqual(["[quick] attempt 1 started", "[quick] attempt 1 succeeded"])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("handles an event in full even when the scope closes while it is being handled", () =>
    Effect.gen(function*() {
      const handled: Array<number> = []
      yield* Effect.gen(function*() {
        yield* ResilienceEvent.listen((event) =>
          Effect.sleep("1 second").pipe(Effect.zipRight(Effect.sync(() => handled.push(event.at))))
        )
        yield* ResilienceEvent.publish((at) => ResilienceEvent.AttemptStarted({ key: "k", attempt: 1, at }))
        yield* Effect.yieldNow()
      }).pipe(
        Effect.scoped,
        Effect.fork,
        Effect.flatMap((fiber) => TestClock.adjust("1 second").pipe(Effect.zipRight(fiber.await)))
      )
      expect(handled).toEqual([0])
    }).pipe(Effect.provide(ResilienceEvent.layer())))
})

describe("ResilienceEvent.listen delivers everything published while its scope is open", () => {
  // The README's quick start, with a provider call that fails once and then succeeds.
  const quickStart = (seen: Array<string>) => {
    let calls = 0
    const callModel = (_prompt: string): Effect.Effect<string, ProviderError.ProviderError> =>
      Effect.suspend(() =>
        ++calls === 1
          ? Effect.fail(
            new ProviderError.TransientError({ provider: "openai", reason: "ServerError", message: "503" })
          )
          : Effect.succeed("hello")
      )
    const policy = Retry.policy({ maxAttempts: 4, key: "openai/gpt-4o" })
    return Effect.gen(function*() {
      yield* ResilienceEvent.listen((event) => Effect.sync(() => seen.push(event._tag)))
      return yield* callModel("Say hello").pipe(Retry.retry(policy))
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer()))
  }

  it.effect("the quick start's pattern: a call that fails once then succeeds, 50 runs", () =>
    Effect.gen(function*() {
      for (let run = 0; run < 50; run++) {
        const seen: Array<string> = []
        const fiber = yield* Effect.fork(quickStart(seen))
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBe("hello")
        expect(seen).toEqual(["AttemptStarted", "AttemptFailed", "RetryScheduled", "AttemptStarted", "Succeeded"])
      }
    }))

  it.effect("an agent-like flow: a tool step, then a model call retried, then the answer, 20 runs", () =>
    Effect.gen(function*() {
      for (let run = 0; run < 20; run++) {
        const seen: Array<string> = []
        let modelCalls = 0
        const model = Effect.suspend(() =>
          ++modelCalls === 1
            ? Effect.fail(
              new ProviderError.TransientError({ provider: "openai", reason: "RateLimited", message: "429" })
            )
            : Effect.succeed("answer")
        )
        const tool = Effect.succeed("sunny").pipe(Effect.delay("10 millis"))
        const agent = Effect.gen(function*() {
          // A handler that does asynchronous work before recording, as one writing to a terminal or a file would.
          yield* ResilienceEvent.listen((event) =>
            Effect.yieldNow().pipe(Effect.zipRight(Effect.sync(() => seen.push(ResilienceEvent.format(event)))))
          )
          const weather = yield* Retry.retry(tool, Retry.policy({ key: "tool" }))
          const answer = yield* Retry.retry(model, Retry.policy({ key: "model", backoff: Schedule.spaced("1 second") }))
          return `${weather}: ${answer}`
        }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer()))
        const fiber = yield* Effect.fork(agent)
        yield* TestClock.adjust("1 minute")
        expect(yield* Fiber.join(fiber)).toBe("sunny: answer")
        expect(seen).toEqual([
          "[tool] attempt 1 started",
          "[tool] attempt 1 succeeded",
          "[model] attempt 1 started",
          "[model] attempt 1 failed: Transient RateLimited, will retry",
          "[model] retry 2 in 1s (backoff, RateLimited)",
          "[model] attempt 2 started",
          "[model] attempt 2 succeeded"
        ])
      }
    }))
})
