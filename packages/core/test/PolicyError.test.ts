import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Backoff from "../src/Backoff.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as PolicyError from "../src/PolicyError.js"
import type * as ProviderError from "../src/ProviderError.js"
import * as Resilience from "../src/Resilience.js"
import * as Retry from "../src/Retry.js"
import { failureOf, overloaded, runVirtual, scripted } from "./utils.js"

/** The problems `Resilience.validate` lists for a configuration, or `[]` when it is valid. */
const configIssues = (config: unknown): Effect.Effect<ReadonlyArray<string>> =>
  Resilience.validate(config).pipe(
    Effect.match({ onFailure: (error) => error.issues, onSuccess: () => [] })
  )

/** The problems `Retry.validate` lists for options from outside the program, or `[]` when they are valid. */
const retryIssues = (options: unknown): ReadonlyArray<string> =>
  Either.match(Retry.validate(options as Retry.Options<unknown>), { onLeft: (e) => e.issues, onRight: () => [] })

describe("Resilience.validate: every problem of a configuration, with its path", () => {
  it.effect("refuses a rate limiter section that turns learning off and names no limit, instead of dying at the first call", () =>
    Effect.gen(function*() {
      expect(yield* configIssues({ rateLimiter: { learn: false } })).toEqual([
        "rateLimiter.requestsPerMinute: give requestsPerMinute, tokensPerMinute or both with learn: false (or turn the limiter off with rateLimiter: false)"
      ])
      const exit = yield* Effect.exit(Effect.scoped(Resilience.make({ rateLimiter: { learn: false } })))
      expect(Exit.isFailure(exit) && PolicyError.isInvalidPolicyError(failureOf(exit))).toBe(true)
    }))

  it.scoped("takes an empty rate limiter section as the default, learned admission, and runs calls through it", () =>
    Effect.gen(function*() {
      expect(yield* configIssues({ rateLimiter: {} })).toEqual([])
      const resilience = yield* Resilience.make({ rateLimiter: {} })
      expect(yield* resilience.run(Effect.succeed("ok"), { key: "openai/gpt-4o" })).toBe("ok")
    }))

  it.effect("refuses an infinite limit and a burst without its limit", () =>
    Effect.gen(function*() {
      expect(yield* configIssues({ rateLimiter: { requestsPerMinute: Infinity } })).toEqual([
        "rateLimiter.requestsPerMinute: must be a finite number > 0, got Infinity"
      ])
      expect(yield* configIssues({ rateLimiter: { requestsPerMinute: 60, burst: { tokens: 10 } } })).toEqual([
        "rateLimiter.burst.tokens: needs tokensPerMinute"
      ])
      expect(yield* configIssues({ rateLimiter: { learn: false, burst: { tokens: 10 } } })).toEqual([
        "rateLimiter.requestsPerMinute: give requestsPerMinute, tokensPerMinute or both with learn: false (or turn the limiter off with rateLimiter: false)",
        "rateLimiter.burst.tokens: needs tokensPerMinute"
      ])
    }))

  it.effect("reports an infinite budget with its path, together with every other problem", () =>
    Effect.gen(function*() {
      expect(
        yield* configIssues({
          retry: { maxAttempts: 0 },
          budget: { kind: "tokenBucket", maxTokens: Infinity },
          bulkhead: { maxQueue: -1 }
        })
      ).toEqual([
        "retry.maxAttempts: must be a whole number ≥ 1, got 0",
        "budget.maxTokens: must be a finite number > 0, got Infinity",
        "bulkhead.maxQueue: must be a whole number ≥ 0, got -1"
      ])
      expect(yield* configIssues({ budget: { kind: "tokenBucket", tokenRatio: 20 } })).toEqual([
        "budget.tokenRatio: must be a number in (0, maxTokens], got 20"
      ])
    }))

  it.effect("shows NaN and Infinity as themselves", () =>
    Effect.gen(function*() {
      expect(
        yield* configIssues({
          retry: { maxAttempts: Infinity },
          budget: { kind: "ratio", minRetriesPerSecond: Number.NaN },
          attemptTimeout: Number.NaN,
          deadline: Infinity
        })
      ).toEqual([
        "retry.maxAttempts: must be a whole number ≥ 1, got Infinity",
        "budget.minRetriesPerSecond: must be a finite number ≥ 0, got NaN",
        "attemptTimeout: must be > 0, got NaN",
        "deadline: must be finite, got Infinity"
      ])
    }))

  it.effect("lists rules across fields whatever else is wrong in the section", () =>
    Effect.gen(function*() {
      expect(
        yield* configIssues({
          retry: { maxAttempts: 1.5, backoff: { base: "2 seconds", max: "1 second", factor: 0 } },
          rateLimiter: { requestsPerMinute: 60, burst: { tokens: 0 }, onExceeded: "drop" }
        })
      ).toEqual([
        "retry.maxAttempts: must be a whole number ≥ 1, got 1.5",
        "retry.backoff.factor: must be a number in [1, 1000], got 0",
        "retry.backoff.max: must be ≥ base (2s), got \"1 second\"",
        "rateLimiter.burst.tokens: must be a whole number ≥ 1, got 0",
        "rateLimiter.onExceeded: must be \"delay\" or \"fail\", got \"drop\"",
        "rateLimiter.burst.tokens: needs tokensPerMinute"
      ])
    }))

  it.effect("words what is not an object or not a known kind as the policies do", () =>
    Effect.gen(function*() {
      expect(yield* configIssues("fast")).toEqual([
        "config: must be an object of policy sections (retry, budget, ...), got \"fast\""
      ])
      expect(yield* configIssues({ retry: true, budget: { kind: "bogus" }, circuitBreaker: { trip: 5 } })).toEqual([
        "retry: must be false or an object of retry options, got true",
        "budget.kind: must be \"tokenBucket\" or \"ratio\", got \"bogus\"",
        "circuitBreaker.trip: must be an object with a kind, \"consecutive\" or \"ratio\", got 5"
      ])
    }))
})

