/**
 * A load simulator in virtual time: runs the library's real policies (the
 * `Resilience` pipeline, its retry, budget, breaker and rate limiter) for many
 * concurrent clients against a modelled provider, and measures what each policy
 * costs the provider and its callers.
 *
 * @since 0.1.0
 */
import type { Resilience } from "@effect-resilience/core"
import type * as Duration from "effect/Duration"
import * as Contention from "./Contention.js"
import * as contention from "./internal/contention.js"
import * as internal from "./internal/simulator.js"

/**
 * A modelled provider: capacity in requests per minute (a bucket of one second's
 * worth of requests) and in tokens per minute (a bucket of one minute's worth of
 * tokens, charged each request's token cost), both refilled continuously and
 * answering 429 with a Retry-After when short; outage windows (503), a share of
 * random 503s and a fixed latency. Times are milliseconds of virtual time.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const provider: Simulator.Provider = { requestsPerMinute: 600, outages: [{ start: 0, end: 60_000 }], latency: 200 }
 * ```
 */
export interface Provider {
  /** Capacity; omitted means unlimited. */
  readonly requestsPerMinute?: number | undefined
  /**
   * Token capacity; omitted means unlimited. A call is admitted only when both buckets hold enough (a 429
   * takes nothing from either); a cost above a minute's worth is charged as the whole bucket. The 429's
   * Retry-After is the time until enough tokens are back (OpenAI's `x-ratelimit-reset-tokens`), in whole
   * seconds, or the longer of that and the requests' when both are short.
   */
  readonly tokensPerMinute?: number | undefined
  /** Windows `[start, end)` in milliseconds during which every call gets a 503. */
  readonly outages?: ReadonlyArray<{ readonly start: number; readonly end: number }> | undefined
  /** Share of calls, in [0, 1], that get a random 503. */
  readonly errorRate?: number | undefined
  /** Milliseconds every call takes. Default 0. */
  readonly latency?: number | undefined
}

/**
 * A policy as plain data: a pipeline configuration (or `"none"`: one call, no
 * policy), built per client, or once for all clients when `shared` is `true`
 * (then the 429s' Retry-After feed the shared rate limiter through `observe`).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const policy: Simulator.Policy = { name: "shared limiter", config: { rateLimiter: { requestsPerMinute: 600 } }, shared: true }
 * ```
 */
export interface Policy {
  readonly name: string
  readonly config: Resilience.Config | "none"
  readonly shared?: boolean | undefined
}

/**
 * What a logical request costs in tokens (the same for each of its calls): a
 * fixed whole number; uniform whole numbers in `[min, max]`; or lognormal with
 * the given median and `sigma` (the standard deviation of its logarithm),
 * rounded up and capped at `max` when given. Drawn from the scenario's seeded
 * `Random` when the request arrives.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const fixed: Simulator.TokenCost = 2_000
 * const uniform: Simulator.TokenCost = { distribution: "uniform", min: 1_000, max: 3_000 }
 * const skewed: Simulator.TokenCost = { distribution: "lognormal", median: 1_500, sigma: 0.5, max: 8_000 }
 * ```
 */
export type TokenCost =
  | number
  | { readonly distribution: "uniform"; readonly min: number; readonly max: number }
  | {
    readonly distribution: "lognormal"
    readonly median: number
    readonly sigma: number
    readonly max?: number | undefined
  }

/**
 * A scenario: a provider, a number of logical requests, arriving all at t=0 or at
 * a rate (open loop) or issued by a fixed set of clients one after another
 * (closed loop), a horizon after which the run stops, and the random seed.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const scenario: Simulator.Scenario = { name: "burst", provider: { requestsPerMinute: 600 }, requests: 2_000 }
 * ```
 */
