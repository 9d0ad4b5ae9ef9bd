import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import * as Scorecard from "../src/Scorecard.js"
import type * as Simulator from "../src/Simulator.js"

/** Hand-made metrics: a run's numbers, nothing simulated. */
const row = (policy: string, fields: Partial<Simulator.Metrics> = {}): Simulator.Metrics => ({
  scenario: "(9) test",
  policy,
  pipeline: "shared",
  requests: 1_000,
  successRate: 1,
  rejectedLocally: 0,
  amplification: 1,
  calls: 1_000,
  wastedCalls: 0,
  rateLimitedPerSuccess: 0,
  p50: Duration.millis(100),
  p95: Duration.millis(100),
  p99: Duration.millis(100),
  completion: Duration.seconds(10),
  ideal: undefined,
  outageCalls: undefined,
  breaks: undefined,
  callsPerBreak: undefined,
  callsBeforeBreak: undefined,
  recovery: undefined,
  failedOver: undefined,
  earlyRetries: undefined,
  trace: { calls: [], latencies: [], succeeded: [], rejections: [] },
  ...fields
})

const verdicts = (checks: ReadonlyArray<Scorecard.Check>) =>
  checks.map((check) => [check.description, check.met, check.values.map((v) => `${v.policy}: ${v.value}`)])

