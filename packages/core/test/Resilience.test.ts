import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Classify from "../src/Classify.js"
import * as ProviderError from "../src/ProviderError.js"
import * as Resilience from "../src/Resilience.js"
import * as StateStore from "../src/StateStore.js"
import * as Timeout from "../src/Timeout.js"
import { failureOf, overloaded, runVirtual, scripted } from "./utils.js"

const down = new ProviderError.TransientError({ provider: "p", reason: "Unavailable", status: 503, message: "down" })

describe("Resilience.make", () => {
  it.scoped("works with no configuration, with the documented defaults", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make()
      expect(yield* resilience.run(Effect.succeed("hello"), { key: "openai/gpt-4o" })).toBe("hello")
      expect(resilience.config.retry).toMatchObject({ maxAttempts: 3 })
      expect(resilience.config.attemptTimeout).toEqual(Duration.minutes(2))
      expect(resilience.config.rateLimiter).toBe(false)
      expect(resilience.config.deadline).toBe(false)
    }))

  it.effect("lists every problem of an invalid configuration in one typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Resilience.validate({
        retry: { maxAttempts: 0, backoff: { base: "2 seconds", max: "1 second" } },
        budget: { kind: "ratio", ratio: 2 },
        circuitBreaker: { trip: { kind: "ratio", ratio: 0.5, window: "-1 seconds", minimumThroughput: 0 } },
        bulkhead: { maxConcurent: 4 },
        attemptTimeout: "5 sekonds",
        retries: 3
      }))
      expect(error._tag).toBe("InvalidPolicyError")
      expect(error.issues).toEqual([
        "retries: is unexpected, expected: \"retry\" | \"budget\" | \"circuitBreaker\" | \"bulkhead\" | \"rateLimiter\" | \"attemptTimeout\" | \"deadline\"",
        "retry.maxAttempts: must be a whole number ≥ 1",
        "retry.backoff.max: must be ≥ base",
        "budget.ratio: must be a number in [0, 1]",
        "circuitBreaker.trip.window: must be ≥ 0, got \"-1 seconds\"",
        "circuitBreaker.trip.minimumThroughput: must be a whole number ≥ 1",
        "bulkhead.maxConcurent: is unexpected, expected: \"maxConcurrent\" | \"maxQueue\"",
        "attemptTimeout: must be a duration such as \"500 millis\" or \"2 seconds\", or a number of milliseconds, got \"5 sekonds\""
      ])
    }))

  it.scoped("turns a policy off with false", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ retry: false, circuitBreaker: false })
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const { exit } = yield* runVirtual(resilience.run(provider.call))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(provider.calls).toBe(1)
      expect(resilience.breaker("default")).toBeUndefined()
    }))
})