export interface Scenario {
  readonly name: string
  /** A short name for the report's files (`<id>.md`, `<id>-timeline.svg`); derived from `name` when omitted. */
  readonly id?: string | undefined
  readonly provider: Provider
  readonly requests: number
  /**
   * Each request's token cost, charged by the provider's tokens per minute and declared to the pipeline
   * (`Resilience.run(effect, { key, tokens })`); omitted means requests cost no tokens.
   */
  readonly tokens?: TokenCost | undefined
  /** Open loop: arrivals per second; omitted means a burst at t=0. Ignored when `closedLoop` is set. */
  readonly arrivalsPerSecond?: number | undefined
  /**
   * Closed loop: `clients` clients share the `requests`; each issues its next request when its previous
   * one completed, after `thinkTime` milliseconds (default 0).
   */
  readonly closedLoop?: { readonly clients: number; readonly thinkTime?: number | undefined } | undefined
  /** Default one hour of virtual time. */
  readonly horizon?: Duration.DurationInput | undefined
  /** Default 1. */
  readonly seed?: number | undefined
}

/**
 * One provider call as the simulator saw it: when it was sent and how it ended
 * (`conflict` is a lost optimistic-concurrency write in the contention experiment).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const call: Simulator.CallRecord = { at: 1_000, outcome: "rateLimited" }
 * ```
 */
export interface CallRecord {
  /** Virtual milliseconds when the call was sent. */
  readonly at: number
  readonly outcome: "success" | "rateLimited" | "error" | "conflict"
}

/**
 * The raw material of the charts: every provider call, every logical
 * request's latency (ascending, milliseconds) and the instants at which a
 * policy refused a request locally.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const p50 = (trace: Simulator.Trace): number | undefined => trace.latencies[Math.floor(trace.latencies.length / 2)]
 * ```
 */
export interface Trace {
  readonly calls: ReadonlyArray<CallRecord>
  readonly latencies: ReadonlyArray<number>
  readonly rejections: ReadonlyArray<number>
}

/**
 * What one policy did in one scenario.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const line = (m: Simulator.Metrics): string => `${m.policy}: ${m.successRate}`
 * ```
 */
export interface Metrics {
  readonly scenario: string
  readonly policy: string
  readonly requests: number
  /** Logical requests that succeeded, in [0, 1]. */
  readonly successRate: number
  /** Logical requests that a policy refused without a provider answer (open circuit, local limit, ...). */
  readonly rejectedLocally: number
  /** Provider calls per logical request. */
  readonly amplification: number
  readonly calls: number
  /** Calls answered with a 429 or an error. */
  readonly wastedCalls: number
  readonly rateLimitedPerSuccess: number
  readonly p50: Duration.Duration
  readonly p95: Duration.Duration
  readonly p99: Duration.Duration
  /** When the last logical request completed. */
  readonly completion: Duration.Duration
  /** Calls sent while the provider was down; `undefined` when the scenario has no outage. */
  readonly outageCalls: number | undefined
  /** From the end of the last outage to the first success after it. */
  readonly recovery: Duration.Duration | undefined
  /**
   * Calls sent by a logical request before the Retry-After it was given had elapsed; `undefined` when the
   * provider has no rate limit.
   */
  readonly earlyRetries: number | undefined
  readonly trace: Trace
}

/**
 * Runs one policy in one scenario, in virtual time, and measures it. A run
 * that fails (a policy whose configuration is invalid, a defect) throws with
 * the cause, rather than measuring nothing.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const metrics = Simulator.run({ name: "calm", provider: {}, requests: 10 }, { name: "no retry", config: "none" })
 * console.log(metrics.successRate) // 1
 * ```
 */
export const run: (scenario: Scenario, policy: Policy) => Metrics = internal.run

/**
 * Formats metrics as a Markdown table, one line per policy: success rate,
 * requests refused locally, provider calls per logical request
 * (amplification), wasted calls (429s and errors), p50/p95/p99 latency,
 * completion time, calls during the outage, time to recover after it, and
 * retries sent before the server's Retry-After elapsed.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * console.log(Simulator.table([Simulator.run({ name: "calm", provider: {}, requests: 10 }, Simulator.policies[0]!)]))
 * ```
 */
export const table: (rows: ReadonlyArray<Metrics>) => string = internal.table

/**
 * The policies compared: no retry; naive exponential backoff without jitter; an
 * OpenAI-SDK-like retry (3 calls, 0.5 s·2ⁿ capped at 8 s, jittered, Retry-After
 * honoured); the library's defaults; and budget + breaker + a rate limiter shared
 * by every client, set to the account's limits: 600 requests per minute (the
 * provider of scenario 2) and 200,000 tokens per minute (that of scenario 5).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * console.log(Simulator.policies.map((policy) => policy.name))
 * ```
 */