describe("Resilience.Config: a section given in part merges with the default, field by field", () => {
  // Against `Resilience.validate({})`, so that the tests hold whatever the defaults are.
  it.effect("keeps the default backoff's other fields", () =>
    Effect.gen(function*() {
      const defaults = yield* Resilience.validate({})
      const config = yield* Resilience.validate({ retry: { backoff: { base: "1 second" } } })
      expect(defaults.retry && config.retry).toEqual(
        defaults.retry && { ...defaults.retry, backoff: { ...defaults.retry.backoff, base: Duration.seconds(1) } }
      )
    }))

  it.effect("keeps the default trip when a section names other fields; a trip of another kind replaces it", () =>
    Effect.gen(function*() {
      const defaults = yield* Resilience.validate({})
      const probes = yield* Resilience.validate({ circuitBreaker: { halfOpenProbes: 2 } })
      expect(probes.circuitBreaker).toEqual(
        defaults.circuitBreaker && { ...defaults.circuitBreaker, halfOpenProbes: 2 }
      )
      const consecutive = yield* Resilience.validate({
        circuitBreaker: { trip: { kind: "consecutive", threshold: 3 } }
      })
      expect(consecutive.circuitBreaker && consecutive.circuitBreaker.trip).toEqual({
        kind: "consecutive",
        threshold: 3
      })
    }))

  it.effect("says so when a field the section does not name is what makes it invalid", () =>
    Effect.gen(function*() {
      const defaultKind = (yield* Resilience.validate({})).budget
      const other = defaultKind !== false && defaultKind?.kind === "ratio"
        ? { maxTokens: 20 }
        : { ratio: 0.1 }
      const [option] = Object.keys(other)
      expect(yield* configIssues({ budget: other })).toEqual([
        expect.stringMatching(
          new RegExp(
            `^budget\\.${option}: is unexpected, expected: .+ \\(a section with no kind is merged with the default, of kind "\\w+"\\)$`
          )
        )
      ])
      expect(yield* configIssues({ retry: { backoff: { base: "1 day" } } })).toEqual([
        expect.stringMatching(/^retry\.backoff\.max: must be ≥ base \(1d\), got .+ \(the default max; give one\)$/)
      ])
    }))

  it.scoped("never randomises a break duration given in part", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        retry: false,
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 1 },
          breakDuration: { base: "10 seconds", max: "10 seconds" }
        }
      })
      expect(resilience.config.circuitBreaker).toMatchObject({ breakDuration: { jitter: "none" } })
      const breaks: Array<number | undefined> = []
      for (const key of ["a", "b", "c", "d", "e"]) {
        const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }])
        yield* Effect.exit(resilience.run(provider.call, { key }))
        const refused = failureOf(yield* Effect.exit(resilience.run(provider.call, { key })))
        expect(CircuitBreaker.isCircuitOpenError(refused)).toBe(true)
        const retryAfter = (refused as CircuitBreaker.CircuitOpenError).retryAfter
        breaks.push(retryAfter === undefined ? undefined : Duration.toMillis(retryAfter))
      }
      expect(breaks).toEqual([10_000, 10_000, 10_000, 10_000, 10_000])
    }))
})

