import { ProviderError, Resilience, SeededRandom } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Simulator from "../Simulator.js"
import * as VirtualTime from "./virtualTime.js"

const KEY = "provider"

interface Counters {
  calls: number
  successes: number
  rateLimited: number
  errors: number
  outageCalls: number
  earlyRetries: number
  firstSuccessAfterOutage: number | undefined
}

/** The modelled provider: a token bucket (429 + Retry-After), outage windows and random 503s, then a fixed latency. */
const makeProvider = (model: Simulator.Provider, counters: Counters) => {
  const rpm = model.requestsPerMinute
  const capacity = rpm === undefined ? 0 : Math.max(1, rpm / 60)
  let tokens = capacity
  let refilledAt = 0
  const outages = model.outages ?? []
  const lastOutageEnd = outages.reduce((end, o) => Math.max(end, o.end), -Infinity)
  return (retryAfterUntil: { at: number }) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      counters.calls++
      if (now < retryAfterUntil.at) counters.earlyRetries++
      let failure: ProviderError.TransientError | undefined
      if (outages.some((o) => now >= o.start && now < o.end)) {
        counters.outageCalls++
        failure = new ProviderError.TransientError({
          provider: KEY,
          reason: "Unavailable",
          status: 503,
          message: "provider outage"
        })
      } else if (model.errorRate !== undefined && model.errorRate > 0 && (yield* Random.next) < model.errorRate) {
        failure = new ProviderError.TransientError({
          provider: KEY,
          reason: "Unavailable",
          status: 503,
          message: "random 503"
        })
      } else if (rpm !== undefined) {
        tokens = Math.min(capacity, tokens + (now - refilledAt) * rpm / 60_000)
        refilledAt = now
        if (tokens >= 1) {
          tokens -= 1
        } else {
          // Retry-After is sent in whole seconds, as HTTP does.
          const wait = Math.max(1, Math.ceil(((1 - tokens) * 60_000 / rpm) / 1000)) * 1000
          retryAfterUntil.at = now + wait
          failure = new ProviderError.TransientError({
            provider: KEY,
            reason: "RateLimited",
            status: 429,
            retryAfter: Duration.millis(wait),
            message: "rate limited"
          })
        }
      }
      yield* Effect.sleep(Duration.millis(model.latency ?? 0))
      if (failure !== undefined) {
        if (failure.status === 429) counters.rateLimited++
        else counters.errors++
        return yield* Effect.fail(failure)
      }
      counters.successes++
      if (now >= lastOutageEnd && counters.firstSuccessAfterOutage === undefined) {
        counters.firstSuccessAfterOutage = now
      }
      return now
    })
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

/** @internal */
export const run = (scenario: Simulator.Scenario, policy: Simulator.Policy): Simulator.Metrics => {
  const counters: Counters = {
    calls: 0,
    successes: 0,
    rateLimited: 0,
    errors: 0,
    outageCalls: 0,
    earlyRetries: 0,
    firstSuccessAfterOutage: undefined
  }
  const provider = makeProvider(scenario.provider, counters)
  const latencies: Array<number> = []
  let succeeded = 0
  let completedAt = 0
  const config = policy.config
  const workload = Effect.gen(function*() {
    const shared = config !== "none" && policy.shared === true ? yield* Resilience.make(config) : undefined
    const client = (i: number) =>
      Effect.gen(function*() {
        if (scenario.arrivalsPerSecond !== undefined) {
          yield* Effect.sleep(Duration.millis(Math.floor(i * 1000 / scenario.arrivalsPerSecond)))
        }
        const start = yield* Clock.currentTimeMillis
        const retryAfterUntil = { at: -Infinity }
        const pipeline = config === "none" ? undefined : shared ?? (yield* Resilience.make(config))
        const call = pipeline === undefined
          ? provider(retryAfterUntil)
          : pipeline.run(
            provider(retryAfterUntil).pipe(
              Effect.tapError((error) =>
                error.retryAfter !== undefined && policy.shared === true
                  ? pipeline.observe(KEY, { retryAfter: error.retryAfter })
                  : Effect.void
              )
            ),
            { key: KEY }
          )
        const ok = yield* call.pipe(Effect.as(true), Effect.orElseSucceed(() => false))
        const end = yield* Clock.currentTimeMillis
        latencies.push(end - start)
        completedAt = Math.max(completedAt, end)
        if (ok) succeeded++
      }).pipe(Effect.scoped)
    yield* Effect.forEach(Array.from({ length: scenario.requests }, (_, i) => i), client, {
      concurrency: "unbounded",
      discard: true
    })
  }).pipe(Effect.scoped, SeededRandom.withSeed(scenario.seed ?? 1), Effect.orDie)
  VirtualTime.runSync(workload, { horizon: scenario.horizon ?? "1 hour" })
  latencies.sort((a, b) => a - b)
  const outageEnd = (scenario.provider.outages ?? []).reduce((end, o) => Math.max(end, o.end), -Infinity)
  return {
    scenario: scenario.name,
    policy: policy.name,
    requests: scenario.requests,
    successRate: succeeded / scenario.requests,
    amplification: counters.calls / scenario.requests,
    calls: counters.calls,
    wastedCalls: counters.rateLimited + counters.errors,
    rateLimitedPerSuccess: succeeded === 0 ? NaN : counters.rateLimited / succeeded,
    p50: Duration.millis(percentile(latencies, 0.5)),
    p95: Duration.millis(percentile(latencies, 0.95)),
    p99: Duration.millis(percentile(latencies, 0.99)),
    completion: Duration.millis(completedAt),
    outageCalls: counters.outageCalls,
    recovery: Number.isFinite(outageEnd) && counters.firstSuccessAfterOutage !== undefined
      ? Duration.millis(counters.firstSuccessAfterOutage - outageEnd)
      : undefined,
    earlyRetries: counters.earlyRetries
  }
}

const seconds = (d: Duration.Duration | undefined): string =>
  d === undefined ? "–" : `${(Duration.toMillis(d) / 1000).toFixed(1)} s`

/** @internal */
export const table = (rows: ReadonlyArray<Simulator.Metrics>): string => {
  const header = [
    "scenario",
    "policy",
    "success",
    "calls/request",
    "wasted calls",
    "429/success",
    "p50",
    "p95",
    "p99",
    "completion",
    "calls in outage",
    "recovery",
    "early retries"
  ]
  const lines = rows.map((m) => [
    m.scenario,
    m.policy,
    `${(m.successRate * 100).toFixed(1)} %`,
    m.amplification.toFixed(3),
    String(m.wastedCalls),
    Number.isNaN(m.rateLimitedPerSuccess) ? "–" : m.rateLimitedPerSuccess.toFixed(4),
    seconds(m.p50),
    seconds(m.p95),
    seconds(m.p99),
    seconds(m.completion),
    String(m.outageCalls),
    seconds(m.recovery),
    String(m.earlyRetries)
  ])
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n")
}
