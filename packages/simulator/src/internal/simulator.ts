import { ProviderError, Resilience, SeededRandom } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Simulator from "../Simulator.js"
import * as Charts from "./charts.js"
import { standardNormal } from "./random.js"
import * as Svg from "./svg.js"
import * as VirtualRuntime from "./virtualRuntime.js"

const KEY = "provider"

interface Counters {
  calls: number
  successes: number
  rateLimited: number
  errors: number
  outageCalls: number
  earlyRetries: number
  firstSuccessAfterOutage: number | undefined
  /** Send time and outcome of every provider call, in call order. */
  readonly trace: Array<Simulator.CallRecord>
}

/**
 * A bucket refilled continuously at `perMinute` units a minute up to `capacity`, starting full: `take` admits
 * `cost` (capped at the capacity) or says how many milliseconds until it could.
 */
export const makeBucket = (perMinute: number, capacity: number) => {
  let level = capacity
  let refilledAt = 0
  const refill = (now: number): void => {
    level = Math.min(capacity, level + (now - refilledAt) * perMinute / 60_000)
    refilledAt = now
  }
  return {
    /** Milliseconds until `cost` units are in the bucket at `now` (0 when they already are). */
    wait: (now: number, cost: number): number => {
      refill(now)
      const needed = Math.min(cost, capacity)
      return level >= needed ? 0 : (needed - level) * 60_000 / perMinute
    },
    /** Takes `cost` units (capped at the capacity); call after `wait` said 0 at the same instant. */
    take: (cost: number): void => {
      level -= Math.min(cost, capacity)
    }
  }
}

/** Draws one request's token cost from the scenario's distribution through `Random` (no draw when fixed). */
export const drawTokens = (cost: Simulator.TokenCost): Effect.Effect<number> => {
  if (typeof cost === "number") return Effect.succeed(cost)
  if (cost.distribution === "uniform") return Random.nextIntBetween(cost.min, cost.max + 1)
  // Log-normal: exp(ln(median) + sigma · z) for a standard normal z.
  return Effect.map(standardNormal, (z) => {
    const tokens = Math.ceil(cost.median * Math.exp(cost.sigma * z))
    return Math.max(1, cost.max === undefined ? tokens : Math.min(cost.max, tokens))
  })
}

/**
 * The modelled provider: buckets of requests and tokens (429 + Retry-After), outage windows and random 503s, then
 * a fixed latency.
 */
const makeProvider = (model: Simulator.Provider, counters: Counters) => {
  const rpm = model.requestsPerMinute
  const tpm = model.tokensPerMinute
  const requests = rpm === undefined ? undefined : makeBucket(rpm, Math.max(1, rpm / 60))
  const tokens = tpm === undefined ? undefined : makeBucket(tpm, tpm)
  const outages = model.outages ?? []
  const lastOutageEnd = outages.reduce((end, o) => Math.max(end, o.end), -Infinity)
  return (retryAfterUntil: { at: number }, cost: number) =>
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
      } else if (requests !== undefined || tokens !== undefined) {
        const short = Math.max(requests?.wait(now, 1) ?? 0, tokens?.wait(now, cost) ?? 0)
        if (short === 0) {
          requests?.take(1)
          tokens?.take(cost)
        } else {
          // Retry-After is sent in whole seconds, as HTTP does.
          const wait = Math.max(1, Math.ceil(short / 1000)) * 1000
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
        if (failure.status === 429) {
          counters.rateLimited++
          counters.trace.push({ at: now, outcome: "rateLimited" })
        } else {
          counters.errors++
          counters.trace.push({ at: now, outcome: "error" })
        }
        return yield* Effect.fail(failure)
      }
      counters.successes++
      counters.trace.push({ at: now, outcome: "success" })
      if (now >= lastOutageEnd && counters.firstSuccessAfterOutage === undefined) {
        counters.firstSuccessAfterOutage = now
      }
      return now
    })
}

