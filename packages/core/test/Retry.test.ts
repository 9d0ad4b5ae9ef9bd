import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import {
  Backoff,
  Classify,
  PolicyError,
  ProviderError,
  ResilienceEvent,
  ResilienceMetrics,
  Retry,
  SeededRandom
} from "../src/index.js"
import { failureOf, overloaded, rateLimited, runVirtual, scripted, unauthorized } from "./utils.js"

const noJitter = (base: Duration.DurationInput, max: Duration.DurationInput) =>
  Backoff.make({ base, max, jitter: "none" })

describe("Retry.retry", () => {
  it.effect("retries transient failures until one succeeds", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited() },
        { fail: overloaded() },
        { succeed: "hello" }
      ])
      const { exit } = yield* runVirtual(provider.call.pipe(Retry.retry(Retry.policy({ maxAttempts: 5 }))))
      expect(exit).toEqual(Exit.succeed("hello"))
      expect(provider.calls).toBe(3)
    }))

  it.effect("maxAttempts counts calls including the first, then fails with the last error", () =>
    Effect.gen(function*() {
      const errors = [overloaded(), overloaded(), overloaded(), overloaded()]
      const provider = scripted<string, ProviderError.ProviderError>(errors.map((fail) => ({ fail })))
      const { exit } = yield* runVirtual(Retry.retry(provider.call, Retry.policy({ maxAttempts: 3 })))
      expect(provider.calls).toBe(3)
      expect(failureOf(exit)).toBe(errors[2])
    }))

  it.effect("maxAttempts: 1 makes exactly one call", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ maxAttempts: 1 })))
      expect(provider.calls).toBe(1)
    }))

  it.effect("calls at exact instants: base 10 ms, cap 40 ms, no jitter, 5 attempts → 0, 10, 30, 70, 110 ms", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      const { endedAt } = yield* runVirtual(
        Retry.retry(provider.call, Retry.policy({ maxAttempts: 5, backoff: noJitter("10 millis", "40 millis") }))
      )
      expect(provider.instants).toEqual([0, 10, 30, 70, 110])
      expect(endedAt).toBe(110)
    }))

  it.effect("waits nothing before the first call and exactly the delay before each retry", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const fiber = yield* Effect.fork(
        Retry.retry(provider.call, Retry.policy({ backoff: noJitter("100 millis", "1 second") }))
      )
      yield* TestClock.adjust("99 millis")
      expect(provider.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(provider.instants).toEqual([0, 100])
    }))

  it.effect("honours Retry-After over a shorter backoff", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited("500 millis") },
        { succeed: "ok" }
      ])
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ backoff: noJitter("10 millis", "1 second") })))
      expect(provider.instants).toEqual([0, 500])
    }))

  it.effect("keeps a backoff longer than the Retry-After", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited("100 millis") },
        { succeed: "ok" }
      ])
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ backoff: noJitter("1 second", "5 seconds") })))
      expect(provider.instants).toEqual([0, 1000])
    }))

  it.effect.prop(
    "never retries before the Retry-After, whatever the jitter",
    {
      seed: FastCheck.integer(),
      retryAfter: FastCheck.integer({ min: 0, max: 60_000 }),
      jitter: FastCheck.constantFrom<Backoff.Options["jitter"]>(
        "full",
        "equal",
        "decorrelated",
        Backoff.proportional(1)
      )
    },
    ({ jitter, retryAfter, seed }) =>
      Effect.gen(function*() {
        const provider = scripted<string, ProviderError.ProviderError>([{ fail: rateLimited(retryAfter) }])
        yield* runVirtual(
          Retry.retry(
            provider.call,
            Retry.policy({ maxAttempts: 4, backoff: { base: "1 second", max: "20 seconds", jitter } })
          ).pipe(SeededRandom.withSeed(seed))
        )
        expect(provider.calls).toBe(4)
        // Compared as sums, as the clock computes wake-up instants: jittered waits make instants fractional, and
        // a difference of two of them can fall a rounding error short of a wait that was exactly the Retry-After.
        for (let n = 1; n < provider.instants.length; n++) {
          expect(provider.instants[n]).toBeGreaterThanOrEqual(provider.instants[n - 1] + retryAfter)
        }
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("never retries a permanent failure", () =>
    Effect.gen(function*() {
      const error = unauthorized()
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: error }, { succeed: "never" }])
      const { endedAt, exit } = yield* runVirtual(Retry.retry(provider.call, Retry.standard))
      expect(provider.calls).toBe(1)
      expect(failureOf(exit)).toBe(error)
      expect(endedAt).toBe(0)
    }))

  it.effect("never retries a defect", () =>
    Effect.gen(function*() {
      let calls = 0
      const { exit } = yield* runVirtual(
        Retry.retry(Effect.suspend(() => (calls++, Effect.die("bug"))), Retry.standard)
      )
      expect(calls).toBe(1)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    }))

  it.effect("never retries an interruption", () =>
    Effect.gen(function*() {
      let calls = 0
      const { exit } = yield* runVirtual(Retry.retry(Effect.suspend(() => (calls++, Effect.interrupt)), Retry.standard))
      expect(calls).toBe(1)
      expect(Exit.isInterrupted(exit)).toBe(true)
    }))

  it.effect("errors without a verdict are permanent by default, and retried with a classifier", () =>
    Effect.gen(function*() {
      class Busy {
        readonly _tag = "Busy"
      }
      const provider = scripted<string, Busy>([{ fail: new Busy() }, { succeed: "ok" }])
      yield* runVirtual(Retry.retry(provider.call, Retry.standard))
      expect(provider.calls).toBe(1)

      const classified = scripted<string, Busy>([{ fail: new Busy() }, { succeed: "ok" }])
      const { exit } = yield* runVirtual(
        Retry.retry(classified.call, Retry.policy({ classify: Classify.always(Classify.transient("Overloaded")) }))
      )
      expect(exit).toEqual(Exit.succeed("ok"))
      expect(classified.calls).toBe(2)
    }))

  it.effect("stops at once, without sleeping, on a Retry-After beyond the ceiling", () =>
    Effect.gen(function*() {
      const error = rateLimited("10 minutes")
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: error }, { succeed: "never" }])
      const { endedAt, exit } = yield* runVirtual(Retry.retry(provider.call, Retry.standard))
      expect(provider.calls).toBe(1)
      expect(endedAt).toBe(0)
      expect(failureOf(exit)).toBe(error)
    }))

  it.effect("waits for a Retry-After exactly at the ceiling", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: rateLimited("5 seconds") }, {
        succeed: "ok"
      }])
      yield* runVirtual(
        Retry.retry(provider.call, Retry.policy({ retryAfterCeiling: "5 seconds", backoff: noJitter(1, 1) }))
      )
      expect(provider.instants).toEqual([0, 5000])
    }))

  it.effect("stops at once when the next call would start after maxElapsed", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      const { endedAt } = yield* runVirtual(
        Retry.retry(
          provider.call,
          Retry.policy({ maxAttempts: 10, backoff: Schedule.spaced("100 millis"), maxElapsed: "250 millis" })
        )
      )
      expect(provider.instants).toEqual([0, 100, 200])
      expect(endedAt).toBe(200)
    }))

  it.effect("stops at once when a Retry-After would end past maxElapsed", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: rateLimited("30 seconds") }])
      const { endedAt } = yield* runVirtual(
        Retry.retry(provider.call, Retry.policy({ maxAttempts: 10, maxElapsed: "10 seconds" }))
      )
      expect(provider.calls).toBe(1)
      expect(endedAt).toBe(0)
    }))

  it.effect("stops when the backoff schedule ends", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      yield* runVirtual(
        Retry.retry(
          provider.call,
          Retry.policy({ maxAttempts: 10, backoff: Schedule.spaced(10).pipe(Schedule.upTo(25)) })
        )
      )
      expect(provider.instants).toEqual([0, 10, 20, 30])
    }))

  it.effect("hands the failure to the backoff schedule", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited() },
        { fail: overloaded() },
        { fail: rateLimited() }
      ])
      const seen: Array<string> = []
      const backoff = Schedule.spaced(10).pipe(
        Schedule.tapInput((failure: Retry.Failure<ProviderError.ProviderError>) =>
          Effect.sync(() => seen.push(`${failure.attempt}:${failure.verdict.reason}:${failure.error._tag}`))
        ),
        Schedule.whileInput((failure: Retry.Failure<ProviderError.ProviderError>) =>
          failure.verdict.reason !== "Overloaded"
        )
      )
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ maxAttempts: 10, backoff })))
      expect(seen).toEqual(["1:RateLimited:TransientError", "2:Overloaded:TransientError"])
      expect(provider.calls).toBe(2)
    }))

  it.effect("interrupting the caller during a backoff ends the wait and makes no further call", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const fiber = yield* Effect.fork(
        Retry.retry(provider.call, Retry.policy({ backoff: noJitter("1 second", "1 second") }))
      )
      yield* TestClock.adjust("500 millis")
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* TestClock.adjust("1 hour")
      expect(provider.calls).toBe(1)
    }))

  it.effect("keeps the error and success types of the effect", () =>
    Effect.gen(function*() {
      const call = Effect.fail(overloaded()) as Effect.Effect<number, ProviderError.TransientError>
      const retried = call.pipe(Retry.retry(Retry.standard))
      expectTypeOf(retried).toEqualTypeOf<Effect.Effect<number, ProviderError.TransientError>>()
      const typed = Retry.retry(call, Retry.policy({ classify: Classify.providerError }))
      expectTypeOf(typed).toEqualTypeOf<Effect.Effect<number, ProviderError.TransientError>>()
      yield* Effect.void
    }))

  it.effect("uses the default backoff: full jitter under 500 ms, then under 1 s", () =>
    Effect.gen(function*() {
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      yield* runVirtual(Retry.retry(provider.call, Retry.standard).pipe(SeededRandom.withSeed(1)))
      expect(provider.calls).toBe(3)
      const [first, second, third] = provider.instants
      expect(first).toBe(0)
      expect(second - first).toBeLessThanOrEqual(500)
      expect(third - second).toBeLessThanOrEqual(1000)
    }))
})

