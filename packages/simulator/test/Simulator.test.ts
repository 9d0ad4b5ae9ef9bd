import { Simulator } from "@effect-resilience/simulator"
import { assert, describe, it } from "@effect/vitest"

describe("Simulator", () => {
  it("gives byte-identical reports for the same seed", () => {
    const scenario: Simulator.Scenario = {
      name: "random 503s",
      provider: { errorRate: 0.2, requestsPerMinute: 600, latency: 50 },
      requests: 200,
      seed: 42
    }
    const report = () => Simulator.table(Simulator.policies.map((policy) => Simulator.run(scenario, policy)))
    assert.strictEqual(report(), report())
  })

  it("sends exactly one call per request and succeeds every request when the provider has no faults", () => {
    const scenario: Simulator.Scenario = { name: "calm", provider: { latency: 100 }, requests: 100 }
    for (const policy of Simulator.policies) {
      const metrics = Simulator.run(scenario, policy)
      assert.strictEqual(metrics.successRate, 1, policy.name)
      assert.strictEqual(metrics.amplification, 1, policy.name)
      assert.strictEqual(metrics.wastedCalls, 0, policy.name)
    }
  })

  it("keeps a 600 RPM burst within the provider's limit with the shared adaptive limiter", () => {
    const metrics = Simulator.run(
      { name: "burst", provider: { requestsPerMinute: 600 }, requests: 200 },
      Simulator.policies.find((policy) => policy.shared === true)!
    )
    assert.strictEqual(metrics.successRate, 1)
    assert.strictEqual(metrics.wastedCalls, 0)
  })
})