/** @internal */
export const run = (scenario: Simulator.Scenario, policy: Simulator.Policy): Simulator.Metrics => {
  const counters: Counters = {
    calls: 0,
    successes: 0,
    rateLimited: 0,
    errors: 0,
    outageCalls: 0,
    earlyRetries: 0,
    firstSuccessAfterOutage: undefined,
    trace: []
  }
  const provider = makeProvider(scenario.provider, counters)
  const latencies: Array<number> = []
  const rejections: Array<number> = []
  let succeeded = 0
  let rejectedLocally = 0
  let completedAt = 0
  const config = policy.config
  const workload = Effect.gen(function*() {
    // A shared pipeline lives as long as the run; a per-request one is closed when its request ends.
    const shared = config !== "none" && policy.shared === true ? yield* Resilience.make(config) : undefined
    const request = Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const retryAfterUntil = { at: -Infinity }
      const tokens = scenario.tokens === undefined ? undefined : yield* drawTokens(scenario.tokens)
      const pipeline = config === "none" ? undefined : shared ?? (yield* Resilience.make(config))
      const call = pipeline === undefined
        ? provider(retryAfterUntil, tokens ?? 0)
        : pipeline.run(
          provider(retryAfterUntil, tokens ?? 0).pipe(
            Effect.tapError((error) =>
              error.retryAfter !== undefined && policy.shared === true
                ? pipeline.observe(KEY, { retryAfter: error.retryAfter })
                : Effect.void
            )
          ),
          tokens === undefined ? { key: KEY } : { key: KEY, tokens }
        )
      const outcome = yield* call.pipe(
        Effect.as("success" as const),
        Effect.catchAll((error) => Effect.succeed(Resilience.isPolicyRejection(error) ? "rejected" as const : "failed"))
      )
      const end = yield* Clock.currentTimeMillis
      latencies.push(end - start)
      completedAt = Math.max(completedAt, end)
      if (outcome === "success") succeeded++
      if (outcome === "rejected") {
        rejectedLocally++
        rejections.push(end)
      }
    }).pipe(Effect.scoped)
    const closed = scenario.closedLoop
    if (closed !== undefined) {
      // Closed loop: each client issues its next request when the previous one completes (after a think time).
      let next = 0
      const client = Effect.whileLoop({
        while: () => next < scenario.requests,
        body: () => {
          next++
          return request.pipe(
            Effect.zipRight(
              closed.thinkTime === undefined ? Effect.void : Effect.sleep(Duration.millis(closed.thinkTime))
            )
          )
        },
        step: () => undefined
      })
      yield* Effect.all(Array.from({ length: Math.min(closed.clients, scenario.requests) }, () => client), {
        concurrency: "unbounded",
        discard: true
      })
    } else {
      // Open loop: requests arrive on their own schedule, whatever happened to the earlier ones.
      yield* Effect.forEach(
        Array.from({ length: scenario.requests }, (_, i) => i),
        (i) =>
          scenario.arrivalsPerSecond === undefined
            ? request
            : Effect.zipRight(
              Effect.sleep(Duration.millis(Math.floor(i * 1000 / scenario.arrivalsPerSecond))),
              request
            ),
        {
          concurrency: "unbounded",
          discard: true
        }
      )
    }
  }).pipe(Effect.scoped, SeededRandom.withSeed(scenario.seed ?? 1), Effect.orDie)
  VirtualRuntime.runWorkload(`the policy "${policy.name}" in "${scenario.name}"`, workload, {
    horizon: scenario.horizon ?? "1 hour"
  })
  latencies.sort((a, b) => a - b)
  const outages = scenario.provider.outages ?? []
  const outageEnd = outages.reduce((end, o) => Math.max(end, o.end), -Infinity)
  return {
    scenario: scenario.name,
    policy: policy.name,
    requests: scenario.requests,
    successRate: succeeded / scenario.requests,
    rejectedLocally,
    amplification: counters.calls / scenario.requests,
    calls: counters.calls,
    wastedCalls: counters.rateLimited + counters.errors,
    rateLimitedPerSuccess: succeeded === 0 ? NaN : counters.rateLimited / succeeded,
    p50: Duration.millis(Charts.percentile(latencies, 0.5)),
    p95: Duration.millis(Charts.percentile(latencies, 0.95)),
    p99: Duration.millis(Charts.percentile(latencies, 0.99)),
    completion: Duration.millis(completedAt),
    outageCalls: outages.length === 0 ? undefined : counters.outageCalls,
    recovery: Number.isFinite(outageEnd) && counters.firstSuccessAfterOutage !== undefined
      ? Duration.millis(counters.firstSuccessAfterOutage - outageEnd)
      : undefined,
    earlyRetries: scenario.provider.requestsPerMinute === undefined && scenario.provider.tokensPerMinute === undefined
      ? undefined
      : counters.earlyRetries,
    trace: { calls: counters.trace, latencies, rejections }
  }
}

