/**
 * The default pipeline under a seeded storm: failures, hangs, 429s, permanent errors and interruptions at random
 * instants, so that calls end at every stage of `Resilience.run` (waiting for admission, for a bulkhead slot, for an
 * open breaker, in backoff, mid-attempt). Whatever happened, every call ends (no hang), ends the way the README
 * says (a value, a typed error, or interrupted because it was interrupted), and gives back what it took: bulkhead
 * slots and learned admission's cold-start slots are counted afterwards. Run on the simulator's virtual runtime
 * (effect's `TestClock` wakes one sleep at a time with a real timer in between: minutes here, milliseconds there).
 */
import { ProviderError, Resilience } from "@effect-resilience/core"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Random, type Scope } from "effect"
import * as VirtualRuntime from "../src/VirtualRuntime.js"

const down = new ProviderError.TransientError({ provider: "p", reason: "Unavailable", status: 503, message: "down" })
const rateLimited = new ProviderError.TransientError({
  provider: "p",
  reason: "RateLimited",
  status: 429,
  retryAfter: Duration.millis(250),
  message: "slow down"
})
const invalid = new ProviderError.PermanentError({
  provider: "p",
  reason: "InvalidRequest",
  status: 400,
  message: "bad"
})

const keys = ["a", "b", "c"] as const

interface Storm {
  /** How each call ended: "success", "typed" (a provider error or a policy's refusal) or "interrupted". */
  readonly ends: Record<"success" | "typed" | "interrupted", number>
  /** The typed errors' tags, each with how many calls ended with it. */
  readonly errors: Record<string, number>
  /** Attempts that returned a value, per key (each widens learned admission's cold-start window by one). */
  readonly succeededAttempts: Record<string, number>
}

/**
 * Forks `calls` calls over three keys; each attempt draws its outcome and latency. A quarter of the calls are
 * interrupted at a random instant in their first 2 s. Fails the run when a call ends in a way not documented.
 */
const storm = (
  pipeline: Resilience.Service,
  options: { readonly calls: number; readonly seed: number; readonly rateLimits: boolean }
) =>
  Effect.gen(function*() {
    // The storm's own draws, apart from the pipeline's jitter (seeded in `run`).
    const random = Random.make(options.seed)
    const succeededAttempts: Record<string, number> = { a: 0, b: 0, c: 0 }
    const interrupted = new Set<number>()
    const fibers: Array<Fiber.RuntimeFiber<number, unknown>> = []
    for (let i = 0; i < options.calls; i++) {
      const key = keys[i % keys.length]
      const attempt = Effect.gen(function*() {
        const draw = yield* random.next
        const latency = Duration.millis(yield* random.nextIntBetween(0, 400))
        const outcome: Effect.Effect<number, ProviderError.ProviderError> = draw < 0.45 ?
          Effect.sync(() => {
            succeededAttempts[key]++
            return i
          }) :
          draw < 0.65 ?
          Effect.fail(down) :
          draw < 0.75 ?
          Effect.fail(options.rateLimits ? rateLimited : down) :
          draw < 0.8 ?
          Effect.fail(invalid) :
          Effect.never
        return yield* Effect.delay(outcome, latency)
      })
      const fiber = yield* Effect.fork(pipeline.run(attempt, { key }))
      fibers.push(fiber)
      if ((yield* random.next) < 0.25) {
        interrupted.add(i)
        const after = Duration.millis(yield* random.nextIntBetween(0, 2_000))
        yield* Effect.forkDaemon(Effect.delay(Fiber.interrupt(fiber), after))
      }
      if (i % 20 === 19) yield* Effect.sleep("37 millis")
    }
    const exits = yield* Effect.forEach(fibers, Fiber.await)
    const ends = { success: 0, typed: 0, interrupted: 0 }
    const errors: Record<string, number> = {}
    exits.forEach((exit, i) => {
      if (Exit.isSuccess(exit)) return void ends.success++
      if (Exit.isInterrupted(exit)) {
        assert.isTrue(interrupted.has(i), `call ${i} was interrupted, not by the test`)
        return void ends.interrupted++
      }
      const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      if (!ProviderError.isProviderError(failure) && !Resilience.isPolicyRejection(failure)) {
        return assert.fail(`call ${i} ended with ${String(exit.cause)}`)
      }
      ends.typed++
      errors[failure._tag] = (errors[failure._tag] ?? 0) + 1
    })
    return { ends, errors, succeededAttempts } satisfies Storm
  })