describe("Resilience pipeline order", () => {
  it.scoped("retries transient failures, keeping the error type and the last error", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ retry: { backoff: { base: 100, max: 100, jitter: "none" } } })
      const errors = [overloaded(), overloaded(), overloaded()]
      const provider = scripted<string, ProviderError.ProviderError>(errors.map((fail) => ({ fail })))
      const { endedAt, exit } = yield* runVirtual(resilience.run(provider.call, { key: "k" }))
      expect(provider.instants).toEqual([0, 100, 200])
      expect(endedAt).toBe(200)
      expect(failureOf(exit)).toBe(errors[2])
    }))

  it.scoped("a wait at the rate limiter spends none of the attempt timeout", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        rateLimiter: { requestsPerMinute: 60 },
        attemptTimeout: "1 second",
        retry: false
      })
      // Each call takes 900 ms; the limiter admits one per second, so the third waits 2 s for admission.
      const call = Effect.sleep("900 millis").pipe(Effect.as("done"))
      const { exit } = yield* runVirtual(
        Effect.all([resilience.run(call), resilience.run(call), resilience.run(call)], { concurrency: "unbounded" })
      )
      expect(exit).toEqual(Exit.succeed(["done", "done", "done"]))
    }))

  it.scoped("a call the breaker refuses reaches no provider and costs the retry budget nothing", () =>
    Effect.gen(function*() {
      const store = yield* StateStore.StateStore
      const resilience = yield* Resilience.make({
        circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } },
        budget: { kind: "tokenBucket", maxTokens: 10, tokenRatio: 0.1 },
        retry: { maxAttempts: 1 }
      })
      const settings = { _tag: "TokenBucket", maxTokens: 10, tokenRatio: 0.1 } as const
      const calls = yield* Ref.make(0)
      const provider = Ref.update(calls, (n) => n + 1).pipe(Effect.zipRight(Effect.fail(down)))
      yield* resilience.run(provider, { key: "k" }).pipe(Effect.exit)
      expect(yield* store.budget.level("k", 0, settings)).toBe(9)
      // the breaker is open now: ten more calls are refused without reaching the provider
      for (let i = 0; i < 10; i++) {
        const exit = yield* resilience.run(provider, { key: "k" }).pipe(Effect.exit)
        expect(Exit.isFailure(exit) && failureOf(exit)._tag).toBe("CircuitOpenError")
      }
      expect(yield* Ref.get(calls)).toBe(1)
      expect(yield* store.budget.level("k", 0, settings)).toBe(9)
    }).pipe(Effect.provide(StateStore.layerMemory())))

  it.scoped("a Retry-After longer than the remaining deadline fails at once", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ deadline: "10 seconds" })
      const error = new ProviderError.TransientError({
        provider: "p",
        reason: "RateLimited",
        status: 429,
        retryAfter: Duration.seconds(30),
        message: "slow down"
      })
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: error }, { succeed: "late" }])
      const { endedAt, exit } = yield* runVirtual(resilience.run(provider.call))
      expect(endedAt).toBe(0)
      expect(provider.calls).toBe(1)
      expect(failureOf(exit)).toBe(error)
    }))

  it.scoped("a retry waits for the open breaker's half-open instant instead of hammering it", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 2 },
          breakDuration: { base: "5 seconds", max: "5 seconds", jitter: "none" }
        },
        retry: { maxAttempts: 4, backoff: { base: 100, max: 100, jitter: "none" } },
        budget: false
      })
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: overloaded() },
        { fail: overloaded() },
        { succeed: "back" }
      ])
      const { exit } = yield* runVirtual(resilience.run(provider.call, { key: "k" }))
      expect(exit).toEqual(Exit.succeed("back"))
      // 2 failures open the breaker at 100 ms; the third attempt is refused and waits for half-open at 5100 ms
      expect(provider.instants).toEqual([0, 100, 5100])
    }))

  it.scoped("uses the given classifier for the call's own errors", () =>
    Effect.gen(function*() {
      class Busy {
        readonly _tag = "Busy"
      }
      const resilience = yield* Resilience.make(
        { retry: { backoff: { base: 10, max: 10, jitter: "none" } } },
        {
          classify: (error: unknown) =>
            error instanceof Busy ? Classify.transient("Overloaded") : Classify.permanent("Unknown")
        }
      )
      const provider = scripted<string, Busy>([{ fail: new Busy() }, { succeed: "ok" }])
      const { exit } = yield* runVirtual(resilience.run(provider.call))
      expect(exit).toEqual(Exit.succeed("ok"))
    }))
})

describe("Resilience under a full outage", () => {
  it.scoped("budget and breaker keep provider calls per logical request at most 1.10", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({ attemptTimeout: false })
      const calls = yield* Ref.make(0)
      const provider = Ref.update(calls, (n) => n + 1).pipe(Effect.zipRight(Effect.fail(down)))
      const requests = 300
      // one request every 200 ms for 60 s, all against a provider that is down
      yield* runVirtual(
        Effect.forEach(
          Array.from({ length: requests }, (_, i) => i),
          (i) => resilience.run(provider, { key: "openai" }).pipe(Effect.delay(i * 200), Effect.either),
          { concurrency: "unbounded", discard: true }
        ),
        "1 day"
      )
      const amplification = (yield* Ref.get(calls)) / requests
      // a plain 3-attempt retry would send 3.0
      expect(amplification).toBeLessThanOrEqual(1.1)
    }))
})

describe("Resilience.layerConfig", () => {
  it.effect("reads the configuration from effect's Config", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.Resilience
      expect(resilience.config.retry).toMatchObject({ maxAttempts: 5 })
      expect(resilience.config.attemptTimeout).toEqual(Duration.seconds(30))
      expect(yield* resilience.run(Effect.succeed(1), { key: "k" })).toBe(1)
    }).pipe(
      Effect.provide(Resilience.layerConfig(
        Config.all({
          retry: Config.all({ maxAttempts: Config.integer("RETRY_MAX_ATTEMPTS") }),
          attemptTimeout: Config.string("ATTEMPT_TIMEOUT")
        })
      )),
      Effect.withConfigProvider(
        ConfigProvider.fromMap(new Map([["RETRY_MAX_ATTEMPTS", "5"], ["ATTEMPT_TIMEOUT", "30 seconds"]]))
      )
    ))

  it.effect("fails the layer with the typed error when the values are invalid", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(Resilience.layerConfig(Config.succeed({ retry: { maxAttempts: -1 } }))).pipe(Effect.scoped)
      )
      expect(error._tag).toBe("InvalidPolicyError")
    }))
})