/** Seconds with one decimal, or a dash when not applicable. */
const seconds = (d: Duration.Duration | undefined): string => {
  if (d === undefined) return "–"
  const millis = Duration.toMillis(d)
  return Number.isNaN(millis) ? "–" : `${(millis / 1000).toFixed(1)} s`
}

const count = (n: number | undefined): string => n === undefined ? "–" : String(n)

/** A Markdown table from a header and rows of cells. */
export const markdown = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n")

/** @internal */
export const table = (rows: ReadonlyArray<Simulator.Metrics>): string =>
  markdown(
    [
      "policy",
      "success",
      "rejected locally",
      "calls/request",
      "wasted calls",
      "p50",
      "p95",
      "p99",
      "completion",
      "calls in outage",
      "recovery",
      "early retries"
    ],
    rows.map((m) => [
      m.policy,
      `${(m.successRate * 100).toFixed(1)} %`,
      String(m.rejectedLocally),
      m.amplification.toFixed(3),
      String(m.wastedCalls),
      seconds(m.p50),
      seconds(m.p95),
      seconds(m.p99),
      seconds(m.completion),
      count(m.outageCalls),
      seconds(m.recovery),
      count(m.earlyRetries)
    ])
  )

/** @internal */
export const timelineChart = (rows: ReadonlyArray<Simulator.Metrics>): string => {
  const end = rows.reduce(
    (max, m) => Math.max(max, Duration.toMillis(m.completion), ...m.trace.rejections.slice(-1)),
    1
  )
  const buckets = Charts.buckets(end)
  const width = buckets.width
  const withOutcome = (m: Simulator.Metrics, outcome: Simulator.CallRecord["outcome"]) =>
    m.trace.calls.filter((call) => call.outcome === outcome).map((call) => call.at)
  const perSecond = (name: string, times: ReadonlyArray<number>) =>
    Charts.rateSeries(name, times, buckets, { unit: "s", y: "perSecond" })
  return Svg.lineChart({
    title: `${rows[0]?.scenario ?? ""}: provider calls and local rejections over time`,
    xLabel: `virtual time (s), ${width >= 1000 ? `${width / 1000} s` : `${width} ms`} buckets`,
    yLabel: "per second",
    step: true,
    independentY: true,
    panels: rows.map((m) => ({
      title: m.policy,
      series: [
        perSecond("successes", withOutcome(m, "success")),
        perSecond("429s", withOutcome(m, "rateLimited")),
        perSecond("errors (5xx)", withOutcome(m, "error")),
        perSecond("rejected locally", m.trace.rejections)
      ]
    }))
  })
}

/** @internal */
export const latencyChart = (rows: ReadonlyArray<Simulator.Metrics>): string =>
  Svg.lineChart({
    title: `${rows[0]?.scenario ?? ""}: time to outcome per logical request (CDF)`,
    xLabel: "latency (s), from arrival to success or final failure",
    yLabel: "share of requests",
    yMax: 1,
    step: true,
    panels: [{
      title: "all policies",
      series: rows.map((m) => Charts.cdfSeries(m.policy, m.trace.latencies, { unit: "s", quantiles: 200 }))
    }]
  })
