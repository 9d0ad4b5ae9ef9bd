/**
 * FakeLlmServer's delays run on the Clock of the fiber that built the server
 * (the TestClock under `it.scoped`), and its scope releases stalled streams.
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { FakeLlmServer } from "../src/index.js"
import { forkGenerateTimed, openAi } from "./clients.js"

/**
 * Waits, in event-loop turns (not in time), until the server's fibers are sleeping on the TestClock at the
 * given instants: the HTTP exchange is real I/O, so the server reaches its sleep a few turns after the call.
 */
const sleepingAt = (instants: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 100_000; turn++) {
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.length === instants.length && sleeps.every((at, i) => at === instants[i])) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    assert.fail(`the server never slept at ${instants.join(", ")}`)
  })

describe("FakeLlmServer and time", () => {
  it.scoped("a reply's delay runs on the TestClock of the test", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.text("late", { delay: "10 seconds" })] }
      })
      const fiber = yield* forkGenerateTimed(openAi(server))
      yield* sleepingAt([10_000])
      yield* TestClock.adjust("9999 millis")
      // Still sleeping: the answer is not sent before its delay.
      expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([10_000])
      expect((yield* server.requests)[0].at).toBe(0)
      yield* TestClock.adjust("1 millis")
      const [response, doneAt] = yield* Fiber.join(fiber)
      expect([response.text, doneAt]).toEqual(["late", 10_000])
    }))

  it.scoped("a stream's deltas are an interval apart on the TestClock", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.stream(["a", "b", "c"], { delay: "2 seconds", interval: "500 millis" })] }
      })
      const deltas = yield* Queue.unbounded<readonly [string, number]>()
      yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
        Stream.runForEach((part) =>
          part.type === "text-delta"
            ? Effect.flatMap(Clock.currentTimeMillis, (now) => Queue.offer(deltas, [part.delta, now]))
            : Effect.void
        ),
        Effect.provide(openAi(server)),
        Effect.fork
      )
      yield* sleepingAt([2000])
      yield* TestClock.adjust("2 seconds")
      expect(yield* Queue.take(deltas)).toEqual(["a", 2000])
      yield* sleepingAt([2500])
      yield* TestClock.adjust("500 millis")
      expect(yield* Queue.take(deltas)).toEqual(["b", 2500])
      yield* sleepingAt([3000])
      yield* TestClock.adjust("500 millis")
      expect(yield* Queue.take(deltas)).toEqual(["c", 3000])
    }))

  it.live("a stalled stream is cut when the server's scope closes, failing the client's stream", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.stallAfter(1) })] }
      }).pipe(Scope.extend(scope))
      const deltas = yield* Queue.unbounded<string>()
      const fiber = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
        Stream.runForEach((part) => part.type === "text-delta" ? Queue.offer(deltas, part.delta) : Effect.void),
        Effect.provide(openAi(server)),
        Effect.either,
        Effect.fork
      )
      expect(yield* Queue.take(deltas)).toBe("a")
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("2 seconds"), Effect.either)
      assert.isTrue(Either.isRight(closed), "closing the server's scope hung on the stalled stream")
      const result = yield* Fiber.join(fiber).pipe(Effect.timeout("2 seconds"))
      assert.isTrue(Either.isLeft(result))
      const error = Either.isLeft(result) ? result.left as AiError.HttpResponseError : undefined
      expect([error?._tag, error?.reason]).toEqual(["HttpResponseError", "Decode"])
    }))

  it.scoped("awaitRequests waits for the requests to arrive", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { default: FakeLlmServer.text("slow", { delay: "1 minute" }) }
      })
      const fiber = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(openAi(server)),
        Effect.fork
      )
      const requests = yield* server.awaitRequests(1)
      expect(requests.map((request) => request.path)).toEqual(["/v1/responses"])
      yield* sleepingAt([60_000])
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).text).toBe("slow")
    }))
})