describe("Retry.policy", () => {
  it("has the documented defaults", () => {
    const policy = Retry.policy()
    expect(policy.maxAttempts).toBe(3)
    expect(Duration.toMillis(policy.retryAfterCeiling)).toBe(60_000)
    expect(Option.isNone(policy.maxElapsed)).toBe(true)
    expect(policy.key).toBe("default")
    expect(policy.tracing).toBe("auto")
  })

  it("lists every problem of invalid options in one typed error", () => {
    const result = Retry.validate({
      maxAttempts: 0,
      retryAfterCeiling: "-1 seconds",
      maxElapsed: Number.NaN,
      backoff: { base: "2 seconds", max: "1 second", factor: 0.5, jitter: Backoff.proportional(1) }
    })
    expect(Either.isLeft(result)).toBe(true)
    const error = Either.getLeft(result).pipe(Option.getOrThrow)
    expect(error._tag).toBe("InvalidPolicyError")
    expect(error.issues).toEqual([
      "maxAttempts: must be a whole number ≥ 1, got 0",
      "retryAfterCeiling: must be ≥ 0, got \"-1 seconds\"",
      "maxElapsed: must be > 0, got NaN",
      "backoff.max: must be ≥ base (2s), got \"1 second\"",
      "backoff.factor: must be a number in [1, 1000], got 0.5"
    ])
    expect(error.message).toContain("invalid retry policy: maxAttempts")
  })

  it("rejects non-integer, infinite and unreadable values", () => {
    const issues = (options: Retry.Options<unknown>) =>
      Either.match(Retry.validate(options), { onLeft: (e) => e.issues, onRight: () => [] })
    expect(issues({ maxAttempts: 2.5 })).toHaveLength(1)
    expect(issues({ maxAttempts: Number.POSITIVE_INFINITY })).toHaveLength(1)
    expect(issues({ retryAfterCeiling: Duration.infinity })).toEqual([
      "retryAfterCeiling: must be finite, got Infinity"
    ])
    expect(issues({ maxElapsed: "5 sekonds" as Duration.DurationInput })).toHaveLength(1)
    expect(issues({ maxElapsed: 0 })).toEqual(["maxElapsed: must be > 0, got 0"])
    expect(issues({ backoff: { base: 1, max: 2, jitter: "wild" as "full" } })).toHaveLength(1)
    expect(issues({ key: "" })).toEqual(["key: must be a non-empty string"])
  })

  it("throws the typed error where an invalid policy is defined", () => {
    expect(() => Retry.policy({ maxAttempts: -1 })).toThrow(PolicyError.InvalidPolicyError)
  })
})