export const policies: ReadonlyArray<Policy> = [
  { name: "no retry", config: "none" },
  {
    name: "naive exponential",
    config: {
      retry: { maxAttempts: 5, backoff: { base: "1 second", factor: 2, max: "30 seconds", jitter: "none" } },
      budget: false,
      circuitBreaker: false,
      bulkhead: false,
      rateLimiter: false
    }
  },
  {
    name: "openai-sdk-like",
    config: {
      // The SDK waits min(0.5 s · 2ⁿ, 8 s) × random[0.75, 1]: a ±1/7 spread around 437.5 ms · 2ⁿ is exactly that
      // range for every delay below the cap (with 3 calls, both delays are).
      retry: {
        maxAttempts: 3,
        backoff: { base: 437.5, factor: 2, max: "8 seconds", jitter: "proportional", jitterRatio: 1 / 7 }
      },
      budget: false,
      circuitBreaker: false,
      bulkhead: false,
      rateLimiter: false
    }
  },
  { name: "library defaults", config: {} },
  {
    name: "budget+breaker+shared limiter",
    config: {
      budget: { kind: "tokenBucket" },
      circuitBreaker: {},
      rateLimiter: { requestsPerMinute: 600, tokensPerMinute: 200_000 }
    },
    shared: true
  }
]

/**
 * The scenarios of the report: a full 60 s outage hit by 1,000 clients, a
 * 2,000-request burst at t=0 against a 600 RPM provider, 20 % random 503s, and
 * (5) a burst of 1,000 requests of 1,000–3,000 tokens at t=0 against a
 * provider whose 200,000 tokens per minute bind long before its 10,000
 * requests per minute (about 100 requests a minute get through).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * console.log(Simulator.scenarios.map((scenario) => scenario.name))
 * ```
 */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "(1) 60 s outage, 1,000 clients",
    id: "1-outage",
    provider: { outages: [{ start: 0, end: 60_000 }], latency: 100 },
    requests: 1_000,
    arrivalsPerSecond: 10
  },
  {
    name: "(2) 600 RPM, 2,000-request burst",
    id: "2-burst",
    provider: { requestsPerMinute: 600, latency: 100 },
    requests: 2_000
  },
  {
    name: "(3) 20 % random 503s, 1,000 requests from 50 closed-loop clients",
    id: "3-random-503s",
    provider: { errorRate: 0.2, latency: 100 },
    requests: 1_000,
    closedLoop: { clients: 50 }
  },
  {
    name: "(5) 200,000 TPM (10,000 RPM), 1,000-request burst of ~2,000 tokens",
    id: "5-tokens",
    provider: { requestsPerMinute: 10_000, tokensPerMinute: 200_000, latency: 100 },
    requests: 1_000,
    tokens: { distribution: "uniform", min: 1_000, max: 3_000 }
  }
]

/**
 * One scenario's report: its Markdown (heading, table and links to the
 * charts) and its charts as SVG documents, keyed by file name. The same seed
 * gives byte-identical text.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const files = (report: Simulator.Report): Array<string> => [`${report.id}.md`, ...report.charts.map((c) => c.file)]
 * ```
 */
export interface Report {
  readonly id: string
  readonly title: string
  /** The table alone, as printed by `pnpm sim`. */
  readonly table: string
  /** The scenario's Markdown file: heading, table, chart links. */
  readonly markdown: string
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>
}

const slug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")

const costs = (tokens: TokenCost | undefined): string =>
  tokens === undefined
    ? ""
    : typeof tokens === "number"
    ? `, ${tokens} tokens each`
    : tokens.distribution === "uniform"
    ? `, ${tokens.min}–${tokens.max} tokens each (uniform)`
    : `, lognormal tokens (median ${tokens.median}, sigma ${tokens.sigma}${
      tokens.max === undefined ? "" : `, at most ${tokens.max}`
    })`

const document = (id: string, title: string, table: string, notes: string): string =>
  [
    `## ${title}`,
    "",
    notes,
    "",
    table,
    "",
    `![calls over time](${id}-timeline.svg)`,
    "",
    `![latency distribution](${id}-latency.svg)`,
    ""
  ].join("\n")