/** Forks `n` calls that wait on a gate, lets them reach it, and counts those that started. */
const startedOf = (pipeline: Resilience.Service, key: string, n: number) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    let started = 0
    const call = pipeline.run(Effect.zipRight(Effect.sync(() => started++), Deferred.await(gate)), {
      key,
      retry: false
    })
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(call))
    yield* Effect.sleep("1 millis")
    const startedAtOnce = started
    const waiting = fibers.filter((fiber) => fiber.unsafePoll() === null).length
    yield* Deferred.succeed(gate, undefined)
    const exits = yield* Effect.forEach(fibers, Fiber.await)
    return { started: startedAtOnce, waiting, succeeded: exits.filter(Exit.isSuccess).length }
  })

const run = <A>(program: Effect.Effect<A, unknown, Scope.Scope>): A => {
  // The pipeline's own jitter draws from a seeded `Random` too: the same storm on every run.
  const result = VirtualRuntime.runSync(Effect.withRandom(Effect.scoped(program), Random.make(42)), {
    horizon: "1 hour"
  })
  assert.isDefined(result.exit, "the storm did not end within the horizon: a call hangs")
  if (Exit.isFailure(result.exit!)) assert.fail(String(result.exit.cause))
  return (result.exit as Exit.Success<A, never>).value
}

/** The storm reached every stage: calls ended with a value, interrupted, and with each kind of typed error. */
const everyEndHappened = ({ ends, errors }: Storm) => {
  assert.isAbove(ends.success, 20)
  assert.isAbove(ends.interrupted, 20)
  for (const tag of ["TransientError", "PermanentError", "AttemptTimeoutError", "CircuitOpenError"]) {
    assert.isAbove(errors[tag] ?? 0, 0, `no call ended with ${tag}`)
  }
}

describe("the pipeline under a seeded storm", () => {
  it("every call ends, as documented, and every bulkhead slot is given back", () => {
    const { after, storm: result } = run(Effect.gen(function*() {
      const pipeline = yield* Resilience.make({
        rateLimiter: false,
        bulkhead: { maxConcurrent: 4, maxQueue: 6 },
        attemptTimeout: "300 millis",
        retry: { maxAttempts: 4, backoff: { base: "20 millis", max: "200 millis" } },
        circuitBreaker: { trip: { kind: "consecutive", threshold: 8 }, breakDuration: { base: "500 millis" } }
      })
      const result = yield* storm(pipeline, { calls: 1_500, seed: 7, rateLimits: true })
      const after = yield* Effect.forEach(
        keys,
        (key) => Effect.zipRight(pipeline.breaker(key)!.reset, startedOf(pipeline, key, 10))
      )
      return { storm: result, after }
    }))
    everyEndHappened(result)
    // 4 slots and 6 places in the queue on every key: 4 start, 6 wait, none is refused.
    assert.deepStrictEqual(after, keys.map(() => ({ started: 4, waiting: 10, succeeded: 10 })))
  })

  it("every call ends, and learned admission's cold-start window has every slot back", () => {
    const { after, storm: result } = run(Effect.gen(function*() {
      // The defaults but a short attempt timeout and no bulkhead; no 429 in this storm, so each key keeps its
      // cold-start window: 10 attempts in flight, one more per attempt that succeeded.
      const pipeline = yield* Resilience.make({
        bulkhead: false,
        attemptTimeout: "300 millis",
        retry: { maxAttempts: 4, backoff: { base: "20 millis", max: "200 millis" } },
        circuitBreaker: { trip: { kind: "consecutive", threshold: 8 }, breakDuration: { base: "500 millis" } }
      })
      const result = yield* storm(pipeline, { calls: 1_500, seed: 11, rateLimits: false })
      const after = yield* Effect.forEach(keys, (key) =>
        Effect.zipRight(
          pipeline.breaker(key)!.reset,
          startedOf(pipeline, key, 10 + result.succeededAttempts[key] + 20)
        ))
      return { storm: result, after }
    }))
    everyEndHappened(result)
    // Exactly the window starts, the 20 beyond it wait, and all end once the gate opens: a slot kept by a call
    // that ended would start one fewer, a slot given back twice one more.
    assert.deepStrictEqual(
      after,
      keys.map((key) => {
        const window = 10 + result.succeededAttempts[key]
        return { started: window, waiting: window + 20, succeeded: window + 20 }
      })
    )
  })
})