describe("Resilience.isPolicyRejection", () => {
  it("tells the policies' refusals from the call's own failures", () => {
    expect(Resilience.isPolicyRejection(new CircuitBreaker.CircuitOpenError({ key: "k", state: "Open" }))).toBe(true)
    expect(Resilience.isPolicyRejection(new Timeout.AttemptTimeoutError({ key: "k", after: Duration.seconds(1) })))
      .toBe(true)
    expect(Resilience.isPolicyRejection(down)).toBe(false)
  })
})

describe("Resilience.run options", () => {
  it.scoped("retry: false makes the call once, every other policy still applying", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 1 },
          breakDuration: { base: "1 day", max: "1 day", jitter: "none" }
        }
      })
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const { exit } = yield* runVirtual(resilience.run(provider.call, { key: "once", retry: false }))
      expect(provider.calls).toBe(1)
      expect(Exit.isFailure(exit)).toBe(true)
      // the failure still counted: the breaker is open
      const refused = yield* Effect.exit(resilience.run(provider.call, { key: "once", retry: false }))
      expect(Exit.isFailure(refused) && failureOf(refused)._tag).toBe("CircuitOpenError")
    }))
})

describe("Resilience per-key policies", () => {
  /** How many finalizers a scope holds (effect's scope keeps them in `state.finalizers` while open). */
  const finalizers = (scope: Scope.Scope): number => {
    const state = (scope as unknown as { readonly state: { readonly finalizers?: Map<unknown, unknown> } }).state
    expect(state.finalizers).toBeInstanceOf(Map)
    return state.finalizers!.size
  }

  it.effect("an effect of a key's first call, run again and again, makes the key's timeout once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const pipeline = yield* Resilience.make({ attemptTimeout: "30 seconds", rateLimiter: { requestsPerMinute: 6e6 } })
        .pipe(Scope.extend(scope))
      const before = finalizers(scope)
      const first = pipeline.run(Effect.succeed("ok"), { key: "openai/gpt-4o" })
      yield* first
      const afterOne = finalizers(scope)
      yield* Effect.repeatN(first, 999)
      // Every key's timeout is a name on the pipeline's one timer: a key adds no finalizer.
      expect(afterOne).toBe(before)
      expect(finalizers(scope)).toBe(afterOne)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("keys hold no timeout of their own: 10,050 keys add no finalizer to the pipeline's scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const pipeline = yield* Resilience.make({ attemptTimeout: "30 seconds" }).pipe(Scope.extend(scope))
      const before = finalizers(scope)
      for (let i = 0; i < 10_050; i++) yield* pipeline.run(Effect.void, { key: `tenant-${i}` })
      expect(finalizers(scope)).toBe(before)
      yield* Scope.close(scope, Exit.void)
    }))
})

describe("Resilience rate limiter configuration", () => {
  it.scoped("takes the buckets' burst from the configuration", () =>
    Effect.gen(function*() {
      const pipeline = yield* Resilience.make({
        retry: false,
        rateLimiter: { requestsPerMinute: 60, burst: { requests: 3 }, onExceeded: "fail" }
      })
      const results: Array<string> = []
      for (let i = 0; i < 4; i++) {
        const exit = yield* Effect.exit(pipeline.run(Effect.succeed("ok"), { key: "openai/gpt-4o" }))
        results.push(Exit.isSuccess(exit) ? "ok" : "refused")
      }
      expect(results).toEqual(["ok", "ok", "ok", "refused"])
    }))

  it.effect("refuses a burst that is not a whole number ≥ 1", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Resilience.validate({ rateLimiter: { burst: { requests: 0, tokens: 1.5 } } }))
      expect(error.issues.length).toBe(2)
      expect(error.issues.every((issue) => issue.startsWith("rateLimiter.burst."))).toBe(true)
    }))
})
