import * as Core from "@effect-resilience/core"
import { Backoff } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as net from "node:net"
import { FakeLlmServer, SeededRandom, VirtualTime } from "../src/index.js"
import { forkGenerateTimed, openAi } from "./clients.js"

/** The message of the defect `exit` died with, or `undefined` when it did not die. */
const defectMessage = (exit: Exit.Exit<unknown, unknown>): string | undefined =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(Option.map(Cause.dieOption(exit.cause), (defect) => (defect as Error).message))
    : undefined

describe("VirtualTime.expectDelays", () => {
  it.effect("passes when the schedule's delays are exactly the ones expected", () =>
    Effect.gen(function*() {
      const backoff = Backoff.exponential({ base: "10 millis", max: "40 millis" })
      yield* VirtualTime.expectDelays(backoff, [10, 20, 40, 40])
      yield* backoff.pipe(VirtualTime.expectDelays(["10 millis", Duration.millis(20), "40 millis"]))
    }))

  it.effect("fails with both lists and the first difference", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        VirtualTime.expectDelays(Backoff.exponential({ base: "10 millis", max: "1 second" }), [10, 20, 50])
      )
      expect(error._tag).toBe("DelaysMismatchError")
      expect(error.expected).toEqual([10, 20, 50])
      expect(error.actual).toEqual([10, 20, 40])
      expect(error.message).toBe(
        "expected delays [10, 20, 50] ms, got [10, 20, 40] ms: delay 3 is 40 ms, expected 50 ms"
      )
    }))

  it.effect("says when the schedule stops before the expected delays", () =>
    Effect.gen(function*() {
      const twice = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      const error = yield* Effect.flip(VirtualTime.expectDelays(twice, [1_000, 1_000, 1_000]))
      expect(error.message).toBe(
        "expected delays [1000, 1000, 1000] ms, got [1000, 1000] ms: the schedule stopped after 2 delay(s)"
      )
    }))

  it.effect("with exhaustive: true, the schedule must stop right after the expected delays", () =>
    Effect.gen(function*() {
      const twice = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      yield* VirtualTime.expectDelays(twice, [1_000, 1_000], { exhaustive: true })
      const error = yield* Effect.flip(VirtualTime.expectDelays(twice, [1_000], { exhaustive: true }))
      expect(error.message).toBe("expected delays [1000] ms, got [1000, 1000] ms: 1 more than expected")
      // Without exhaustive, only the first delays are compared.
      yield* VirtualTime.expectDelays(twice, [1_000])
    }))

  it.effect("checks jittered schedules reproducibly under a seed", () =>
    Effect.gen(function*() {
      const seeded = yield* Backoff.standard.pipe(Backoff.delays(4), SeededRandom.withSeed("jitter"))
      yield* Backoff.standard.pipe(VirtualTime.expectDelays(seeded), SeededRandom.withSeed("jitter"))
      const error = yield* Backoff.standard.pipe(
        VirtualTime.expectDelays(seeded),
        SeededRandom.withSeed("other"),
        Effect.flip
      )
      expect(error.actual).not.toEqual(error.expected)
    }))
})

describe("VirtualTime.run", () => {
  it.effect("runs an effect to its end in virtual time and says when it ended", () =>
    Effect.gen(function*() {
      const { endedAt, exit } = yield* VirtualTime.run(Effect.as(Effect.sleep("90 seconds"), "done"))
      expect(exit).toEqual(Exit.succeed("done"))
      expect(endedAt).toBe(90_000)
    }))

  it.effect("fires chained sleeps in order", () =>
    Effect.gen(function*() {
      const instants: Array<number> = []
      const effect = Effect.forEach([100, 200, 300], (ms) =>
        Effect.sleep(Duration.millis(ms)).pipe(
          Effect.zipRight(Effect.clockWith((clock) => clock.currentTimeMillis)),
          Effect.tap((now) => Effect.sync(() => instants.push(now)))
        ))
      const { endedAt } = yield* VirtualTime.run(effect)
      expect(instants).toEqual([100, 300, 600])
      expect(endedAt).toBe(600)
    }))

  it.effect("gives a failure as the exit, not as its own failure", () =>
    Effect.gen(function*() {
      const { endedAt, exit } = yield* VirtualTime.run(Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom")))
      expect(exit).toEqual(Exit.fail("boom"))
      expect(endedAt).toBe(1_000)
    }))

  it.effect("dies saying so when the effect is still running at the horizon", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(VirtualTime.run(Effect.sleep("2 hours")))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
        "the effect was still running 1h of virtual time after it started"
      )
      // A horizon long enough lets it finish.
      const { endedAt } = yield* VirtualTime.run(Effect.sleep("2 hours"), "3 hours")
      expect(endedAt - 3_600_000).toBe(7_200_000)
    }))
})