/**
 * Runs every policy in a scenario and builds its report: the table, a chart
 * of provider calls and local rejections over time (one panel per policy,
 * each with its own y scale) and a chart of the latency distribution (one CDF per policy).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const report = Simulator.report({ name: "calm", provider: { latency: 100 }, requests: 20 }, Simulator.policies)
 * console.log(report.table, report.charts.map((chart) => chart.file))
 * ```
 */
export const report = (scenario: Scenario, policies: ReadonlyArray<Policy>): Report => {
  const rows = policies.map((policy) => run(scenario, policy))
  const id = scenario.id ?? slug(scenario.name)
  const text = table(rows)
  const load = scenario.closedLoop !== undefined
    ? `${scenario.closedLoop.clients} closed-loop clients`
    : scenario.arrivalsPerSecond !== undefined
    ? `open loop, ${scenario.arrivalsPerSecond} arrivals/s`
    : "open loop, all at t=0"
  return {
    id,
    title: scenario.name,
    table: text,
    markdown: document(
      id,
      scenario.name,
      text,
      `${scenario.requests} logical requests (${load}${costs(scenario.tokens)}), seed ${scenario.seed ?? 1}. ` +
        "Latency runs from a request's arrival to its success or final failure; recovery from the end of the " +
        "outage to the first success; early retries are calls sent before the server's Retry-After elapsed."
    ),
    charts: [
      { file: `${id}-timeline.svg`, svg: internal.timelineChart(rows) },
      { file: `${id}-latency.svg`, svg: internal.latencyChart(rows) }
    ]
  }
}

/**
 * The contention experiment of the report (scenario 4): Brooker's OCC race
 * with 50 and 100 clients, the four jitter strategies, means over `runs`
 * seeded runs (default 10).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const report = Simulator.contentionReport({ clients: [10], runs: 1 })
 * console.log(report.table)
 * ```
 */
export const contentionReport = (options?: {
  readonly clients?: ReadonlyArray<number> | undefined
  readonly runs?: number | undefined
  readonly seed?: number | undefined
}): Report => {
  const clients = options?.clients ?? [50, 100]
  const rows = Contention.run({
    clients,
    strategies: Contention.strategies,
    runs: options?.runs ?? 10,
    seed: options?.seed ?? 1
  })
  const id = "4-contention"
  const title = `(4) OCC contention, ${clients.join(" and ")} clients (AWS "Exponential Backoff and Jitter")`
  const text = Contention.table(rows)
  const largest = rows.filter((row) => row.clients === Math.max(...clients))
  return {
    id,
    title,
    table: text,
    markdown: document(
      id,
      title,
      text,
      `Every client updates one row once with optimistic concurrency; each message takes |Normal(10 ms, 2 ms)|; ` +
        `backoff base 5 ms, cap 2 s, built with \`Backoff.make\`. Means over ${rows[0]?.runs ?? 0} seeded runs (seed ${
          options?.seed ?? 1
        }); charts show run 1 with ${Math.max(...clients)} clients. ` +
        "The blog's findings: exponential backoff without jitter does by far the most work and takes the " +
        "longest; equal jitter does slightly more work than full jitter and takes much longer; decorrelated " +
        "jitter does more work than full jitter but finishes slightly sooner."
    ),
    charts: [
      {
        file: `${id}-timeline.svg`,
        svg: contention.timelineChart(`${title}: writes over time`, largest)
      },
      {
        file: `${id}-latency.svg`,
        svg: contention.latencyChart(`${title}: time until each client committed (CDF)`, largest)
      }
    ]
  }
}

/**
 * Every shipped scenario's report, in order: (1)–(3) from `scenarios` with all
 * `policies`, the contention experiment (4), then (5) from `scenarios`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * for (const report of Simulator.reports()) console.log(report.title)
 * ```
 */
export const reports = (): ReadonlyArray<Report> => [
  ...scenarios.slice(0, 3).map((scenario) => report(scenario, policies)),
  contentionReport(),
  ...scenarios.slice(3).map((scenario) => report(scenario, policies))
]
