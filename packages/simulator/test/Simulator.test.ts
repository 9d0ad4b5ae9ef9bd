import { Backoff, Resilience, SeededRandom } from "@effect-resilience/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Contention from "../src/Contention.js"
import { drawTokens } from "../src/internal/simulator.js"
import * as Simulator from "../src/Simulator.js"

/** Checks that every tag opened is closed in order (self-closing tags aside) and returns the tag names seen. */
const balancedTags = (svg: string): Array<string> => {
  const stack: Array<string> = []
  const seen: Array<string> = []
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match
    if (closing === "/") {
      assert.strictEqual(stack.pop(), name, `unbalanced </${name}>`)
    } else {
      seen.push(name!)
      if (selfClosing !== "/") stack.push(name!)
    }
  }
  assert.deepStrictEqual(stack, [])
  return seen
}

/** A shipped scenario scaled down for tests: fewer requests, outages and token capacity scaled to match. */
const small = (scenario: Simulator.Scenario, requests = 20): Simulator.Scenario => {
  const scale = requests / scenario.requests
  const provider = (p: Simulator.Provider): Simulator.Provider => ({
    ...p,
    ...(p.outages === undefined
      ? {}
      : { outages: p.outages.map((o) => ({ start: o.start * scale * 2, end: o.end * scale * 2 })) }),
    ...(p.tokensPerMinute === undefined ? {} : { tokensPerMinute: Math.round(p.tokensPerMinute * scale) })
  })
  return {
    ...scenario,
    requests,
    provider: provider(scenario.provider),
    ...(scenario.failover === undefined ? {} : { failover: provider(scenario.failover) })
  }
}