describe("VirtualTime.eventually", () => {
  it.effect("polls until the condition holds, and no more", () =>
    Effect.gen(function*() {
      let polls = 0
      yield* VirtualTime.eventually("the third poll", Effect.sync(() => ++polls === 3))
      expect(polls).toBe(3)
      // The TestClock stood still: real time passed between the polls, not virtual time.
      expect(yield* Clock.currentTimeMillis).toBe(0)
    }))

  it.effect("dies after exactly maxPolls polls, saying what it waited for", () =>
    Effect.gen(function*() {
      let polls = 0
      const exit = yield* Effect.exit(
        VirtualTime.eventually("a condition that never holds", Effect.sync(() => (polls++, false)), { maxPolls: 5 })
      )
      expect(polls).toBe(5)
      expect(defectMessage(exit)).toBe(
        "VirtualTime.eventually: still waiting, after 5 polls, for: a condition that never holds"
      )
    }))

  it.effect("lets real I/O progress between polls: a loopback connection completes while the TestClock stands still", () =>
    Effect.gen(function*() {
      const server = net.createServer((socket) => socket.end())
      yield* Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      })
      let connected = false
      const { port } = server.address() as net.AddressInfo
      const client = net.connect(port, "127.0.0.1", () => {
        connected = true
      })
      yield* VirtualTime.eventually("a loopback connection", Effect.sync(() => connected)).pipe(
        Effect.ensuring(Effect.sync(() => {
          client.destroy()
          server.close()
        }))
      )
      expect(connected).toBe(true)
      expect(yield* Clock.currentTimeMillis).toBe(0)
    }))

  it.effect("a failing condition fails the wait with its error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(VirtualTime.eventually("never", Effect.fail("broken")))
      expect(error).toBe("broken")
    }))
})

describe("VirtualTime.awaitSleep and adjustWhenSleeping", () => {
  it.effect("awaitSleep returns once some fiber sleeps until exactly that instant", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(500)
      const fiber = yield* Effect.fork(Effect.zipRight(Effect.sleep("2 seconds"), Clock.currentTimeMillis))
      yield* VirtualTime.awaitSleep(2_500)
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe(2_500)
    }))

  it.effect("adjustWhenSleeping moves the clock by exactly the wait the code began", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.forEach([1_500, 250], (millis) => Effect.zipRight(Effect.sleep(millis), Clock.currentTimeMillis))
      )
      yield* VirtualTime.adjustWhenSleeping(1_500)
      yield* VirtualTime.adjustWhenSleeping(250)
      expect(yield* Fiber.join(fiber)).toEqual([1_500, 1_750])
    }))

  it.effect("a wrong expectation dies with the instant it waited for, after the bounded polls, and leaves the clock", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.sleep("1 second"))
      const exit = yield* Effect.exit(VirtualTime.adjustWhenSleeping(999, { maxPolls: 20 }))
      expect(defectMessage(exit)).toBe(
        "VirtualTime.eventually: still waiting, after 20 polls, for: a sleep until 999 ms on the TestClock"
      )
      expect(yield* Clock.currentTimeMillis).toBe(0)
      expect(yield* Fiber.poll(fiber)).toEqual(Option.none())
      yield* VirtualTime.adjustWhenSleeping(1_000)
      yield* Fiber.join(fiber)
    }))

  it.scoped("against a real FakeLlmServer: moves the clock when the server's reply delay begins, and exactly by it", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { replies: [FakeLlmServer.text("late", { delay: "10 seconds" })] }
      })
      const fiber = yield* forkGenerateTimed(openAi(server))
      yield* VirtualTime.eventually(
        "1 request at the server",
        Effect.map(server.requests, (requests) => requests.length === 1)
      )
      // The server waits 10 s, not 9.999 s: expecting that dies and leaves the clock where it was.
      const early = yield* Effect.exit(VirtualTime.adjustWhenSleeping(9_999, { maxPolls: 50 }))
      expect(defectMessage(early)).toBe(
        "VirtualTime.eventually: still waiting, after 50 polls, for: a sleep until 9999 ms on the TestClock"
      )
      expect(yield* Clock.currentTimeMillis).toBe(0)
      yield* VirtualTime.adjustWhenSleeping(10_000)
      const [response, doneAt] = yield* Fiber.join(fiber)
      expect([response.text, doneAt]).toEqual(["late", 10_000])
      expect((yield* server.requests).map((request) => request.at)).toEqual([0])
    }))
})

describe("SeededRandom", () => {
  it("is core's, re-exported", () => {
    expect(SeededRandom).toBe(Core.SeededRandom)
  })
})