describe("Resilience.Config: durations typed as effect's Duration.DurationInput", () => {
  it.effect("makes a misspelt unit a compile error, and still checks data of unknown type at run time", () =>
    Effect.gen(function*() {
      const typed: Resilience.Config = {
        attemptTimeout: "30 seconds",
        deadline: Duration.minutes(2),
        retry: { maxElapsed: 90_000, backoff: { base: "250 millis", max: "1.5 seconds" } }
      }
      expect(yield* configIssues(typed)).toEqual([])
      // A section given in part type-checks as it validates: merged with the default section.
      const partial: Resilience.Config = {
        retry: { backoff: { base: "1 second" } },
        bulkhead: { maxQueue: 10 },
        circuitBreaker: { breakDuration: { max: "2 minutes" } }
      }
      expect(yield* configIssues(partial)).toEqual([])
      // @ts-expect-error a duration's unit is checked like effect's own DurationInput
      const misspelt: Resilience.Config = { attemptTimeout: "a while" }
      // @ts-expect-error "sekonds" is not a unit
      const nested: Resilience.Config = { retry: { backoff: { base: "5 sekonds", max: "1 minute" } } }
      const fromFile: unknown = JSON.parse("{\"attemptTimeout\": \"a while\"}")
      expect(yield* configIssues(misspelt)).toEqual([
        "attemptTimeout: must be a duration (e.g. \"500 millis\", \"2 seconds\"), got \"a while\""
      ])
      expect(yield* configIssues(fromFile)).toEqual(yield* configIssues(misspelt))
      expect(yield* configIssues(nested)).toEqual([
        "retry.backoff.base: must be a duration (e.g. \"500 millis\", \"2 seconds\"), got \"5 sekonds\""
      ])
    }))
})

