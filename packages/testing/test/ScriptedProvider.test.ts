import { Backoff, ProviderError, Retry } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ScriptedProvider, VirtualTime } from "../src/index.js"

const noJitter = Backoff.make({ base: "100 millis", max: "1 second", jitter: "none" })

/** The error of a failed exit, or a test failure saying what the exit was instead. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  // Effect.fail inside a span hands on a proxy of the error that carries the span; compare the original.
  return Cause.originalError(failure.value)
}

/** Each element of a stream with the instant it arrived; a failure ends the list as a `Left`. */
const timeline = <A, E>(stream: Stream.Stream<A, E>) =>
  stream.pipe(
    Stream.either,
    Stream.mapEffect((item) => Effect.map(Clock.currentTimeMillis, (at) => [at, item] as const)),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )

describe("ScriptedProvider", () => {
  it.effect("records the instant, attempt number and input of every call made through Retry.retry", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.overloaded(),
        ScriptedProvider.rateLimited({ retryAfter: "2 seconds" }),
        ScriptedProvider.succeed("hello")
      ])
      const { endedAt, exit } = yield* VirtualTime.run(
        provider.call("Hi").pipe(Retry.retry(Retry.policy({ maxAttempts: 5, backoff: noJitter })))
      )
      expect(exit).toEqual(Exit.succeed("hello"))
      // 100 ms of backoff, then the Retry-After of 2 s wins over a backoff of 200 ms.
      expect(yield* provider.calls).toEqual([
        { attempt: 1, at: 0, input: "Hi" },
        { attempt: 2, at: 100, input: "Hi" },
        { attempt: 3, at: 2_100, input: "Hi" }
      ])
      expect(endedAt).toBe(2_100)
    }))

  it.effect("builds its errors through ProviderError's constructors, with the provider's name", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make([
        ScriptedProvider.rateLimited({ retryAfter: "1500 millis" }),
        ScriptedProvider.overloaded(),
        ScriptedProvider.unavailable(),
        ScriptedProvider.unauthorized()
      ], { provider: "openai" })
      const errors = yield* Effect.forEach([1, 2, 3, 4], () => Effect.flip(provider.call(undefined)))
      expect(errors.map((error) => [error._tag, error.reason, error.status, error.provider])).toEqual([
        ["TransientError", "RateLimited", 429, "openai"],
        ["TransientError", "Overloaded", 529, "openai"],
        ["TransientError", "Unavailable", 503, "openai"],
        ["PermanentError", "Authentication", 401, "openai"]
      ])
      expect(errors.every(ProviderError.isProviderError)).toBe(true)
      expect(ProviderError.retryAfter(errors[0])).toEqual(Option.some(Duration.millis(1_500)))
      expect(errors[0].message).toBe("openai: rate limit reached (429); retry after 1s 500ms")
    }))

  it.effect("fails with the given error, and a permanent one is not retried", () =>
    Effect.gen(function*() {
      const tooLong = new ProviderError.PermanentError({
        provider: "openai",
        reason: "ContextLengthExceeded",
        status: 400,
        message: "too long"
      })
      const provider = yield* ScriptedProvider.make<string, string>([ScriptedProvider.fail(tooLong)])
      const { exit } = yield* VirtualTime.run(provider.call("Hi").pipe(Retry.retry(Retry.standard)))
      expect(failureOf(exit)).toBe(tooLong)
      expect((yield* provider.calls).length).toBe(1)
    }))

  it.effect("answers after the step's virtual delay, not before", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.succeed("slow", { after: "3 seconds" })
      ])
      const fiber = yield* Effect.fork(provider.call("Hi"))
      yield* TestClock.adjust("2999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("slow")
    }))

  it.effect("a failure step with `after` fails at that instant", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make([ScriptedProvider.overloaded({ after: "250 millis" })])
      const { endedAt, exit } = yield* VirtualTime.run(provider.call("Hi"))
      expect(failureOf(exit).reason).toBe("Overloaded")
      expect(endedAt).toBe(250)
    }))

  it.effect("repeats the last step once the script is used up, by default", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<number, string>([
        ScriptedProvider.overloaded(),
        ScriptedProvider.succeed("ok")
      ])
      const exits = yield* Effect.forEach([1, 2, 3, 4], (n) => Effect.exit(provider.call(n)))
      expect(exits.map(Exit.isSuccess)).toEqual([false, true, true, true])
      expect((yield* provider.calls).map((call) => [call.attempt, call.input])).toEqual([[1, 1], [2, 2], [3, 3], [
        4,
        4
      ]])
    }))

  it.effect("with onExhausted: \"die\", a call past the script dies saying so", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make([ScriptedProvider.succeed("once")], { onExhausted: "die" })
      expect(yield* provider.call("a")).toBe("once")
      const exit = yield* Effect.exit(provider.call("b"))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
        "the script has 1 step(s) and call 2 asked for one more"
      )
      expect((yield* provider.calls).length).toBe(2)
    }))

  it.effect("a hang never completes on its own, and is interruptible", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([ScriptedProvider.hang()])
      const fiber = yield* Effect.fork(provider.call("Hi"))
      yield* TestClock.adjust("1 hour")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
    }))

  it.effect("a hang ends at the instant a timeout interrupts it, and the retry's next call succeeds", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.hang(),
        ScriptedProvider.succeed("hello")
      ])
      const timedOut = provider.call("Hi").pipe(
        Effect.timeoutFail({
          duration: "5 seconds",
          onTimeout: () =>
            new ProviderError.TransientError({ provider: "scripted", reason: "Timeout", message: "timed out" })
        })
      )
      const { endedAt, exit } = yield* VirtualTime.run(
        timedOut.pipe(Retry.retry(Retry.policy({ backoff: noJitter })))
      )
      expect(exit).toEqual(Exit.succeed("hello"))
      expect((yield* provider.calls).map((call) => call.at)).toEqual([0, 5_100])
      expect(endedAt).toBe(5_100)
    }))

  it.effect("a stream step emits k parts at their intervals, then fails", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.streamParts(["Hel", "lo", ", ", "world"], { failAfter: 2, interval: "100 millis" })
      ])
      const { exit } = yield* VirtualTime.run(timeline(provider.stream("Hi")))
      const items = Exit.isSuccess(exit) ? exit.value : []
      expect(items.map(([at, item]) => [at, Either.isRight(item) ? item.right : item.left.reason])).toEqual([
        [100, "Hel"],
        [200, "lo"],
        [200, "Network"]
      ])
      const error = items[2][1]
      expect(Either.isLeft(error) && error.left.message).toBe("scripted: connection dropped after 2 part(s)")
    }))

  it.effect("a stream step fails with the error given, after every part when no failAfter is given", () =>
    Effect.gen(function*() {
      const overloaded = new ProviderError.TransientError({
        provider: "anthropic",
        reason: "Overloaded",
        status: 529,
        message: "overloaded_error"
      })
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.streamParts(["a", "b"], { error: overloaded })
      ])
      const items = yield* timeline(provider.stream("Hi"))
      expect(items.map(([, item]) => item)).toEqual([Either.right("a"), Either.right("b"), Either.left(overloaded)])
    }))

  it.effect("a stream step without failure emits every part and completes", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([ScriptedProvider.streamParts(["a", "b", "c"])])
      const parts = yield* Stream.runCollect(provider.stream("Hi"))
      expect(Chunk.toReadonlyArray(parts)).toEqual(["a", "b", "c"])
    }))

  it.effect("a stream that stalls after k parts emits them, then waits until interrupted", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.streamParts(["a", "b", "c"], { stallAfter: 1, interval: "10 millis" })
      ])
      const received: Array<string> = []
      const fiber = yield* provider.stream("Hi").pipe(
        Stream.runForEach((part) => Effect.sync(() => received.push(part))),
        Effect.fork
      )
      yield* TestClock.adjust("1 hour")
      expect(received).toEqual(["a"])
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
    }))

  it.effect("each run of a stream is a call: a retried stream is recorded twice", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.streamParts(["a"], { failAfter: 0 }),
        ScriptedProvider.streamParts(["a", "b"])
      ])
      const { exit } = yield* VirtualTime.run(
        Stream.runCollect(provider.stream("Hi")).pipe(Retry.retry(Retry.policy({ backoff: noJitter })))
      )
      expect(Exit.map(exit, Chunk.toReadonlyArray)).toEqual(Exit.succeed(["a", "b"]))
      expect((yield* provider.calls).map((call) => call.at)).toEqual([0, 100])
    }))

  it.effect("stream answers non-stream steps: a success is one part, a failure fails", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([
        ScriptedProvider.succeed("whole"),
        ScriptedProvider.unauthorized()
      ])
      expect(Chunk.toReadonlyArray(yield* Stream.runCollect(provider.stream("a")))).toEqual(["whole"])
      const error = yield* Effect.flip(Stream.runCollect(provider.stream("b")))
      expect(error.reason).toBe("Authentication")
    }))

  it.effect("call on a stream step dies with a message that says to use stream", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<string, string>([ScriptedProvider.streamParts(["a"])])
      const exit = yield* Effect.exit(provider.call("Hi"))
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("consume it with `stream`")
    }))

  it.effect("concurrent calls get distinct attempt numbers", () =>
    Effect.gen(function*() {
      const provider = yield* ScriptedProvider.make<number, string>([
        ScriptedProvider.succeed("ok", { after: "1 second" })
      ])
      const fiber = yield* Effect.fork(Effect.forEach([1, 2, 3], provider.call, { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual(["ok", "ok", "ok"])
      const calls = yield* provider.calls
      expect(calls.map((call) => call.attempt)).toEqual([1, 2, 3])
      expect(calls.map((call) => call.at)).toEqual([0, 0, 0])
    }))
})
