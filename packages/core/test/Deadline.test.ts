import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Deadline from "../src/Deadline.js"
import type * as ProviderError from "../src/ProviderError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import * as Retry from "../src/Retry.js"
import { failureOf, overloaded, rateLimited, runVirtual, scripted } from "./utils.js"

describe("Deadline.within", () => {
  it.effect("interrupts the work at exactly the deadline and says what it was doing", () =>
    Effect.gen(function*() {
      let finalized = false
      const slow = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (finalized = true))))
      const { endedAt, exit } = yield* runVirtual(slow.pipe(Deadline.within({ after: "3 seconds", key: "openai" })))
      expect(endedAt).toBe(3000)
      expect(finalized).toBe(true)
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(Deadline.DeadlineExceededError)
      expect(error.message).toBe("deadline of 3s for openai exceeded after 3s, during the call")
    }))

  it.effect("lets an effect that finishes in time through untouched", () =>
    Effect.gen(function*() {
      const { exit } = yield* runVirtual(
        Effect.succeed(7).pipe(Effect.delay("2999 millis"), Deadline.within({ after: "3 seconds" }))
      )
      expect(exit).toEqual(Exit.succeed(7))
    }))

  it.effect("is visible inside, and nested deadlines keep the earliest", () =>
    Effect.gen(function*() {
      const inner = yield* Deadline.remaining.pipe(
        Deadline.within({ after: "10 seconds" }),
        Deadline.within({ after: "4 seconds" })
      )
      expect(inner).toEqual(Option.some(Duration.seconds(4)))
      expect(yield* Deadline.remaining).toEqual(Option.none())
    }))

  it.effect("a retry never sleeps past it: a Retry-After beyond the deadline stops at once with the last error", () =>
    Effect.gen(function*() {
      const error = rateLimited("20 seconds")
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: error }, { succeed: "late" }])
      const { endedAt, exit } = yield* runVirtual(
        provider.call.pipe(Retry.retry(Retry.standard), Deadline.within({ after: "10 seconds" }))
      )
      expect(provider.calls).toBe(1)
      expect(endedAt).toBe(0)
      expect(failureOf(exit)).toBe(error)
    }))

  it.scoped("says why the retry stopped", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      yield* runVirtual(
        scripted([{ fail: rateLimited("20 seconds") }]).call.pipe(
          Retry.retry(Retry.policy({ key: "k" })),
          Deadline.within({ after: "10 seconds", key: "k" })
        )
      )
      const last = Array.from(yield* Queue.takeAll(queue)).at(-1)
      expect(last).toEqual(ResilienceEvent.RetriesExhausted({ key: "k", attempts: 1, at: 0, why: "DeadlineWouldPass" }))
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("retries while time remains and reports the attempt the deadline interrupted", () =>
    Effect.gen(function*() {
      let calls = 0
      const call = Effect.suspend(() => (++calls === 1 ? Effect.fail(overloaded()) : Effect.never))
      const { endedAt, exit } = yield* runVirtual(
        call.pipe(
          Retry.retry(Retry.policy({ backoff: { base: "1 second", max: "1 second", jitter: "none" } })),
          Deadline.within({ after: "5 seconds", key: "anthropic" })
        )
      )
      expect(calls).toBe(2)
      expect(endedAt).toBe(5000)
      expect(failureOf(exit).message).toBe("deadline of 5s for anthropic exceeded after 5s, during attempt 2")
    }))

  it.scoped("publishes DeadlineExceeded", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      yield* runVirtual(Effect.never.pipe(Deadline.within({ after: "1 second", key: "k" })))
      expect(Array.from(yield* Queue.takeAll(queue))).toEqual([
        ResilienceEvent.DeadlineExceeded({ key: "k", at: 1000, elapsed: Duration.seconds(1) })
      ])
    }).pipe(Effect.provide(ResilienceEvent.layer())))
})