describe("Retry observability", () => {
  it.scoped("publishes every decision as an event, in order, with exact instants", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited("2 seconds") },
        { fail: overloaded() },
        { succeed: "ok" }
      ])
      yield* runVirtual(
        Retry.retry(provider.call, Retry.policy({ key: "openai/gpt-4o", backoff: noJitter("500 millis", "5 seconds") }))
      )
      const events = Array.from(yield* Queue.takeAll(queue)).map(ResilienceEvent.format)
      expect(events).toEqual([
        "[openai/gpt-4o] attempt 1 started",
        "[openai/gpt-4o] attempt 1 failed: Transient RateLimited (retry-after 2s), will retry",
        "[openai/gpt-4o] retry 2 in 2s (provider's Retry-After, RateLimited)",
        "[openai/gpt-4o] attempt 2 started",
        "[openai/gpt-4o] attempt 2 failed: Transient Overloaded, will retry",
        "[openai/gpt-4o] retry 3 in 1s (backoff, Overloaded)",
        "[openai/gpt-4o] attempt 3 started",
        "[openai/gpt-4o] attempt 3 succeeded"
      ])
      const all = Array.from(yield* Queue.takeAll(queue))
      expect(all).toEqual([])
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("says why retrying stopped", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ maxAttempts: 2, backoff: noJitter(10, 10) })))
      const last = Array.from(yield* Queue.takeAll(queue)).at(-1)
      expect(last).toEqual(
        ResilienceEvent.RetriesExhausted({ key: "default", attempts: 2, at: 10, why: "MaxAttempts" })
      )
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.scoped("events never carry the error, its message or its cause", () =>
    Effect.gen(function*() {
      const queue = yield* ResilienceEvent.subscribe
      const secret = "sk-canary-0123456789"
      const error = new ProviderError.PermanentError({
        provider: "openai",
        reason: "Authentication",
        message: `Incorrect API key provided: ${secret}`,
        cause: new Error(`Authorization: Bearer ${secret}`)
      })
      yield* runVirtual(Retry.retry(Effect.fail(error), Retry.standard))
      const events = Array.from(yield* Queue.takeAll(queue))
      expect(events.length).toBeGreaterThan(0)
      const serialized = JSON.stringify(events) + events.map(ResilienceEvent.format).join("\n")
      expect(serialized).not.toContain(secret)
      expect(serialized).not.toContain("Bearer")
    }).pipe(Effect.provide(ResilienceEvent.layer())))

  it.effect("counts attempts by outcome and records retry delays", () =>
    Effect.gen(function*() {
      const key = "metrics-test"
      const provider = scripted<string, ProviderError.ProviderError>([
        { fail: rateLimited("300 millis") },
        { fail: overloaded() },
        { succeed: "ok" }
      ])
      yield* runVirtual(Retry.retry(provider.call, Retry.policy({ key, backoff: noJitter(100, 1000) })))
      yield* runVirtual(Retry.retry(Effect.fail(unauthorized()), Retry.policy({ key })))
      const count = (outcome: string) =>
        Metric.value(
          ResilienceMetrics.attempts.pipe(
            Metric.tagged("resilience.key", key),
            Metric.tagged("resilience.outcome", outcome)
          )
        ).pipe(Effect.map((state) => state.count))
      expect(yield* count("success")).toBe(1)
      expect(yield* count("transient")).toBe(2)
      expect(yield* count("permanent")).toBe(1)
      const delays = yield* Metric.value(
        ResilienceMetrics.retryDelay.pipe(
          Metric.tagged("resilience.key", key),
          Metric.tagged("resilience.basis", "RetryAfter")
        )
      )
      expect(delays.count).toBe(1)
      expect(delays.sum).toBe(300)
    }))

  it.effect("runs every call in its own span with attempt, verdict and delay", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
      const call = Effect.flatMap(Effect.currentSpan, (span) => {
        spans.push(span as Tracer.Span)
        return provider.call
      })
      yield* runVirtual(
        Retry.retry(call, Retry.policy({ key: "anthropic", backoff: noJitter(250, 250), tracing: true })).pipe(
          Effect.withSpan("caller")
        )
      )
      expect(spans.map((span) => span.name)).toEqual(["resilience.attempt", "resilience.attempt"])
      const [first, second] = spans.map((span) => Object.fromEntries(span.attributes))
      expect(first).toMatchObject({
        "resilience.key": "anthropic",
        "resilience.attempt": 1,
        "resilience.verdict": "Transient",
        "resilience.reason": "Overloaded",
        "resilience.retry.delay_ms": 250,
        "resilience.retry.basis": "Backoff"
      })
      expect(second).toMatchObject({ "resilience.attempt": 2 })
      expect(second).not.toHaveProperty("resilience.verdict")
      const parent = Option.getOrThrow(spans[0].parent)
      expect((parent as Tracer.Span).name).toBe("caller")
    }))

  it.effect("by default makes no span with effect's built-in tracer, whose spans reach no exporter", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const call = Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => names.push(span.name)))
      yield* Retry.retry(call, Retry.standard).pipe(Effect.withSpan("caller"))
      expect(names).toEqual(["caller"])
    }))

  it.effect("by default makes a span per call when an exporting tracer is installed", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const native = yield* Effect.tracer
      // A tracer of one's own, as @effect/opentelemetry installs: same spans, different identity.
      const exporting = Tracer.make({ span: (...args) => native.span(...args), context: (f) => f() })
      const call = Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => names.push(span.name)))
      yield* Retry.retry(call, Retry.standard).pipe(Effect.withSpan("caller"), Effect.withTracer(exporting))
      expect(names).toEqual(["resilience.attempt"])
    }))

  it.effect("makes no span when tracing is off", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const call = Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => names.push(span.name)))
      yield* Retry.retry(call, Retry.policy({ tracing: false })).pipe(Effect.withSpan("caller"))
      expect(names).toEqual(["caller"])
    }))
})
