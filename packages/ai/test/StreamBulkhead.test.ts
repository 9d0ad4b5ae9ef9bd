import { Bulkhead } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as FailoverLanguageModel from "../src/FailoverLanguageModel.js"
import * as ResilientLanguageModel from "../src/ResilientLanguageModel.js"
import { config, delta, drain, finish, scripted, textEnd, textStart, transport } from "./scripted.js"

const key = "openai/gpt-4o"

/** One stream at a time, nobody waiting, no retry: a second stream is either admitted or rejected at once. */
const oneAtATime = (inner: LanguageModel.Service) =>
  ResilientLanguageModel.make({
    key,
    resilience: config({ retry: false, bulkhead: { maxConcurrent: 1, maxQueue: 0 } })
  }).pipe(Effect.provideService(LanguageModel.LanguageModel, inner))

/** A stream whose first content part comes at once, the rest after 10 s, then `end`. */
const slowAfterContent = (end: Stream.Stream<Response.StreamPartEncoded, AiError.AiError>) =>
  Stream.concat(
    Stream.make(textStart, delta("a")),
    Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep("10 seconds"), delta("b"))), end)
  )

const quick = Stream.make(textStart, delta("ok"), textEnd, finish)

const rejectedByBulkhead = (result: Either.Either<unknown, AiError.AiError>): boolean =>
  result._tag === "Left" &&
  Option.exists(ResilientLanguageModel.rejection(result.left), Bulkhead.isBulkheadRejectedError)

describe("ResilientLanguageModel.streamText holds its bulkhead slot until the stream ends", () => {
  it.scoped("rejects a second stream while the first streams, admits it once the first completed", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({ stream: [slowAfterContent(Stream.make(textEnd, finish)), quick] })
      const model = yield* oneAtATime(service)
      const first: Array<string> = []
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "one" }), first))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(first, ["text-start", "delta:a"])
      // The first stream has delivered content and is still open: its slot is taken.
      const second: Array<string> = []
      assert.isTrue(rejectedByBulkhead(yield* drain(model.streamText({ prompt: "two" }), second)))
      assert.deepStrictEqual(calls, [0])
      yield* TestClock.adjust("9 seconds")
      assert.isTrue((yield* Fiber.join(fiber))._tag === "Right")
      assert.deepStrictEqual(first, ["text-start", "delta:a", "delta:b", "text-end", "finish"])
      const third: Array<string> = []
      assert.isTrue((yield* drain(model.streamText({ prompt: "three" }), third))._tag === "Right")
      assert.deepStrictEqual(third, ["text-start", "delta:ok", "text-end", "finish"])
      assert.deepStrictEqual(calls, [0, 10_000])
    }))

  it.scoped("frees the slot when the stream fails after content", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({ stream: [slowAfterContent(Stream.fail(transport)), quick] })
      const model = yield* oneAtATime(service)
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "one" }), []))
      yield* TestClock.adjust("1 second")
      assert.isTrue(rejectedByBulkhead(yield* drain(model.streamText({ prompt: "two" }), [])))
      yield* TestClock.adjust("9 seconds")
      const failed = yield* Fiber.join(fiber)
      assert.isTrue(failed._tag === "Left" && Option.isSome(ResilientLanguageModel.interruption(failed.left)))
      assert.isTrue((yield* drain(model.streamText({ prompt: "three" }), []))._tag === "Right")
      assert.deepStrictEqual(calls, [0, 10_000])
    }))

  it.scoped("frees the slot when the reader is interrupted or stops reading", () =>
    Effect.gen(function*() {
      const { calls, service } = yield* scripted({
        stream: [
          Stream.concat(Stream.make(textStart, delta("a")), Stream.never),
          Stream.concat(Stream.make(textStart, delta("b")), Stream.never),
          quick
        ]
      })
      const model = yield* oneAtATime(service)
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "one" }), []))
      yield* TestClock.adjust("1 second")
      assert.isTrue(rejectedByBulkhead(yield* drain(model.streamText({ prompt: "two" }), [])))
      yield* Fiber.interrupt(fiber)
      // A reader that takes the first two parts and stops: the stream ends there, and so does its hold.
      const firstTwo = yield* model.streamText({ prompt: "three" }).pipe(Stream.take(2), Stream.runCollect)
      assert.strictEqual(firstTwo.length, 2)
      assert.isTrue((yield* drain(model.streamText({ prompt: "four" }), []))._tag === "Right")
      assert.deepStrictEqual(calls, [0, 1000, 1000])
    }))

  it.scoped("through a failover: a stream holds its step's slot, so the next stream goes to the next step", () =>
    Effect.gen(function*() {
      const primary = yield* scripted({ stream: [slowAfterContent(Stream.make(textEnd, finish)), quick] })
      const secondary = yield* scripted({ stream: [quick] })
      const model = yield* FailoverLanguageModel.make({
        name: "chat",
        steps: [
          {
            key,
            model: primary.service,
            resilience: config({ retry: false, bulkhead: { maxConcurrent: 1, maxQueue: 0 } })
          },
          { key: "anthropic/claude-sonnet-4", model: secondary.service, resilience: config({ retry: false }) }
        ]
      })
      const fiber = yield* Effect.fork(drain(model.streamText({ prompt: "one" }), []))
      yield* TestClock.adjust("1 second")
      assert.isTrue((yield* drain(model.streamText({ prompt: "two" }), []))._tag === "Right")
      assert.deepStrictEqual([primary.calls, secondary.calls], [[0], [1000]])
      yield* TestClock.adjust("9 seconds")
      assert.isTrue((yield* Fiber.join(fiber))._tag === "Right")
      assert.isTrue((yield* drain(model.streamText({ prompt: "three" }), []))._tag === "Right")
      assert.deepStrictEqual([primary.calls, secondary.calls], [[0, 10_000], [1000]])
    }))
})