describe("Simulator", () => {
  for (const scenario of Simulator.scenarios) {
    it(`gives byte-identical tables, charts and checks for the same seed: ${Simulator.label(scenario)}, scaled down`, () => {
      const first = Simulator.report(small(scenario), Simulator.policies)
      const second = Simulator.report(small(scenario), Simulator.policies)
      assert.strictEqual(first.markdown, second.markdown)
      assert.deepStrictEqual(first.charts, second.charts)
      assert.deepStrictEqual(first.checks, second.checks)
      // The page lists the scenario's targets with the zero-config row's verdicts.
      assert.strictEqual(first.checks.length, scenario.targets!.length)
      assert.include(first.markdown, "| target | library defaults (zero config) |")
    })
  }

  it("draws different faults and token costs for a different seed, and the same contention runs for the same", () => {
    const errorsOnly: Simulator.Scenario = { name: "503s", provider: { errorRate: 0.2 }, requests: 100, seed: 42 }
    assert.notStrictEqual(
      Simulator.run({ ...errorsOnly, seed: 43 }, Simulator.policies[0]!).successRate,
      Simulator.run(errorsOnly, Simulator.policies[0]!).successRate,
      "a different seed draws different 503s"
    )
    const tokens = small(Simulator.scenarios.find((s) => s.id === "5-tokens")!)
    assert.notStrictEqual(
      Duration.toMillis(Simulator.run({ ...tokens, seed: 2 }, Simulator.policies[0]!).ideal!),
      Duration.toMillis(Simulator.run(tokens, Simulator.policies[0]!).ideal!),
      "a different seed draws different token costs"
    )
    const contention = Simulator.contentionReport({ clients: [10], runs: 2 })
    const again = Simulator.contentionReport({ clients: [10], runs: 2 })
    assert.strictEqual(contention.markdown, again.markdown)
    assert.deepStrictEqual(contention.charts, again.charts)
  })

  it("meets every policy with the same faults, call by call, whatever the policy draws for its jitter", () => {
    const scenario: Simulator.Scenario = {
      name: "503s",
      provider: { errorRate: 0.3, latency: 100 },
      requests: 30,
      closedLoop: { clients: 3 }
    }
    const outcomes = (policy: Simulator.Policy) =>
      Simulator.run(scenario, policy).trace.calls.slice(0, 30).map((call) => call.outcome)
    // The provider's n-th answer is the same for a policy that retries with jitter and for one that does not.
    assert.deepStrictEqual(outcomes(Simulator.policies[0]!), outcomes(Simulator.policies[2]!))
  })

  it("sends exactly one call per request and succeeds every request when the provider has no faults", () => {
    const open: Simulator.Scenario = { name: "calm", provider: { latency: 100 }, requests: 30 }
    const closed: Simulator.Scenario = { ...open, closedLoop: { clients: 5 } }
    // Token costs against ample request and token capacity, with rate-limit headers on every answer.
    const tokens: Simulator.Scenario = {
      ...open,
      provider: { latency: 100, requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000 },
      tokens: { distribution: "uniform", min: 1_000, max: 3_000 }
    }
    for (const scenario of [open, closed, tokens]) {
      for (const policy of Simulator.policiesFor(scenario, Simulator.policies)) {
        const metrics = Simulator.run(scenario, policy)
        assert.strictEqual(metrics.successRate, 1, policy.name)
        assert.strictEqual(metrics.amplification, 1, policy.name)
        assert.strictEqual(metrics.wastedCalls, 0, policy.name)
        assert.strictEqual(metrics.rejectedLocally, 0, policy.name)
      }
    }
  })

  it("throws with the cause when a run fails, instead of measuring a run that made no calls", () => {
    const scenario: Simulator.Scenario = { name: "calm", provider: {}, requests: 3 }
    assert.throws(
      () => Simulator.run(scenario, { name: "bad", config: { retry: { maxAttempts: 0 } } }),
      /the policy "bad" in "calm" failed: .*retry\.maxAttempts/s
    )
  })

  it("closed-loop clients issue their next request when the previous one completes", () => {
    const metrics = Simulator.run(
      { name: "closed", provider: { latency: 100 }, requests: 100, closedLoop: { clients: 10, thinkTime: 50 } },
      Simulator.policies[0]!
    )
    // 10 rounds of 10 requests, each 100 ms, 50 ms of think time between a client's requests.
    assert.strictEqual(Duration.toMillis(metrics.completion), 9 * 150 + 100)
    assert.strictEqual(Duration.toMillis(metrics.p99), 100)
    assert.deepStrictEqual(metrics.trace.calls.slice(8, 12).map((call) => call.at), [0, 0, 150, 150])
  })

  it("keeps a 600 RPM burst within the provider's limit with the oracle's shared limiter, headers or not", () => {
    const oracle = Simulator.policies.find((policy) => policy.oracle === true)!
    for (const rateLimitHeaders of [true, false]) {
      const scenario: Simulator.Scenario = {
        name: "burst",
        provider: { requestsPerMinute: 600, rateLimitHeaders },
        requests: 200
      }
      const metrics = Simulator.run(scenario, oracle)
      assert.strictEqual(metrics.successRate, 1)
      assert.strictEqual(metrics.wastedCalls, 0)
      assert.strictEqual(metrics.earlyRetries, 0)
      // 10 at once, then one every 100 ms: the last of 200 at 19 s.
      assert.strictEqual(Duration.toMillis(metrics.ideal!), 19_000)
    }
  })

  it("answers 429 once the tokens per minute are spent, with a Retry-After until enough tokens are back", () => {
    // Retries wait exactly the Retry-After (a 1 ms backoff below it), so the trace shows each Retry-After.
    const retryOnce: Simulator.Policy = {
      name: "one retry",
      config: {
        retry: { maxAttempts: 2, backoff: { base: 1, max: 1, jitter: "none" } },
        budget: false,
        circuitBreaker: false,
        bulkhead: false,
        // The provider model is what is tested: no admission in front of it.
        rateLimiter: false
      }
    }
    const metrics = Simulator.run(
      { name: "tpm", provider: { tokensPerMinute: 7_000 }, requests: 5, tokens: 2_000 },
      retryOnce
    )
    // A full minute's worth (7,000) admits 3 calls of 2,000 and leaves 1,000. The 2 others need 1,000 more:
    // 1,000 / 7,000 of a minute = 8.57 s, sent as Retry-After: 9 s. At 9 s the bucket holds 1,000 + 1,050:
    // one retry passes; the other is 1,950 short (16.7 s, Retry-After 17 s) and has no call left.
    assert.deepStrictEqual(metrics.trace.calls.map((call) => [call.at, call.outcome]), [
      [0, "success"],
      [0, "success"],
      [0, "success"],
      [0, "rateLimited"],
      [0, "rateLimited"],
      [9_000, "success"],
      [9_000, "rateLimited"]
    ])
    assert.strictEqual(metrics.successRate, 4 / 5)
    assert.strictEqual(metrics.earlyRetries, 0)
    // Requests and tokens: a 429 takes from neither bucket, and the longer wait is the Retry-After.
    const both = Simulator.run(
      { name: "rpm+tpm", provider: { requestsPerMinute: 60, tokensPerMinute: 6_000 }, requests: 3, tokens: 3_000 },
      Simulator.policies[0]!
    )
    // One request a second and 6,000 tokens: the first call passes, the second lacks a request (1 s) and 3,000
    // tokens (30 s), the third too.
    assert.deepStrictEqual(both.trace.calls.map((call) => call.outcome), ["success", "rateLimited", "rateLimited"])
  })

  it("paces a token-bound burst by tokens with the oracle's shared limiter in exactly the ideal time", () => {
    const scenario = small(Simulator.scenarios.find((s) => s.id === "5-tokens")!, 150)
    const byName = (name: string) => Simulator.run(scenario, Simulator.policies.find((p) => p.name === name)!)
    const paced = Simulator.run(
      { ...scenario, provider: { ...scenario.provider, rateLimitHeaders: false } },
      Simulator.policies.find((p) => p.oracle === true)!
    )
    assert.strictEqual(paced.successRate, 1)
    assert.strictEqual(paced.wastedCalls, 0)
    assert.strictEqual(paced.amplification, 1)
    // The same seeded draws, in arrival order: the provider's first minute's worth passes at once, the rest
    // needs (total − TPM) / TPM minutes; the last call is admitted then and takes 100 ms.
    const costs = Effect.runSync(
      Effect.replicateEffect(drawTokens(scenario.tokens!), scenario.requests).pipe(SeededRandom.withSeed(1))
    )
    const tpm = scenario.provider.tokensPerMinute!
    const total = costs.reduce((sum, cost) => sum + cost, 0)
    const ideal = Math.ceil((total - tpm) * 60_000 / tpm + 100)
    assert.strictEqual(Duration.toMillis(paced.ideal!), ideal)
    assert.strictEqual(Duration.toMillis(paced.completion), ideal)
    let fit = 0
    for (let spent = costs[0]!; spent <= tpm; spent += costs[++fit]!);
    const none = byName("no retry")
    assert.strictEqual(none.successRate, fit / scenario.requests)
    assert.strictEqual(none.wastedCalls, scenario.requests - fit)
  })

  it("draws token costs from the scenario's distribution through the seeded Random", () => {
    const draw = (cost: Simulator.TokenCost) =>
      Effect.runSync(Effect.replicateEffect(drawTokens(cost), 2_000).pipe(SeededRandom.withSeed(7)))
    const uniform = draw({ distribution: "uniform", min: 10, max: 20 })
    // Whole numbers, both ends included.
    assert.deepStrictEqual([...new Set(uniform)].sort((a, b) => a - b), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
    const lognormal = draw({ distribution: "lognormal", median: 1_000, sigma: 0.5, max: 3_000 }).sort((a, b) => a - b)
    assert.isTrue(lognormal.every((n) => Number.isInteger(n) && n >= 1 && n <= 3_000))
    assert.strictEqual(lognormal[lognormal.length - 1], 3_000, "the long tail is capped at max")
    assert.isTrue(lognormal[1_000]! > 950 && lognormal[1_000]! < 1_050, `median ${lognormal[1_000]}`)
    assert.deepStrictEqual(draw(2_000).slice(0, 3), [2_000, 2_000, 2_000])
  })

  it("counts calls during an outage and the time to recover after it", () => {
    const metrics = Simulator.run(
      {
        name: "outage",
        provider: { outages: [{ start: 0, end: 1_000 }], latency: 100 },
        requests: 30,
        arrivalsPerSecond: 10
      },
      Simulator.policies[0]!
    )
    // Arrivals every 100 ms: the 10 in [0, 1000) fail, the one at 1000 ms succeeds at once.
    assert.strictEqual(metrics.outageCalls, 10)
    assert.strictEqual(metrics.successRate, 20 / 30)
    assert.strictEqual(Duration.toMillis(metrics.recovery!), 0)
  })

  it("fails over while the primary is down, probes it once per break, and returns to it when a probe succeeds", () => {
    // Arrivals every 100 ms; the primary is down from 2 s to 6 s; each call takes 100 ms.
    const scenario: Simulator.Scenario = {
      name: "(6) failover",
      provider: { outages: [{ start: 2_000, end: 6_000 }], latency: 100 },
      failover: { latency: 100 },
      requests: 100,
      arrivalsPerSecond: 10
    }
    const breaker: Simulator.Policy = {
      name: "breaker",
      shared: true,
      config: {
        retry: false,
        budget: false,
        bulkhead: false,
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 3 },
          breakDuration: { base: 1_000, factor: 1, max: 1_000, jitter: "none" }
        }
      }
    }
    const metrics = Simulator.run(scenario, breaker)
    const primary = metrics.trace.calls.filter((call) => call.provider === "primary" && call.at >= 2_000)
    // The failures of the calls sent at 2.0, 2.1 and 2.2 s open the breaker at 2.3 s, after the request of 2.3 s
    // was sent (4 calls trip it). Then one probe per 1 s break (3.3, 4.4, 5.5 s: each failed probe opens a new
    // break 100 ms later), until the probe of 6.6 s succeeds: back on the primary 600 ms after it recovered.
    assert.deepStrictEqual(primary.slice(0, 8).map((call) => [call.at, call.outcome]), [
      [2_000, "error"],
      [2_100, "error"],
      [2_200, "error"],
      [2_300, "error"],
      [3_300, "error"],
      [4_400, "error"],
      [5_500, "error"],
      [6_600, "success"]
    ])
    assert.strictEqual(metrics.successRate, 1)
    assert.strictEqual(metrics.outageCalls, 7)
    assert.strictEqual(metrics.breaks, 4)
    assert.strictEqual(metrics.callsPerBreak, 1)
    assert.strictEqual(metrics.callsBeforeBreak, 4)
    assert.strictEqual(Duration.toMillis(metrics.recovery!), 600)
    // Every request from 2.0 s to 6.5 s, and that of 6.7 s (sent while the probe of 6.6 s was in flight).
    assert.strictEqual(metrics.failedOver, 47)
    assert.strictEqual(metrics.trace.calls.filter((call) => call.provider === "secondary").at(-1)?.at, 6_700)
    // Without a breaker, every request in the outage calls the primary first.
    const none = Simulator.run(scenario, Simulator.policies[0]!)
    assert.strictEqual(none.successRate, 1)
    assert.strictEqual(none.outageCalls, 40)
    assert.strictEqual(none.breaks, 0)
    assert.isUndefined(none.callsPerBreak)
    assert.isUndefined(none.callsBeforeBreak)
    assert.strictEqual(Duration.toMillis(none.recovery!), 0)
    assert.strictEqual(none.failedOver, 40)
    assert.include(Simulator.table([metrics, none]), "| served by the secondary |")
  })

  it("the OpenAI-SDK-like policy waits 0.5 s · 2ⁿ × random [0.75, 1] through proportional jitter", () => {
    const policy = Simulator.policies.find((policy) => policy.name === "openai-sdk-like")!
    const config = Effect.runSync(Resilience.validate(policy.config))
    assert.isTrue(config.retry !== false && config.retry !== undefined && config.retry.maxAttempts === 3)
    const backoff = config.retry !== false && config.retry?.backoff !== undefined ? config.retry.backoff : undefined
    const schedule = Backoff.make(backoff!)
    let low = Infinity
    let high = -Infinity
    for (let seed = 0; seed < 200; seed++) {
      const [first, second] = Backoff.delays(schedule, 2).pipe(SeededRandom.withSeed(seed), Effect.runSync)
        .map(Duration.toMillis)
      assert.isTrue(first! >= 375 && first! <= 500, `first delay ${first}`)
      assert.isTrue(second! >= 750 && second! <= 1000, `second delay ${second}`)
      low = Math.min(low, first!)
      high = Math.max(high, first!)
    }
    // The draws cover the range rather than sitting at one end.
    assert.isBelow(low, 390)
    assert.isAbove(high, 485)
  })

  it("Resilience.Config takes proportional jitter, ±25 % by default, and rejects a jitterRatio without it", () => {
    const decode = (jitter: "full" | "proportional", jitterRatio?: number) =>
      Effect.runSync(Effect.either(Resilience.validate({
        retry: { backoff: { base: 100, max: 100, jitter, ...(jitterRatio === undefined ? {} : { jitterRatio }) } }
      })))
    const proportional = decode("proportional")
    assert.isTrue(proportional._tag === "Right")
    if (proportional._tag === "Right" && proportional.right.retry !== false) {
      assert.deepStrictEqual(proportional.right.retry?.backoff?.jitter, { _tag: "Proportional", ratio: 0.25 })
    }
    const misplaced = decode("full", 0.1)
    assert.isTrue(misplaced._tag === "Left")
    if (misplaced._tag === "Left") {
      assert.deepStrictEqual(misplaced.left.issues, [
        "retry.backoff.jitterRatio: only applies to jitter: \"proportional\""
      ])
    }
  })

  it("draws well-formed SVG with one series per policy", () => {
    const report = Simulator.report(
      { name: "errors", provider: { errorRate: 0.3, latency: 100 }, requests: 100, closedLoop: { clients: 5 } },
      Simulator.policies
    )
    assert.deepStrictEqual(report.charts.map((chart) => chart.file), ["errors-timeline.svg", "errors-latency.svg"])
    for (const chart of report.charts) {
      assert.isTrue(chart.svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""))
      assert.isTrue(chart.svg.endsWith("</svg>\n"))
      balancedTags(chart.svg)
      assert.notInclude(chart.svg, "NaN")
    }
    const [timeline, latency] = report.charts.map((chart) => chart.svg)
    // No limits: no oracle row.
    const names = Simulator.policies.filter((policy) => policy.oracle !== true).map((policy) => policy.name)
    assert.deepStrictEqual([...latency!.matchAll(/data-series="([^"]*)"/g)].map((m) => m[1]), names)
    // Each policy its own line style: distinct dash patterns (the first solid).
    const dashes = [...latency!.matchAll(/<polyline [^>]*?data-series="[^"]*"[^>]*>/g)].map((m) =>
      /stroke-dasharray="([^"]*)"/.exec(m[0])?.[1] ?? ""
    )
    assert.strictEqual(new Set(dashes).size, names.length)
    // Each panel its own buckets: the no-retry run is over in 0.6 s, the naive one takes seconds.
    const panels = [...timeline!.matchAll(/data-panel="([^"]*)"/g)].map((m) => m[1])
    assert.deepStrictEqual(panels.map((panel) => panel!.replace(/ \(\d+ m?s buckets\)$/, "")), names)
    assert.include(panels[0], "(50 ms buckets)")
    assert.include(panels[1], "(500 ms buckets)")
    assert.include(report.markdown, "![calls over time](errors-timeline.svg)")
  })
})

describe("Contention", () => {
  it("no jitter makes more calls and takes longer than full jitter with 50 clients", () => {
    const strategies = Contention.strategies.filter((s) => s.name === "no jitter" || s.name === "full jitter")
    const [none, full] = Contention.run({ clients: [50], strategies, runs: 2 })
    assert.strictEqual(none!.strategy, "no jitter")
    assert.isAbove(none!.calls, 1.5 * full!.calls)
    assert.isAbove(Duration.toMillis(none!.completion), Duration.toMillis(full!.completion))
    // Every client commits exactly once.
    assert.strictEqual(full!.trace.calls.filter((call) => call.outcome === "success").length, 50)
    assert.strictEqual(full!.trace.latencies.length, 50)
  })

  it("with one client, one read-write round trip commits at once", () => {
    const [result] = Contention.run({ clients: [1], strategies: Contention.strategies.slice(0, 1), runs: 1 })
    assert.strictEqual(result!.calls, 1)
    assert.deepStrictEqual(result!.trace.calls.map((call) => call.outcome), ["success"])
  })
})
