import { Backoff, PolicyError, ProviderError, Retry } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { FaultInjection, SeededRandom, VirtualTime } from "../src/index.js"

/** A decision as one comparable line: what happened and how long the answer took. */
const show = (decision: FaultInjection.Decision): string =>
  `${decision._tag === "Injected" ? decision.kind : decision._tag}+${Duration.toMillis(decision.latency)}ms`

/**
 * Makes `n` calls through a fresh injector, all at the current instant, and gives its decisions without
 * waiting for the latencies: each call is decided when it starts, and `TestClock.adjust` waits until every
 * call has started (is done or sleeping) before it returns.
 */
const decisionsOf = (config: FaultInjection.Config, n: number) =>
  Effect.gen(function*() {
    const injector = yield* FaultInjection.make(config)
    yield* Effect.forEach(
      Array.from({ length: n }),
      () => Effect.fork(Effect.exit(FaultInjection.inject(Effect.void, injector))),
      { discard: true }
    )
    yield* TestClock.adjust(Duration.zero)
    return yield* injector.decisions
  })

const chaos: FaultInjection.Config = {
  errors: { overloaded: 0.2, serverError: 0.1, unauthorized: 0.05 },
  latency: { kind: "uniform", min: "10 millis", max: "500 millis" }
}

describe("FaultInjection", () => {
  it.effect("lets every call through at once when nothing is configured", () =>
    Effect.gen(function*() {
      const injector = yield* FaultInjection.make()
      expect(yield* Effect.succeed("hello").pipe(FaultInjection.inject(injector))).toBe("hello")
      expect(yield* injector.decisions).toEqual([{ _tag: "Passed", at: 0, latency: Duration.zero }])
    }))

  it.effect("the same seed gives the same faults; a different seed, different ones", () =>
    Effect.gen(function*() {
      const first = (yield* decisionsOf(chaos, 200).pipe(SeededRandom.withSeed("run-1"))).map(show)
      const again = (yield* decisionsOf(chaos, 200).pipe(SeededRandom.withSeed("run-1"))).map(show)
      const other = (yield* decisionsOf(chaos, 200).pipe(SeededRandom.withSeed("run-2"))).map(show)
      expect(again).toEqual(first)
      expect(other).not.toEqual(first)
      // Faults were injected at all, of every kind configured.
      expect(new Set(first.map((line) => line.split("+")[0]))).toEqual(
        new Set(["Passed", "overloaded", "serverError", "unauthorized"])
      )
    }))

  it.effect("the same seed gives the same faults through SeededRandom.layer too", () =>
    Effect.gen(function*() {
      const viaLayer = yield* decisionsOf(chaos, 50).pipe(Effect.provide(SeededRandom.layer(7)))
      const viaWithSeed = yield* decisionsOf(chaos, 50).pipe(SeededRandom.withSeed(7))
      expect(viaLayer.map(show)).toEqual(viaWithSeed.map(show))
    }))

  it.effect("with its own seed, faults do not shift when other code draws from Random", () =>
    Effect.gen(function*() {
      const config: FaultInjection.Config = { ...chaos, seed: 3 }
      const quiet = yield* decisionsOf(config, 100)
      const noisy = yield* Effect.gen(function*() {
        const injector = yield* FaultInjection.make(config)
        yield* Effect.forEach(Array.from({ length: 100 }), () =>
          // A jittered backoff drawing before each call, as a retry policy would.
          Effect.zipRight(
            Backoff.delays(Backoff.standard, 3),
            Effect.fork(Effect.exit(FaultInjection.inject(Effect.void, injector)))
          ))
        yield* TestClock.adjust(Duration.zero)
        return yield* injector.decisions
      })
      expect(noisy.map(show)).toEqual(quiet.map(show))
    }))

  it.effect("injects each kind at its rate, within bounds, over many calls", () =>
    Effect.gen(function*() {
      const n = 20_000
      const decisions = yield* decisionsOf(
        { errors: { overloaded: 0.1, serverError: 0.05, unauthorized: 0.02 }, provider: "openai" },
        n
      ).pipe(SeededRandom.withSeed("rates"))
      const count = (kind: string) => decisions.filter((d) => d._tag === "Injected" && d.kind === kind).length
      // Five standard deviations of a binomial count either side of its mean.
      const within = (observed: number, p: number) => {
        const mean = n * p
        const sd = Math.sqrt(n * p * (1 - p))
        expect(observed).toBeGreaterThan(mean - 5 * sd)
        expect(observed).toBeLessThan(mean + 5 * sd)
      }
      within(count("overloaded"), 0.1)
      within(count("serverError"), 0.05)
      within(count("unauthorized"), 0.02)
      within(decisions.filter((d) => d._tag === "Passed").length, 0.83)
    }))

  it.effect("injected errors are real ProviderErrors: transient or permanent by kind, with Retry-After when set", () =>
    Effect.gen(function*() {
      const overloaded = yield* FaultInjection.make({ errors: { overloaded: 1 }, provider: "anthropic" })
      const a = yield* Effect.flip(FaultInjection.inject(Effect.void, overloaded))
      expect(ProviderError.isTransientError(a) && a.reason === "Overloaded" && a.status === 529).toBe(true)
      expect(a.provider).toBe("anthropic")
      expect(a.message).toBe("anthropic: overloaded (injected, 529)")

      const unauthorized = yield* FaultInjection.make({ errors: { unauthorized: 1 } })
      const b = yield* Effect.flip(FaultInjection.inject(Effect.void, unauthorized))
      expect(ProviderError.isPermanentError(b) && b.reason === "Authentication" && b.status === 401).toBe(true)

      const limited = yield* FaultInjection.make({ errors: { rateLimited: { rate: 1, retryAfter: "2 seconds" } } })
      const c = yield* Effect.flip(FaultInjection.inject(Effect.void, limited))
      expect(ProviderError.retryAfter(c)).toEqual(Option.some(Duration.seconds(2)))
    }))

  it.effect("an effect that fails on its own keeps its error when the injector lets it through", () =>
    Effect.gen(function*() {
      const injector = yield* FaultInjection.make()
      expect(yield* Effect.flip(FaultInjection.inject(Effect.fail("mine" as const), injector))).toBe("mine")
    }))

  describe("outage windows", () => {
    it.effect("a 503 outage from t = 10 s to t = 70 s: starts at 10 000 ms, ends at 70 000 ms exactly", () =>
      Effect.gen(function*() {
        const injector = yield* FaultInjection.make({ outages: [{ from: "10 seconds", to: "70 seconds" }] })
        const callAt = (millis: number) =>
          Effect.zipRight(TestClock.setTime(millis), Effect.exit(FaultInjection.inject(Effect.succeed("ok"), injector)))
        const outcomes = yield* Effect.forEach([0, 9_999, 10_000, 40_000, 69_999, 70_000], callAt)
        expect(outcomes.map((exit) => Exit.isSuccess(exit) ? "ok" : "503")).toEqual([
          "ok",
          "ok",
          "503",
          "503",
          "503",
          "ok"
        ])
        const outage = (yield* injector.decisions)[2]
        expect(outage._tag).toBe("Outage")
        if (outage._tag === "Outage") {
          expect([outage.error._tag, outage.error.reason, outage.error.status]).toEqual([
            "TransientError",
            "Unavailable",
            503
          ])
          expect(outage.error.message).toBe(
            "fault-injection: service unavailable (injected outage from 10s to 1m 10s, 503)"
          )
        }
      }))

    it.effect("windows count from the start given, not from when the injector was made", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_000)
        const injector = yield* FaultInjection.make({
          start: 5_000,
          outages: [{ from: "1 second", to: "2 seconds", error: "overloaded", retryAfter: "3 seconds" }]
        })
        expect(injector.start).toBe(5_000)
        const callAt = (millis: number) =>
          Effect.zipRight(TestClock.setTime(millis), Effect.exit(FaultInjection.inject(Effect.void, injector)))
        const outcomes = yield* Effect.forEach([5_999, 6_000, 6_999, 7_000], callAt)
        expect(outcomes.map(Exit.isSuccess)).toEqual([true, false, false, true])
        const [, during] = yield* injector.decisions
        expect(during._tag === "Outage" && [during.error.reason, ProviderError.retryAfter(during.error)]).toEqual([
          "Overloaded",
          Option.some(Duration.seconds(3))
        ])
      }))

    it.effect("without a start, windows count from when the injector was made", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(60_000)
        const injector = yield* FaultInjection.make({ outages: [{ from: "0 millis", to: "10 millis" }] })
        expect(injector.start).toBe(60_000)
        expect(Exit.isFailure(yield* Effect.exit(FaultInjection.inject(Effect.void, injector)))).toBe(true)
        yield* TestClock.adjust("10 millis")
        expect(Exit.isSuccess(yield* Effect.exit(FaultInjection.inject(Effect.void, injector)))).toBe(true)
      }))
  })

  describe("rate limit", () => {
    it.effect("answers 429 with the time until the next token when the bucket is empty, and refills", () =>
      Effect.gen(function*() {
        // 3 per 3 seconds: a burst of 3, then one token every second.
        const injector = yield* FaultInjection.make({ rateLimit: { limit: 3, window: "3 seconds" } })
        const call = Effect.exit(FaultInjection.inject(Effect.succeed("ok"), injector))
        expect((yield* Effect.all([call, call, call])).map(Exit.isSuccess)).toEqual([true, true, true])

        const empty = yield* Effect.flip(FaultInjection.inject(Effect.void, injector))
        expect([empty.reason, empty.status, ProviderError.retryAfter(empty)]).toEqual([
          "RateLimited",
          429,
          Option.some(Duration.millis(1_000))
        ])
        expect(empty.message).toBe(
          "fault-injection: rate limit of 3 per 3s reached (injected, 429); retry after 1s"
        )

        yield* TestClock.setTime(999)
        const almost = yield* Effect.flip(FaultInjection.inject(Effect.void, injector))
        expect(ProviderError.retryAfter(almost)).toEqual(Option.some(Duration.millis(1)))

        yield* TestClock.setTime(1_000)
        expect(yield* call).toEqual(Exit.succeed("ok"))
        const next = yield* Effect.flip(FaultInjection.inject(Effect.void, injector))
        expect(ProviderError.retryAfter(next)).toEqual(Option.some(Duration.millis(1_000)))

        // A long pause refills the bucket to its capacity, not beyond.
        yield* TestClock.setTime(3_600_000)
        expect((yield* Effect.all([call, call, call, call])).map(Exit.isSuccess)).toEqual([true, true, true, false])
      }))

    it.effect.prop(
      "law: the bucket's Retry-After is exact: waiting it is enough, 1 ms less is not",
      {
        limit: FastCheck.integer({ min: 1, max: 50 }),
        windowMillis: FastCheck.integer({ min: 1, max: 120_000 }),
        gaps: FastCheck.array(FastCheck.integer({ min: 0, max: 5_000 }), { maxLength: 20 })
      },
      ({ gaps, limit, windowMillis }) =>
        Effect.gen(function*() {
          const injector = yield* FaultInjection.make({ rateLimit: { limit, window: Duration.millis(windowMillis) } })
          const admitted = Effect.map(Effect.exit(FaultInjection.inject(Effect.void, injector)), Exit.isSuccess)
          for (const gap of [0, ...gaps]) {
            yield* TestClock.adjust(Duration.millis(gap))
            const refused = yield* Effect.option(Effect.flip(FaultInjection.inject(Effect.void, injector)))
            if (Option.isNone(refused)) continue
            const retryAfter = Duration.toMillis(Option.getOrThrow(ProviderError.retryAfter(refused.value)))
            expect(retryAfter).toBeGreaterThanOrEqual(1)
            yield* TestClock.adjust(Duration.millis(retryAfter - 1))
            expect(yield* admitted).toBe(false)
            yield* TestClock.adjust(Duration.millis(1))
            expect(yield* admitted).toBe(true)
          }
        }),
      { fastCheck: { numRuns: 20 } }
    )

    it.effect("a call refused by the rate limit is retried after exactly its Retry-After", () =>
      Effect.gen(function*() {
        const injector = yield* FaultInjection.make({ rateLimit: { limit: 1, window: "2 seconds" } })
        const call = FaultInjection.inject(Effect.succeed("ok"), injector)
        const policy = Retry.policy({ backoff: Backoff.make({ base: "100 millis", max: "1 second", jitter: "none" }) })
        const { endedAt, exit } = yield* VirtualTime.run(Effect.all([call, Retry.retry(call, policy)]))
        expect(exit).toEqual(Exit.succeed(["ok", "ok"]))
        expect(endedAt).toBe(2_000)
        expect((yield* injector.decisions).map((d) => [d._tag, d.at])).toEqual([
          ["Passed", 0],
          ["RateLimited", 0],
          ["Passed", 2_000]
        ])
      }))

    it.effect("outage calls take no token; admitted calls take one even when an error is then injected", () =>
      Effect.gen(function*() {
        const injector = yield* FaultInjection.make({
          rateLimit: { limit: 1, window: "1 minute" },
          outages: [{ from: "0 millis", to: "1 second" }],
          errors: { serverError: 1 }
        })
        const call = Effect.exit(FaultInjection.inject(Effect.void, injector))
        yield* call
        yield* TestClock.setTime(1_000)
        yield* call
        yield* call
        expect((yield* injector.decisions).map((d) => d._tag)).toEqual(["Outage", "Injected", "RateLimited"])
      }))
  })

  describe("latency", () => {
    it.effect("a fixed latency delays every answer, success or failure, by exactly its duration", () =>
      Effect.gen(function*() {
        const injector = yield* FaultInjection.make({ latency: { kind: "fixed", duration: "250 millis" } })
        const ok = yield* VirtualTime.run(FaultInjection.inject(Effect.succeed("ok"), injector))
        expect(ok).toEqual({ exit: Exit.succeed("ok"), endedAt: 250 })
        const failing = yield* FaultInjection.make({
          latency: { kind: "fixed", duration: "100 millis" },
          errors: { timeout: 1 }
        })
        // `VirtualTime.run` moved the clock by its whole horizon: measure from where it stands now.
        const startedAt = yield* Clock.currentTimeMillis
        const failed = yield* VirtualTime.run(FaultInjection.inject(Effect.succeed("ok"), failing))
        expect(Exit.isFailure(failed.exit)).toBe(true)
        expect(failed.endedAt - startedAt).toBe(100)
      }))

    it.effect("uniform latencies stay within [min, max] and are whole milliseconds", () =>
      Effect.gen(function*() {
        const decisions = yield* decisionsOf(
          { latency: { kind: "uniform", min: "100 millis", max: "300 millis" } },
          500
        )
          .pipe(SeededRandom.withSeed(1))
        const millis = decisions.map((d) => Duration.toMillis(d.latency))
        expect(millis.every((ms) => ms >= 100 && ms <= 300 && Number.isInteger(ms))).toBe(true)
        const mean = millis.reduce((a, b) => a + b, 0) / millis.length
        expect(mean).toBeGreaterThan(180)
        expect(mean).toBeLessThan(220)
      }))

    it.effect("exponential latencies have about the mean asked for and never exceed the cap", () =>
      Effect.gen(function*() {
        const decisions = yield* decisionsOf(
          { latency: { kind: "exponential", mean: "200 millis", max: "1 second" } },
          2_000
        )
          .pipe(SeededRandom.withSeed(2))
        const millis = decisions.map((d) => Duration.toMillis(d.latency))
        expect(Math.max(...millis)).toBeLessThanOrEqual(1_000)
        expect(Math.min(...millis)).toBeGreaterThanOrEqual(0)
        // The cap at 5 means takes e^-5 ≈ 0.7 % of the mass: the mean stays close to 200 ms.
        const mean = millis.reduce((a, b) => a + b, 0) / millis.length
        expect(mean).toBeGreaterThan(180)
        expect(mean).toBeLessThan(220)
      }))

    it.effect("a latency rate delays only that share of calls", () =>
      Effect.gen(function*() {
        const decisions = yield* decisionsOf({ latency: { kind: "fixed", duration: "1 second", rate: 0.25 } }, 2_000)
          .pipe(SeededRandom.withSeed(3))
        const delayed = decisions.filter((d) => Duration.toMillis(d.latency) === 1_000).length
        expect(delayed).toBeGreaterThan(400)
        expect(delayed).toBeLessThan(600)
        expect(decisions.every((d) => [0, 1_000].includes(Duration.toMillis(d.latency)))).toBe(true)
      }))
  })

  it.effect("rejects an invalid config, listing every problem", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(FaultInjection.make({
        errors: { overloaded: 0.8, serverError: 0.5, unauthorized: -1 },
        latency: { kind: "uniform", min: "2 seconds", max: "1 second" },
        outages: [{ from: "70 seconds", to: "10 seconds" }],
        rateLimit: { limit: 0, window: "0 millis" }
      }))
      expect(PolicyError.isInvalidPolicyError(error)).toBe(true)
      expect(error.issues).toEqual([
        "errors.unauthorized: must be a number in [0, 1], got -1",
        "errors: the rates add up to 1.3, more than 1",
        "latency: min (2s) must not be above max (1s)",
        "outages[0]: from (1m 10s) must not be after to (10s)",
        "rateLimit.limit: must be a whole number ≥ 1, got 0",
        "rateLimit.window: must be finite and > 0, got \"0 millis\""
      ])
    }))
})