describe("Retry.validate: options from outside the program", () => {
  it("refuses unknown options, a bad tracing, a non-budget and an unknown jitter", () => {
    expect(retryIssues({ maxAttempt: 6 })).toEqual([
      "maxAttempt: is unexpected, expected: \"maxAttempts\" | \"backoff\" | \"classify\" | \"retryAfterCeiling\" | \"maxElapsed\" | \"onOpenCircuit\" | \"budget\" | \"key\" | \"tracing\""
    ])
    expect(retryIssues({ tracing: "yes" })).toEqual(["tracing: must be true, false or \"auto\", got \"yes\""])
    expect(retryIssues({ budget: {} })).toEqual([
      "budget: must be a retry budget (from RetryBudget.tokenBucket or RetryBudget.ratio), got {}"
    ])
    expect(retryIssues({ backoff: { base: 100, max: 1_000, jitter: { _tag: "Bogus" } } })).toEqual([
      "backoff.jitter: must be \"none\", \"full\", \"equal\", \"decorrelated\" or a Backoff.Jitter, got {\"_tag\":\"Bogus\"}"
    ])
    expect(retryIssues({ backoff: { base: 100, max: 1_000, jiter: "none" } })).toEqual([
      "backoff.jiter: is unexpected, expected: \"base\" | \"factor\" | \"max\" | \"jitter\""
    ])
    expect(retryIssues("fast")).toEqual(["options: must be an object of Retry.Options, got \"fast\""])
    const [large] = retryIssues({ budget: { key: "k", settings: "x".repeat(500) } })
    expect(large).toMatch(/^budget: must be a retry budget .*, got \{"key":"k","settings":"x+…$/)
    expect(large!.length).toBeLessThan(200)
  })

  it("words each problem as the pipeline's configuration does, with the value received", () =>
    Effect.gen(function*() {
      const options = {
        maxAttempts: 0,
        maxElapsed: Number.NaN,
        backoff: { base: "2 seconds", max: "1 second", factor: 0.5 }
      }
      const fromRetry = retryIssues(options)
      expect(fromRetry).toEqual([
        "maxAttempts: must be a whole number ≥ 1, got 0",
        "maxElapsed: must be > 0, got NaN",
        "backoff.max: must be ≥ base (2s), got \"1 second\"",
        "backoff.factor: must be a number in [1, 1000], got 0.5"
      ])
      const fromConfig = yield* configIssues({ retry: options })
      expect([...fromConfig].sort()).toEqual(fromRetry.map((issue) => `retry.${issue}`).sort())
    }).pipe(Effect.runSync))
})

describe("Backoff.make and Backoff.validate", () => {
  it("throw a typed error at construction, not a defect at the first retry", () => {
    const options = { base: "1 second", max: "1 minute", jitter: "ful" } as unknown as Backoff.Options
    expect(() => Backoff.make(options)).toThrow(PolicyError.InvalidPolicyError)
    const result = Backoff.validate(options)
    expect(Either.isLeft(result) && result.left.issues).toEqual([
      "jitter: must be \"none\", \"full\", \"equal\", \"decorrelated\" or a Backoff.Jitter, got \"ful\""
    ])
    expect(
      Either.getLeft(Backoff.validate({ max: "1 second", jitter: { _tag: "Proportional", ratio: 2 } } as any))
        .pipe((error) => error._tag === "Some" ? error.value.issues : [])
    ).toEqual([
      "base: is missing",
      "jitter.ratio: must be a number in [0, 1], got 2"
    ])
  })
})

describe("Resilience.validate: what it accepts builds and runs, what it refuses is one typed error", () => {
  // Mostly valid values, some of every kind of mistake: a configuration is often valid, often not.
  const wrong = FastCheck.constantFrom<unknown>(
    -1,
    0,
    1.5,
    Number.NaN,
    Infinity,
    "a while",
    "-1 seconds",
    "ful",
    "x",
    true,
    null,
    {},
    [],
    "10"
  )
  const field = (...valid: ReadonlyArray<unknown>) =>
    FastCheck.oneof({ weight: 40, arbitrary: FastCheck.constantFrom(...valid) }, { weight: 1, arbitrary: wrong })
  const duration = field(1, 250, "1 second", "500 millis", "30 seconds", "2 minutes")
  const fieldsOf = <T>(fields: { [K in keyof T]: FastCheck.Arbitrary<T[K]> }, required: ReadonlyArray<keyof T>) =>
    FastCheck.record(fields, { requiredKeys: [...required] as Array<keyof T> })
  /** A top-level section: its options, `false`, omitted, or something wrong. */
  const section = <T>(fields: { [K in keyof T]: FastCheck.Arbitrary<T[K]> }, ...required: ReadonlyArray<keyof T>) =>
    FastCheck.oneof(
      { weight: 20, arbitrary: fieldsOf(fields, required) },
      { weight: 4, arbitrary: FastCheck.constantFrom<unknown>(false, undefined) },
      { weight: 1, arbitrary: wrong }
    )
  /** A section within a section: its options, or something wrong. */
  const nested = <T>(fields: { [K in keyof T]: FastCheck.Arbitrary<T[K]> }, ...required: ReadonlyArray<keyof T>) =>
    FastCheck.oneof({ weight: 20, arbitrary: fieldsOf(fields, required) }, { weight: 1, arbitrary: wrong })
  // Sections of one kind each: mixing kinds is refused, and is tested above.
  const backoff = FastCheck.oneof(
    nested({
      base: field(1, 250, "500 millis"),
      max: field("30 seconds", "2 minutes"),
      factor: field(1, 2, 3),
      jitter: field("none", "full", "equal", "decorrelated")
    }),
    nested({ base: field(250, "1 second"), jitter: field("proportional"), jitterRatio: field(0, 0.25, 1) }, "jitter")
  )
  const config = FastCheck.record({
    retry: section({
      maxAttempts: field(1, 2, 3, 5),
      backoff,
      retryAfterCeiling: duration,
      maxElapsed: duration
    }),
    budget: FastCheck.oneof(
      section({ kind: field("tokenBucket"), maxTokens: field(1, 10, 100), tokenRatio: field(0.1, 0.5, 1) }, "kind"),
      section(
        { kind: field("ratio"), ratio: field(0, 0.2, 1), minRetriesPerSecond: field(0, 1, 10), window: duration },
        "kind"
      )
    ),
    circuitBreaker: section({
      trip: FastCheck.oneof(
        nested({ kind: field("consecutive"), threshold: field(1, 5) }, "kind", "threshold"),
        nested({
          kind: field("ratio"),
          ratio: field(0.1, 0.5, 1),
          window: duration,
          minimumThroughput: field(1, 10),
          buckets: field(1, 10)
        }, "kind")
      ),
      breakDuration: backoff,
      halfOpenProbes: field(1, 2),
      successesToClose: field(1, 2)
    }),
    bulkhead: section({ maxConcurrent: field(1, 10), maxQueue: field(0, 10) }),
    rateLimiter: FastCheck.oneof(
      section({
        requestsPerMinute: field(60, 600),
        burst: nested({ requests: field(1, 10) }),
        onExceeded: field("delay", "fail")
      }, "requestsPerMinute"),
      section({ tokensPerMinute: field(1_000, 100_000), burst: nested({ tokens: field(1, 1_000) }) }, "tokensPerMinute")
    ),
    attemptTimeout: duration,
    deadline: duration
  }, { requiredKeys: [] })

  it.scoped("never dies, never lets through a configuration that fails later, always names the path", () =>
    Effect.gen(function*() {
      let accepted = 0
      let refused = 0
      for (const candidate of FastCheck.sample(config, { numRuns: 200, seed: 13 })) {
        const validated = yield* Effect.exit(Resilience.validate(candidate))
        if (Exit.isFailure(validated)) {
          refused++
          const error = failureOf(validated)
          expect(PolicyError.isInvalidPolicyError(error)).toBe(true)
          for (const issue of error.issues) {
            expect(issue).toMatch(/^(config|[a-zA-Z]+(\.[a-zA-Z]+)*): \S/)
          }
          continue
        }
        accepted++
        // A configuration that validates builds, and a call that fails once then succeeds gets through or is
        // refused by a policy (e.g. a short deadline): never a defect, never an InvalidPolicyError at the call.
        const ran = yield* Effect.gen(function*() {
          const resilience = yield* Resilience.make(candidate as Resilience.Config)
          const provider = scripted<string, ProviderError.ProviderError>([{ fail: overloaded() }, { succeed: "ok" }])
          return (yield* runVirtual(resilience.run(provider.call, { key: "k", tokens: 1 }))).exit
        }).pipe(Effect.scoped, Effect.exit, Effect.map(Exit.flatten))
        if (Exit.isFailure(ran)) {
          expect(Cause.isDie(ran.cause)).toBe(false)
          expect(PolicyError.isInvalidPolicyError(failureOf(ran))).toBe(false)
        }
      }
      // Both sides are exercised.
      expect(accepted).toBeGreaterThan(50)
      expect(refused).toBeGreaterThan(50)
    }))
})
