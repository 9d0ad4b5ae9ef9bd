import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Classify from "../src/Classify.js"
import * as PolicyError from "../src/PolicyError.js"
import * as ResilienceEvent from "../src/ResilienceEvent.js"
import * as Retry from "../src/Retry.js"
import * as Timeout from "../src/Timeout.js"
// After the public module: the two import each other, and the public one must be loaded first.
import * as timeoutInternal from "../src/internal/timeout.js"
import { failureOf, runVirtual } from "./utils.js"

/** A provider call that answers after `duration` of `Clock` time. */
const slowCall = (duration: Duration.DurationInput, value = "answer") => Effect.as(Effect.sleep(duration), value)

/** Runs an effect in a fiber of its own and returns its exit with the instant it ended. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.exit,
    Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (endedAt) => ({ exit, endedAt }))),
    Effect.fork
  )

const timers: ReadonlyArray<Timeout.Timer> = ["shared", "perCall"]

for (const timer of timers) {
  describe(`Timeout.protect (timer: ${timer})`, () => {
    const make = (after: Duration.DurationInput, key = "openai/gpt-4o") => Timeout.make({ after, key, timer })

    it.scoped("times out a 30 s call at exactly t = 10 s with a 10 s timeout", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const fiber = yield* timed(slowCall("30 seconds").pipe(Timeout.protect(timeout)))
        yield* TestClock.adjust("9999 millis")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 millis")
        const { endedAt, exit } = yield* Fiber.join(fiber)
        expect(endedAt).toBe(10_000)
        const error = failureOf(exit)
        expect(Timeout.isAttemptTimeoutError(error)).toBe(true)
        expect(error).toEqual(new Timeout.AttemptTimeoutError({ key: "openai/gpt-4o", after: Duration.seconds(10) }))
      }))

    // Durations keep whole nanoseconds: a sleep from a fractional instant to a deadline can end up to half a
    // nanosecond short of it. The timer must not then sleep "0" for ever at that instant (it spun, found by a
    // seeded storm on the simulator's clock; jittered backoff makes fractional instants).
    it.scoped("times out at a fractional deadline reached a fraction of a nanosecond short", () =>
      Effect.gen(function*() {
        const timeout = yield* make("300 millis")
        // The test clock, counting the sleeps asked of it.
        const testClock = yield* Effect.clock
        let sleeps = 0
        const clock: Clock.Clock = {
          [Clock.ClockTypeId]: Clock.ClockTypeId,
          unsafeCurrentTimeMillis: () => testClock.unsafeCurrentTimeMillis(),
          unsafeCurrentTimeNanos: () => testClock.unsafeCurrentTimeNanos(),
          currentTimeMillis: testClock.currentTimeMillis,
          currentTimeNanos: testClock.currentTimeNanos,
          sleep: (duration) => Effect.suspend(() => (sleeps++, testClock.sleep(duration)))
        }
        const call = Effect.withClock(Effect.never.pipe(Timeout.protect(timeout)), clock)
        yield* TestClock.setTime(957.285)
        const first = yield* timed(call)
        yield* TestClock.adjust(Duration.millis(66.032951))
        const second = yield* timed(call)
        yield* TestClock.adjust("300 millis")
        expect((yield* Fiber.join(first)).endedAt).toBeCloseTo(1257.285, 6)
        // The timer wakes from the first deadline for the second: 1257.285 + 66.032951 ms lands at
        // 1323.3179509999998, just before the second's 1323.317951; it then sleeps 1 ns (it slept 0 ns, over and
        // over, at that instant).
        yield* TestClock.adjust("1 millis")
        const { endedAt, exit } = yield* Fiber.join(second)
        expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
        expect(endedAt).toBeGreaterThanOrEqual(1323.317951)
        expect(endedAt - 1323.317951).toBeLessThan(2e-6)
        expect(sleeps).toBeLessThanOrEqual(timer === "shared" ? 3 : 2)
      }))

    it.scoped("times out at exactly t = 10 s when the clock jumps far past the deadline", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const { endedAt, exit } = yield* runVirtual(slowCall("30 seconds").pipe(Timeout.protect(timeout)))
        expect(endedAt).toBe(10_000)
        expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
      }))

    it.scoped("lets a call that ends at 9.999 s succeed", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const { endedAt, exit } = yield* runVirtual(slowCall("9999 millis").pipe(Timeout.protect(timeout)))
        expect(exit).toEqual(Exit.succeed("answer"))
        expect(endedAt).toBe(9_999)
      }))

    it.scoped("passes the attempt's own failures and defects through unchanged", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const failed = yield* runVirtual(
          Effect.zipRight(Effect.sleep("1 second"), Effect.fail("bad request" as const)).pipe(Timeout.protect(timeout))
        )
        expect(failed.exit).toEqual(Exit.fail("bad request"))
        expect(failed.endedAt).toBe(1_000)
        const died = yield* runVirtual(Effect.die("bug").pipe(Timeout.protect(timeout)))
        expect(Exit.isFailure(died.exit) && Cause.isDie(died.exit.cause)).toBe(true)
      }))

    it.scoped("interrupts the attempt and runs its finalizers before failing", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const log: Array<string> = []
        const note = (what: string) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => log.push(`${what}@${at}`)))
        const attempt = Effect.acquireRelease(note("open"), () => note("release")).pipe(
          Effect.zipRight(slowCall("30 seconds")),
          Effect.onInterrupt(() => note("interrupted")),
          Effect.scoped
        )
        const { endedAt, exit } = yield* runVirtual(attempt.pipe(Timeout.protect(timeout)))
        expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
        expect(log).toEqual(["open@0", "interrupted@10000", "release@10000"])
        expect(endedAt).toBe(10_000)
      }))

    it.scoped("times out many concurrent attempts, started at different instants, each at its own instant", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        // [start, duration] in ms: the attempt ends at start + min(duration, 10 s).
        const plan: ReadonlyArray<readonly [number, number]> = [
          [0, 30_000],
          [0, 5_000],
          [1_000, 9_999],
          [1_500, 10_001],
          [2_500, 60_000],
          [2_500, 2_500],
          [7_000, 20_000],
          [12_000, 1_000],
          [12_000, 15_000],
          [25_000, 11_000]
        ]
        const fibers = yield* Effect.forEach(plan, ([start, duration]) =>
          timed(
            Effect.zipRight(
              Effect.sleep(Duration.millis(start)),
              slowCall(Duration.millis(duration)).pipe(Timeout.protect(timeout))
            )
          ))
        yield* TestClock.adjust("1 hour")
        const outcomes = yield* Effect.forEach(fibers, Fiber.join)
        expect(outcomes.map(({ endedAt, exit }) => [endedAt, Exit.isSuccess(exit) ? "ok" : "timeout"])).toEqual(
          plan.map(([start, duration]) => duration < 10_000 ? [start + duration, "ok"] : [start + 10_000, "timeout"])
        )
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
      }))

    it.effect.prop(
      "ends every attempt at start + min(duration, after), whatever the mix of attempts in flight",
      {
        plan: FastCheck.array(
          FastCheck.tuple(
            FastCheck.integer({ min: 0, max: 20_000 }),
            // Durations of exactly `after` race the timer; leave them out.
            FastCheck.integer({ min: 1, max: 20_000 }).filter((duration) => duration !== 5_000)
          ),
          { minLength: 1, maxLength: 12 }
        )
      },
      ({ plan }) =>
        Effect.gen(function*() {
          const timeout = yield* make("5 seconds")
          const fibers = yield* Effect.forEach(plan, ([start, duration]) =>
            timed(
              Effect.zipRight(
                Effect.sleep(Duration.millis(start)),
                slowCall(Duration.millis(duration)).pipe(Timeout.protect(timeout))
              )
            ))
          yield* TestClock.adjust("1 hour")
          const ended = yield* Effect.forEach(fibers, (fiber) => Effect.map(Fiber.join(fiber), (o) => o.endedAt))
          expect(ended).toEqual(plan.map(([start, duration]) => start + Math.min(duration, 5_000)))
          expect(yield* Timeout.inFlight(timeout)).toBe(0)
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 15 } }
    )

    it.scoped("keeps exact instants when the clock is set back", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        yield* TestClock.adjust("100 seconds")
        const first = yield* timed(slowCall("1 minute").pipe(Timeout.protect(timeout)))
        yield* TestClock.setTime(50_000)
        // Due at 60 s, before anything already waiting.
        const second = yield* timed(slowCall("1 minute").pipe(Timeout.protect(timeout)))
        yield* TestClock.adjust("10 seconds")
        expect((yield* Fiber.join(second)).endedAt).toBe(60_000)
        yield* TestClock.adjust("1 hour")
        expect((yield* Fiber.join(first)).endedAt).toBe(110_000)
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
      }))

    it.scoped("cancels the attempt when the caller is interrupted, leaving nothing registered", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const log: Array<string> = []
        const fiber = yield* slowCall("30 seconds").pipe(
          Effect.onInterrupt(() => Effect.sync(() => log.push("attempt interrupted"))),
          Timeout.protect(timeout),
          Effect.fork
        )
        yield* TestClock.adjust("2 seconds")
        expect(yield* Timeout.inFlight(timeout)).toBe(1)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(log).toEqual(["attempt interrupted"])
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
      }).pipe(Effect.provide(ResilienceEvent.layer())))

    it.scoped("still interrupts a caller interrupted while its timed-out attempt winds down", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        // Cut short at 10 s, the attempt takes 5 s to clean up; the caller is interrupted at 12 s.
        const attempt = slowCall("30 seconds").pipe(Effect.ensuring(Effect.sleep("5 seconds")))
        const caller = yield* attempt.pipe(Timeout.protect(timeout), Effect.fork)
        const alone = yield* timed(attempt.pipe(Timeout.protect(timeout)))
        yield* Effect.fork(Effect.zipRight(Effect.sleep("12 seconds"), Fiber.interrupt(caller)))
        yield* TestClock.adjust("1 hour")
        expect(Exit.isInterrupted(yield* Fiber.await(caller))).toBe(true)
        // The same attempt, left alone, fails as timed out once it has cleaned up.
        const { endedAt, exit: aloneExit } = yield* Fiber.join(alone)
        expect(Timeout.isAttemptTimeoutError(failureOf(aloneExit))).toBe(true)
        expect(endedAt).toBe(15_000)
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
      }))

    it.scoped("never interrupts the caller after its attempt was cancelled or ended", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const queue = yield* ResilienceEvent.subscribe
        // One fiber: an attempt that ends in time, one cancelled from the outside, then 40 s of other work.
        const fiber = yield* Effect.gen(function*() {
          yield* slowCall("1 second").pipe(Timeout.protect(timeout))
          yield* slowCall("30 seconds").pipe(Timeout.protect(timeout), Effect.timeoutOption("2 seconds"))
          yield* Effect.sleep("40 seconds")
          return yield* Clock.currentTimeMillis
        }).pipe(Effect.fork)
        yield* TestClock.adjust("1 hour")
        expect(yield* Fiber.join(fiber)).toBe(43_000)
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
        expect(yield* Queue.takeAll(queue)).toHaveLength(0)
      }).pipe(Effect.provide(ResilienceEvent.layer())))

    it.scoped("publishes AttemptTimedOut with the key, the instant and the timeout", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const queue = yield* ResilienceEvent.subscribe
        yield* runVirtual(
          Effect.zipRight(Effect.sleep("3 seconds"), slowCall("1 minute").pipe(Timeout.protect(timeout)))
        )
        yield* runVirtual(slowCall("1 second").pipe(Timeout.protect(timeout)))
        expect(Array.from(yield* Queue.takeAll(queue))).toEqual([
          ResilienceEvent.AttemptTimedOut({ key: "openai/gpt-4o", at: 13_000, after: Duration.seconds(10) })
        ])
      }).pipe(Effect.provide(ResilienceEvent.layer())))

    it.scoped("gives each retry a fresh timeout, and retries a timed-out attempt as transient", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const durations = [30_000, 30_000, 1_000]
        const starts: Array<number> = []
        const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          starts.push(now)
          return slowCall(Duration.millis(durations[starts.length - 1]))
        }).pipe(Timeout.protect(timeout))
        const { endedAt, exit } = yield* runVirtual(
          attempt.pipe(
            Retry.retry(
              Retry.policy({ maxAttempts: 3, backoff: { base: "1 second", max: "1 second", jitter: "none" } })
            )
          )
        )
        expect(exit).toEqual(Exit.succeed("answer"))
        expect(starts).toEqual([0, 11_000, 22_000])
        expect(endedAt).toBe(23_000)
      }))

    it.scoped("nested timeouts: the shorter one fires first, whichever is outside", () =>
      Effect.gen(function*() {
        const outer = yield* make("10 seconds", "outer")
        const inner = yield* make("5 seconds", "inner")
        const innerInside = yield* timed(slowCall("1 minute").pipe(Timeout.protect(inner), Timeout.protect(outer)))
        const innerOutside = yield* timed(slowCall("1 minute").pipe(Timeout.protect(outer), Timeout.protect(inner)))
        yield* TestClock.adjust("1 hour")
        for (const fiber of [innerInside, innerOutside]) {
          const { endedAt, exit } = yield* Fiber.join(fiber)
          expect(endedAt).toBe(5_000)
          expect(failureOf(exit)).toMatchObject({ _tag: "AttemptTimeoutError", key: "inner" })
        }
      }))

    it.scoped("lets an attempt that cannot be interrupted run to its end, then fails it as timed out", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const { endedAt, exit } = yield* runVirtual(
          Effect.uninterruptible(slowCall("30 seconds")).pipe(Timeout.protect(timeout))
        )
        expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
        expect(endedAt).toBe(30_000)
      }))

    it.scoped("times out at the same instant with a timeout nested in itself", () =>
      Effect.gen(function*() {
        const timeout = yield* make("10 seconds")
        const { endedAt, exit } = yield* runVirtual(
          slowCall("1 minute").pipe(Timeout.protect(timeout), Timeout.protect(timeout))
        )
        expect(endedAt).toBe(10_000)
        expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
        expect(yield* Timeout.inFlight(timeout)).toBe(0)
      }))
  })
}

describe("Timeout.protect (shared timer)", () => {
  it.scoped("runs the attempt on the caller's fiber: no fiber per call", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ after: "10 seconds" })
      const fiber = yield* Effect.gen(function*() {
        const caller = yield* Effect.fiberId
        const inside = yield* Effect.fiberId.pipe(Timeout.protect(timeout))
        return [caller, inside]
      }).pipe(Effect.fork)
      const [caller, inside] = yield* Fiber.join(fiber)
      expect(inside).toEqual(caller)
    }))

  it.scoped("arms one timer for many sequential calls, and none once they are over", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ after: "10 seconds" })
      const fiber = yield* Effect.fork(Effect.gen(function*() {
        for (let i = 0; i < 100; i++) yield* slowCall("10 millis").pipe(Timeout.protect(timeout))
      }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      // The sweeper sleeps until the first call's deadline; it was not rearmed per call.
      expect(Array.from(yield* TestClock.sleeps())).toEqual([10_000])
      yield* TestClock.adjust("1 minute")
      expect(Array.from(yield* TestClock.sleeps())).toEqual([])
    }))

  it.scoped("keeps the caller's other children alive when an attempt times out", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ after: "10 seconds" })
      const fiber = yield* Effect.gen(function*() {
        const background = yield* Effect.fork(Effect.as(Effect.sleep("1 minute"), "background done"))
        const attempt = yield* Effect.exit(slowCall("30 seconds").pipe(Timeout.protect(timeout)))
        return { attempt, background: yield* Fiber.join(background) }
      }).pipe(Effect.fork)
      yield* TestClock.adjust("1 hour")
      const { attempt, background } = yield* Fiber.join(fiber)
      expect(Timeout.isAttemptTimeoutError(failureOf(attempt))).toBe(true)
      expect(background).toBe("background done")
    }))

  // Known limitation (effect 3.22): a scope finalizer (`acquireRelease`, `addFinalizer`) restores the fiber's
  // FiberRefs when it ends, `FiberRef.interruptedCause` included, so an interruption that reaches the fiber
  // while such a finalizer of a timed-out attempt is suspended is forgotten, and the caller goes on. This
  // test documents it: when it starts to pass, drop `.fails` and the caveat in `Timeout.Timer`'s docs.
  it.scoped.fails("interrupts a caller interrupted during an asynchronous scope finalizer of its timed-out attempt", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ after: "10 seconds" })
      const attempt = Effect.acquireRelease(Effect.void, () => Effect.sleep("5 seconds")).pipe(
        Effect.zipRight(slowCall("30 seconds")),
        Effect.scoped
      )
      const caller = yield* attempt.pipe(Timeout.protect(timeout), Effect.fork)
      yield* Effect.fork(Effect.zipRight(Effect.sleep("12 seconds"), Fiber.interrupt(caller)))
      yield* TestClock.adjust("1 hour")
      expect(Exit.isInterrupted(yield* Fiber.await(caller))).toBe(true)
    }))

  it.effect("still times out attempts after its scope has closed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const timeout = yield* Scope.extend(Timeout.make({ after: "10 seconds" }), scope)
      // Start the sweeper, then close the scope while it sleeps.
      const first = yield* timed(slowCall("30 seconds").pipe(Timeout.protect(timeout)))
      yield* TestClock.adjust("1 second")
      yield* Scope.close(scope, Exit.void)
      const second = yield* timed(slowCall("30 seconds").pipe(Timeout.protect(timeout)))
      yield* TestClock.adjust("1 hour")
      // The attempt in flight when the scope closed lost its timer; later ones get one each.
      expect((yield* Fiber.join(first)).endedAt).toBe(30_000)
      const { endedAt, exit } = yield* Fiber.join(second)
      expect(endedAt).toBe(11_000)
      expect(Timeout.isAttemptTimeoutError(failureOf(exit))).toBe(true)
    }))
})

describe("Timeout.keyed", () => {
  it.scoped("times out each key's attempts at its instant, naming the key, on one timer", () =>
    Effect.gen(function*() {
      const timeouts = yield* Timeout.keyed({ after: "10 seconds" })
      const a = yield* timed(slowCall("30 seconds").pipe(Timeout.protect(timeouts.get("tenant-a"))))
      yield* TestClock.adjust("4 seconds")
      const b = yield* timed(slowCall("30 seconds").pipe(Timeout.protect(timeouts.get("tenant-b"))))
      const c = yield* timed(slowCall("1 second").pipe(Timeout.protect(timeouts.get("tenant-c"))))
      yield* Effect.yieldNow()
      expect(yield* timeouts.inFlight).toBe(3)
      yield* TestClock.adjust("10 seconds")
      const ends = yield* Effect.forEach([a, b, c], Fiber.join)
      expect(ends.map(({ endedAt }) => endedAt)).toEqual([10_000, 14_000, 5_000])
      expect(failureOf(ends[0].exit)).toMatchObject({ _tag: "AttemptTimeoutError", key: "tenant-a" })
      expect(failureOf(ends[1].exit)).toMatchObject({ _tag: "AttemptTimeoutError", key: "tenant-b" })
      expect(ends[2].exit).toEqual(Exit.succeed("answer"))
      expect(yield* timeouts.inFlight).toBe(0)
    }))

  it.scoped("leaves nothing behind for attempts that succeed, fail, die, time out, nest or are interrupted", () =>
    Effect.gen(function*() {
      const timeouts = yield* Timeout.keyed({ after: "10 seconds" })
      const protect = <A, E>(effect: Effect.Effect<A, E>, key = "k") => Timeout.protect(effect, timeouts.get(key))
      yield* protect(Effect.succeed(1))
      yield* Effect.exit(protect(Effect.fail("no")))
      yield* Effect.exit(protect(Effect.die("bug")))
      // Nested on one fiber: the outer one times out (at 10 s) while the inner one (due at 11 s) still runs.
      const nested = yield* timed(protect(protect(slowCall("30 seconds"), "inner").pipe(Effect.delay("1 second"))))
      const interrupted = yield* Effect.fork(protect(slowCall("30 seconds")))
      yield* TestClock.adjust("2 seconds")
      expect(timeoutInternal.fibersWithAttempts()).toBe(2)
      yield* Fiber.interrupt(interrupted)
      yield* TestClock.adjust("10 seconds")
      const { exit } = yield* Fiber.join(nested)
      expect(failureOf(exit)).toMatchObject({ _tag: "AttemptTimeoutError", key: "k" })
      expect(timeoutInternal.fibersWithAttempts()).toBe(0)
      expect(yield* timeouts.inFlight).toBe(0)
    }))

  it.effect("refuses the options make refuses", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Timeout.keyed({ after: "0 millis" })))
      expect(error).toBeInstanceOf(PolicyError.InvalidPolicyError)
    }))
})

describe("AttemptTimeoutError", () => {
  const error = new Timeout.AttemptTimeoutError({ key: "openai/gpt-4o", after: Duration.seconds(30) })

  it("says what timed out and after how long", () => {
    expect(error.message).toBe("attempt on openai/gpt-4o timed out after 30s")
    expect(error._tag).toBe("AttemptTimeoutError")
  })

  it("is transient with reason Timeout", () => {
    expect(Classify.standard(error)).toEqual(Classify.transient("Timeout"))
  })

  it("is recognised by its guard", () => {
    expect(Timeout.isAttemptTimeoutError(error)).toBe(true)
    expect(Timeout.isAttemptTimeoutError(new Error("timed out"))).toBe(false)
  })
})

describe("Timeout.make", () => {
  const issuesOf = (options: Timeout.Options) =>
    Timeout.make(options).pipe(
      Effect.flip,
      Effect.map((error) => {
        expect(PolicyError.isInvalidPolicyError(error)).toBe(true)
        expect(error.policy).toBe("timeout")
        return error.issues
      }),
      Effect.scoped
    )

  it.effect("refuses a timeout that is not a positive, finite duration", () =>
    Effect.gen(function*() {
      expect(yield* issuesOf({ after: 0 })).toEqual(["after: must be > 0, got 0"])
      expect(yield* issuesOf({ after: "-1 seconds" })).toEqual(["after: must be > 0, got \"-1 seconds\""])
      expect(yield* issuesOf({ after: Duration.infinity })).toEqual(["after: must be finite, got Infinity"])
      expect(yield* issuesOf({ after: Number.NaN })).toEqual(["after: must be > 0, got NaN"])
    }))

  it.effect("lists every problem at once", () =>
    Effect.gen(function*() {
      const issues = yield* issuesOf({
        after: "5 sekonds" as Duration.DurationInput,
        key: "",
        timer: "wheel" as Timeout.Timer
      })
      expect(issues).toEqual([
        "after: must be a duration (e.g. \"500 millis\", \"2 seconds\"), got \"5 sekonds\"",
        "key: must be a non-empty string",
        "timer: must be \"shared\" or \"perCall\", got \"wheel\""
      ])
    }))

  it.scoped("keeps the validated options", () =>
    Effect.gen(function*() {
      const timeout = yield* Timeout.make({ after: "30 seconds" })
      expect(Duration.toMillis(timeout.after)).toBe(30_000)
      expect(timeout.key).toBe("default")
      expect(timeout.timer).toBe("shared")
    }))
})