describe("Scorecard", () => {
  it("checks thresholds given as numbers: success, calls per request, 429s per success (strictly below)", () => {
    const rows = [
      row("library defaults", { successRate: 0.98, amplification: 1.1, rateLimitedPerSuccess: 0.02 }),
      row("no retry", { successRate: 0.979, amplification: 1.1001, rateLimitedPerSuccess: 0.019 })
    ]
    const checks = Scorecard.evaluate(rows, [
      { kind: "success", atLeast: 0.98 },
      { kind: "callsPerRequest", atMost: 1.1 },
      { kind: "rateLimitedPerSuccess", below: 0.02 }
    ])
    assert.deepStrictEqual(verdicts(checks), [
      ["success ≥ 98.0 %", true, ["library defaults: 98.0 %", "no retry: 97.9 %"]],
      ["≤ 1.10 provider calls per request", true, ["library defaults: 1.100", "no retry: 1.100"]],
      ["< 0.02 429s per success", false, ["library defaults: 0.020", "no retry: 0.019"]]
    ])
    assert.deepStrictEqual(checks[0]!.values.map((v) => v.met), [true, false])
    assert.deepStrictEqual(checks[1]!.values.map((v) => v.met), [true, false])
    assert.deepStrictEqual(checks[2]!.values.map((v) => v.met), [false, true])
  })

  it("takes thresholds from the run's own rows: another row's success, the ideal, the best per-request policy", () => {
    const rows = [
      row("no retry", { pipeline: "none", successRate: 0.4, completion: Duration.seconds(1) }),
      row("sdk", { pipeline: "per request", successRate: 0.995, completion: Duration.seconds(5) }),
      // Faster, but it gave up: not the best per-request policy.
      row("quitter", { pipeline: "per request", successRate: 0.5, completion: Duration.seconds(2) }),
      row("library defaults", {
        successRate: 0.99,
        completion: Duration.seconds(6),
        ideal: Duration.millis(5_800)
      })
    ]
    const checks = Scorecard.evaluate(rows, [
      { kind: "success", atLeast: 0.99 },
      { kind: "successVsPolicy", policy: "no retry" },
      { kind: "completionVsIdeal", factor: 1.05 },
      { kind: "completionVsBestPerRequest", factor: 1.2 }
    ])
    assert.deepStrictEqual(checks.map((check) => [check.description, check.met]), [
      ["success ≥ 99.0 %", true],
      ["success ≥ the no retry row's (40.0 %)", true],
      ["completion ≤ 1.05 × ideal (5.8 s) = 6.1 s", true],
      ["completion ≤ 1.2 × the best per-request policy's (sdk, 5.0 s) = 6.0 s", true]
    ])
    // Giving up early is not completing: the no-retry row is done in 1 s with 40 % success.
    assert.deepStrictEqual(checks[2]!.values.map((v) => [v.value, v.met]), [
      ["1.0 s, but 40.0 % succeeded", false],
      ["5.0 s", true],
      ["2.0 s, but 50.0 % succeeded", false],
      ["6.0 s", true]
    ])
    const slower = Scorecard.evaluate([
      ...rows.slice(0, 3),
      row("library defaults", { completion: Duration.seconds(7) })
    ], [
      { kind: "completionVsBestPerRequest", factor: 1.2 }
    ])
    // Without a success target, every request must have succeeded for a completion to count.
    assert.deepStrictEqual(
      slower[0]!.description,
      "completion ≤ 1.2 × the best per-request policy's (sdk, 5.0 s) = 6.0 s"
    )
    assert.isFalse(slower[0]!.met)
  })

  it("fails a target whose number a row does not have: no recovery, no break, no success, no such row", () => {
    const outage = { outageCalls: 120, breaks: 0 }
    const rows = [
      row("library defaults", { ...outage, recovery: undefined, successRate: 0, rateLimitedPerSuccess: NaN }),
      row("no retry", { ...outage, recovery: Duration.millis(0) }),
      row("breaker", {
        outageCalls: 30,
        breaks: 4,
        callsPerBreak: 1,
        callsBeforeBreak: 26,
        recovery: Duration.millis(2_100)
      })
    ]
    const checks = Scorecard.evaluate(rows, [
      { kind: "recovery", atMost: 2_000 },
      { kind: "callsPerBreak", atMost: 1 },
      { kind: "rateLimitedPerSuccess", below: 0.1 },
      { kind: "successVsPolicy", policy: "missing" }
    ])
    assert.deepStrictEqual(verdicts(checks), [
      ["first success ≤ 2.0 s after the outage ends", false, [
        "library defaults: never",
        "no retry: 0.0 s",
        "breaker: 2.1 s"
      ]],
      ["≤ 1 call to the provider per break while it is down", false, [
        "library defaults: no break (120 calls)",
        "no retry: no break (120 calls)",
        "breaker: 1 (4 breaks; 26 before the first)"
      ]],
      ["< 0.1 429s per success", false, ["library defaults: no success", "no retry: 0.000", "breaker: 0.000"]],
      ["success ≥ the missing row's (no such row)", false, [
        "library defaults: 0.0 %",
        "no retry: 100.0 %",
        "breaker: 100.0 %"
      ]]
    ])
    assert.deepStrictEqual(checks[1]!.values.map((v) => v.met), [false, false, true])
    // With failover, the recovery is the return to the primary.
    const failover = Scorecard.evaluate([row("library defaults", { failedOver: 10, recovery: Duration.millis(900) })], [
      { kind: "recovery", atMost: 2_000 },
      { kind: "callsPerBreak", atMost: 1 }
    ])
    assert.deepStrictEqual(failover.map((check) => [check.description, check.met]), [
      ["back on the primary ≤ 2.0 s after it recovers", true],
      ["≤ 1 call to the primary per break while it is down", false]
    ])
  })

  it("prints one row per target, the scored row first with ✓ or ✗, and counts the targets met", () => {
    const checks = Scorecard.evaluate(
      [row("no retry", { successRate: 0.5 }), row("library defaults", { amplification: 1.5 })],
      [{ kind: "success", atLeast: 0.98 }, { kind: "callsPerRequest", atMost: 1.1 }]
    )
    assert.strictEqual(
      Scorecard.markdown([
        { scenario: "(9) test, with a long name", checks },
        { scenario: "(4) no targets", checks: [] }
      ]),
      [
        "| scenario | target | library defaults (zero config) | no retry |",
        "| --- | --- | --- | --- |",
        "| (9) test | success ≥ 98.0 % | ✓ 100.0 % | 50.0 % |",
        "|  | ≤ 1.10 provider calls per request | ✗ 1.500 | 1.000 |",
        "",
        "The zero-config row (library defaults) meets 1 of 2 targets."
      ].join("\n")
    )
    assert.strictEqual(Scorecard.markdown([{ scenario: "(4) no targets", checks: [] }]), "No scenario run has targets.")
    assert.strictEqual(
      Scorecard.checksMarkdown(checks),
      [
        "| target | library defaults (zero config) |",
        "| --- | --- |",
        "| success ≥ 98.0 % | ✓ 100.0 % |",
        "| ≤ 1.10 provider calls per request | ✗ 1.500 |"
      ].join("\n")
    )
  })
})
