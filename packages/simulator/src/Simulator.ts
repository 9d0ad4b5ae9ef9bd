/**
 * A load simulator in virtual time: runs the library's real policies (the
 * `Resilience` pipeline, its retry, budget, breaker and rate limiter, and
 * `Fallback` over two providers) for many concurrent clients against a
 * modelled provider, and measures what each policy costs the provider and its
 * callers.
 *
 * - The modelled provider behaves like OpenAI's API: buckets of requests and
 *   tokens refilled continuously, `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
 *   on every answer of a limited provider, 429 with a `retry-after` when a
 *   bucket is short; `rateLimitHeaders: false` gives a plain provider that only
 *   sends the Retry-After.
 * - The simulated client reads those headers with the library's own
 *   `RateLimitHeaders.parse` and feeds `Resilience.Service.observe` after every
 *   answer, as `ResilientHttpClient` does; a 429 fails the call with a
 *   `ProviderError.TransientError` carrying the Retry-After.
 * - "library defaults" is one pipeline built from `{}` and shared by every
 *   request: what `Resilience.layer()` gives an application. The row told the
 *   provider's limits is an oracle, an upper bound for what learning can reach.
 *
 * **Gotchas**
 *
 * - Everything runs in virtual time (`VirtualRuntime`): latencies and
 *   completion times are the model's, not the machine's, and a run is
 *   byte-for-byte reproducible for a seed.
 * - Each request's token cost is drawn up front from the scenario's seed, and
 *   each provider draws its random 503s from a stream of its own: every policy
 *   meets the same requests and the same sequence of faults, call by call.
 * - A per-request policy runs every request under a key of its own
 *   (`provider#17`) in one pipeline: every policy keeps its state per key, so
 *   that is a fresh pipeline per request without validating the configuration
 *   for each, as long as no more than 10,000 requests (the keys a pipeline
 *   keeps) are in flight at once.
 * - The modelled headers say what OpenAI's say: `x-ratelimit-limit-requests`
 *   is the rate per minute (600) while the bucket holds one second's worth
 *   (10), as OpenAI enforces a minute's limit over shorter windows; the bucket's
 *   size is `remaining + reset × limit / 1 minute`. They describe the buckets
 *   when the call was admitted and arrive with the answer, a latency later.
 *
 * @since 0.1.0
 */
import type { Resilience } from "@effect-resilience/core"
import type * as Duration from "effect/Duration"
import * as Contention from "./Contention.js"
import * as contention from "./internal/contention.js"
import * as internal from "./internal/simulator.js"
import * as Scorecard from "./Scorecard.js"

/**
 * A modelled provider: capacity in requests per minute (a bucket of one
 * second's worth of requests) and in tokens per minute (a bucket of one
 * minute's worth of tokens, charged each request's token cost), both refilled
 * continuously and answering 429 with a Retry-After when short; outage windows
 * (503), a share of random 503s and a fixed latency. Times are milliseconds of
 * virtual time.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const provider: Simulator.Provider = { requestsPerMinute: 600, outages: [{ start: 0, end: 60_000 }], latency: 200 }
 * // A plain provider: 429 + Retry-After, no rate-limit headers.
 * const plain: Simulator.Provider = { requestsPerMinute: 600, rateLimitHeaders: false }
 * ```
 */
export interface Provider {
  /** Capacity; omitted means unlimited. */
  readonly requestsPerMinute?: number | undefined
  /**
   * Token capacity; omitted means unlimited. A call is admitted only when both buckets hold enough (a 429
   * takes nothing from either); a cost above a minute's worth is charged as the whole bucket. The 429's
   * Retry-After is the time until enough tokens are back, in whole seconds, or the longer of that and the
   * requests' when both are short.
   */
  readonly tokensPerMinute?: number | undefined
  /**
   * `true` (the default): like OpenAI, every answer of a limited provider (successes and 429s; not 503s)
   * carries `x-ratelimit-limit-*` (the rate per minute), `x-ratelimit-remaining-*` (whole units left in the
   * bucket) and `x-ratelimit-reset-*` (the time until the bucket is full again, as a Go duration: `"120ms"`,
   * `"8.57s"`, `"6m0s"`) for requests and for tokens, and the client feeds them to the pipeline. `false`: a
   * plain provider that only sends `retry-after` on a 429.
   */
  readonly rateLimitHeaders?: boolean | undefined
  /** Windows `[start, end)` in milliseconds during which every call gets a 503. */
  readonly outages?: ReadonlyArray<{ readonly start: number; readonly end: number }> | undefined
  /** Share of calls, in [0, 1], that get a random 503. */
  readonly errorRate?: number | undefined
  /** Milliseconds every call takes. Default 0. */
  readonly latency?: number | undefined
}

/**
 * A policy as plain data: a pipeline configuration (or `"none"`: one call, no
 * policy), built per request, or once for all requests when `shared` is
 * `true` (one pipeline per provider, as `Resilience.layer()` and
 * `FailoverLanguageModel` build them). An `oracle` is told the scenario's
 * limits: its `rateLimiter` is set to the provider's requests and tokens per
 * minute (it only runs in scenarios whose provider has limits).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const defaults: Simulator.Policy = { name: "library defaults", config: {}, shared: true }
 * const oracle: Simulator.Policy = { name: "oracle (told the limits)", config: {}, shared: true, oracle: true }
 * ```
 */
export interface Policy {
  readonly name: string
  readonly config: Resilience.Config | "none"
  readonly shared?: boolean | undefined
  readonly oracle?: boolean | undefined
}

/**
 * What a logical request costs in tokens (the same for each of its calls): a
 * fixed whole number; uniform whole numbers in `[min, max]`; or lognormal with
 * the given median and `sigma` (the standard deviation of its logarithm),
 * rounded up and capped at `max` when given. Drawn, in arrival order, from a
 * `Random` seeded with the scenario's seed before the run starts.
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
 * A scenario: a provider (and optionally a second one to fail over to), a
 * number of logical requests, arriving all at t=0 or at a rate (open loop) or
 * issued by a fixed set of clients one after another (closed loop), a horizon
 * after which the run stops, the random seed, and the targets the zero-config
 * row is scored against.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const scenario: Simulator.Scenario = {
 *   name: "(9) burst",
 *   provider: { requestsPerMinute: 600 },
 *   requests: 2_000,
 *   targets: [{ kind: "success", atLeast: 0.98 }]
 * }
 * ```
 */
export interface Scenario {
  /** Starts with its label in parentheses, e.g. `"(2') ..."`, which `pnpm sim --scenario 2'` selects. */
  readonly name: string
  /** A short name for the report's files (`<id>.md`, `<id>-timeline.svg`); derived from `name` when omitted. */
  readonly id?: string | undefined
  /** The provider every request calls first (the primary, with `failover`). */
  readonly provider: Provider
  /**
   * A second provider: each request runs through core's `Fallback` over `[provider, failover]` (keys
   * `"primary"` and `"secondary"`), as `FailoverLanguageModel` does: a provider whose breaker is open is
   * skipped without a call, and a request that failed on the primary (after its retries) moves on.
   */
  readonly failover?: Provider | undefined
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
  /** What the "library defaults" row must reach (issue 11's targets); none by default. */
  readonly targets?: ReadonlyArray<Scorecard.Target> | undefined
}

/**
 * One provider call as the simulator saw it: when it was sent, how it ended
 * (`conflict` is a lost optimistic-concurrency write in the contention
 * experiment) and, with failover, which provider it went to.
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
  /** `"primary"` or `"secondary"` in a failover scenario; absent with one provider. */
  readonly provider?: string | undefined
}

/**
 * The raw material of the charts: every provider call, every logical
 * request's latency and that of the succeeded ones (ascending, milliseconds),
 * and the instants at which a policy refused a request locally.
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
  /** Every request's time from arrival to its success or final failure, ascending. */
  readonly latencies: ReadonlyArray<number>
  /** The succeeded requests' times from arrival to success, ascending. */
  readonly succeeded: ReadonlyArray<number>
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
  /** How the policy's pipeline was built: none, one per request, or one shared by every request. */
  readonly pipeline: "none" | "per request" | "shared"
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
  /**
   * The completion of a perfect client of a limited provider: each request sent, in arrival order, at the
   * first instant both buckets hold enough for it, plus the latency; `undefined` without limits or in a
   * closed loop.
   */
  readonly ideal: Duration.Duration | undefined
  /** Calls sent to a provider while it was down; `undefined` when the scenario has no outage. */
  readonly outageCalls: number | undefined
  /**
   * The times the down provider's breaker opened during its outage (events `BreakerOpened`); `undefined`
   * without an outage.
   */
  readonly breaks: number | undefined
  /**
   * The most calls sent to the down provider from one opening of its breaker to the next (or to the outage's
   * end): the probes per break; `undefined` when it never opened.
   */
  readonly callsPerBreak: number | undefined
  /**
   * Calls sent to the down provider before its breaker first opened (what tripping it cost); `undefined` when
   * it never opened.
   */
  readonly callsBeforeBreak: number | undefined
  /** From the end of the last outage to the first success of the provider that was down. */
  readonly recovery: Duration.Duration | undefined
  /** Requests served by the second provider; `undefined` without failover. */
  readonly failedOver: number | undefined
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
 * completion time, and the columns that apply to the scenario: 429s per
 * success and early retries (a limited provider), calls in the outage,
 * breaker openings, the most calls in one break and the recovery (an outage),
 * requests served by the second provider (failover).
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
 * The policies compared: no retry; naive exponential backoff without jitter
 * and an OpenAI-SDK-like retry (3 calls, 0.5 s·2ⁿ capped at 8 s, jittered,
 * Retry-After honoured), both built per request as SDKs do; the library's
 * defaults, one pipeline from `{}` shared by every request (what
 * `Resilience.layer()` gives); and the oracle: the same defaults told the
 * provider's limits, an upper bound, run only where the provider has limits.
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
  { name: "library defaults", config: {}, shared: true },
  { name: "oracle (told the limits)", config: {}, shared: true, oracle: true }
]

/**
 * The name of the zero-config row, the one the scorecard scores.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const row = Simulator.policies.find((policy) => policy.name === Simulator.defaultsPolicy)
 * ```
 */
export const defaultsPolicy = "library defaults"

/**
 * The scenarios of the report, each with the targets of issue 11 for the
 * zero-config row: (1) a 60 s outage hit by 1,000 requests at 10/s; (2) a
 * 2,000-request burst at t=0 against a 600 RPM provider that sends OpenAI's
 * rate-limit headers, (2') the same provider with Retry-After only; (3) 20 %
 * random 503s for 50 closed-loop clients; (5) a burst of 1,000 requests of
 * 1,000–3,000 tokens against 200,000 tokens per minute (and 10,000 requests
 * per minute, which never bind); (6) two providers with failover, the primary
 * down from 10 s to 70 s. Scenario (4), the contention experiment, is
 * `contentionReport`.
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
    name: "(1) 60 s outage, 1,000 requests at 10/s",
    id: "1-outage",
    provider: { outages: [{ start: 0, end: 60_000 }], latency: 100 },
    requests: 1_000,
    arrivalsPerSecond: 10,
    targets: [
      { kind: "callsPerRequest", atMost: 1.1 },
      { kind: "successVsPolicy", policy: "no retry" },
      { kind: "recovery", atMost: 2_000 }
    ]
  },
  {
    name: "(2) 600 RPM with rate-limit headers, 2,000-request burst",
    id: "2-burst",
    provider: { requestsPerMinute: 600, latency: 100 },
    requests: 2_000,
    targets: [
      { kind: "success", atLeast: 0.98 },
      { kind: "completionVsIdeal", factor: 1.05 },
      { kind: "rateLimitedPerSuccess", below: 0.02 }
    ]
  },
  {
    name: "(2') 600 RPM with Retry-After only (no rate-limit headers), 2,000-request burst",
    id: "2-burst-retry-after",
    provider: { requestsPerMinute: 600, latency: 100, rateLimitHeaders: false },
    requests: 2_000,
    targets: [
      { kind: "success", atLeast: 0.98 },
      { kind: "completionVsIdeal", factor: 1.2 },
      { kind: "rateLimitedPerSuccess", below: 0.1 }
    ]
  },
  {
    name: "(3) 20 % random 503s, 1,000 requests from 50 closed-loop clients",
    id: "3-random-503s",
    provider: { errorRate: 0.2, latency: 100 },
    requests: 1_000,
    closedLoop: { clients: 50 },
    targets: [
      { kind: "success", atLeast: 0.99 },
      { kind: "callsPerRequest", atMost: 1.3 },
      { kind: "completionVsBestPerRequest", factor: 1.2 }
    ]
  },
  {
    name: "(5) 200,000 TPM (10,000 RPM) with rate-limit headers, 1,000-request burst of ~2,000 tokens",
    id: "5-tokens",
    provider: { requestsPerMinute: 10_000, tokensPerMinute: 200_000, latency: 100 },
    requests: 1_000,
    tokens: { distribution: "uniform", min: 1_000, max: 3_000 },
    targets: [
      { kind: "success", atLeast: 0.98 },
      { kind: "completionVsIdeal", factor: 1.05 }
    ]
  },
  {
    name: "(6) failover to a second provider, the primary down from 10 s to 70 s, 1,000 requests at 10/s",
    id: "6-failover",
    provider: { outages: [{ start: 10_000, end: 70_000 }], latency: 100 },
    failover: { latency: 100 },
    requests: 1_000,
    arrivalsPerSecond: 10,
    targets: [
      { kind: "success", atLeast: 0.99 },
      { kind: "callsPerBreak", atMost: 1 },
      { kind: "recovery", atMost: 2_000 }
    ]
  }
]

/**
 * One scenario's report: its label (`"2'"`), its Markdown (heading, table and
 * links to the charts), its charts as SVG documents keyed by file name, and
 * the scorecard's checks for its targets. The same seed gives byte-identical
 * text.
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
  /** What `pnpm sim --scenario` selects it by: the name's parenthesised prefix (`"1"`, `"2'"`). */
  readonly label: string
  readonly title: string
  /** The table alone, as printed by `pnpm sim`. */
  readonly table: string
  /** The scenario's Markdown file: heading, table, chart links. */
  readonly markdown: string
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>
  /** The targets' checks (empty for a scenario without targets). */
  readonly checks: ReadonlyArray<Scorecard.Check>
}

/**
 * Called before each run of a report, to show progress: which scenario and
 * policy, and the share of the planned work (`weight`, in arbitrary units)
 * done so far.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Simulator } from "@effect-resilience/simulator"
 *
 * const onRun: Simulator.OnRun = (run) => console.error(`${run.scenario}: ${run.policy}`)
 * ```
 */
export type OnRun = (run: {
  readonly scenario: string
  readonly policy: string
  /** The run's share of the work, in the units of `weight`. */
  readonly weight: number
}) => void

/**
 * The label of a scenario: the parenthesised prefix of its name (`"(2') ..."`
 * gives `"2'"`), or its id.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * Simulator.label({ name: "(2') no headers" }) // "2'"
 * ```
 */
export const label = (scenario: Pick<Scenario, "name" | "id">): string =>
  /^\(([^)]+)\)/.exec(scenario.name)?.[1] ?? scenario.id ?? slug(scenario.name)

/**
 * The policies that apply to a scenario: an oracle only where the provider
 * has limits to be told.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * Simulator.policiesFor(Simulator.scenarios[0]!, Simulator.policies).map((policy) => policy.name)
 * ```
 */
export const policiesFor = (scenario: Scenario, policies: ReadonlyArray<Policy>): ReadonlyArray<Policy> =>
  policies.filter((policy) =>
    policy.oracle !== true ||
    scenario.provider.requestsPerMinute !== undefined || scenario.provider.tokensPerMinute !== undefined
  )

/**
 * The relative cost of running a policy in a scenario (for progress
 * estimates): its requests, more for per-request pipelines and failover.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const total = Simulator.scenarios.reduce((sum, s) => sum + Simulator.weight(s, Simulator.policies[3]!), 0)
 * ```
 */
export const weight = (scenario: Scenario, policy: Policy): number =>
  scenario.requests * (policy.config === "none" ? 0.3 : policy.shared === true ? 1 : 2) *
  (scenario.failover === undefined ? 1 : 2)

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

const document = (id: string, title: string, table: string, notes: string, checks: string): string =>
  [
    `## ${title}`,
    "",
    notes,
    "",
    table,
    "",
    ...(checks === "" ? [] : [checks, ""]),
    `![calls over time](${id}-timeline.svg)`,
    "",
    `![share of requests succeeded by time t](${id}-latency.svg)`,
    ""
  ].join("\n")

const describeProvider = (provider: Provider, name: string): string => {
  const limits = [
    provider.requestsPerMinute === undefined ? undefined : `${provider.requestsPerMinute} requests/min`,
    provider.tokensPerMinute === undefined ? undefined : `${provider.tokensPerMinute} tokens/min`
  ].filter((part) => part !== undefined)
  const parts = [
    limits.length === 0
      ? "no rate limit"
      : `${limits.join(" and ")}, ${
        provider.rateLimitHeaders === false
          ? "429 + Retry-After only (no rate-limit headers)"
          : "OpenAI rate-limit headers on every answer, 429 + Retry-After"
      }`,
    ...(provider.outages ?? []).map((o) => `down (503) from ${o.start / 1000} s to ${o.end / 1000} s`),
    ...(provider.errorRate === undefined ? [] : [`${provider.errorRate * 100} % random 503s`]),
    `${provider.latency ?? 0} ms per call`
  ]
  return `${name}: ${parts.join("; ")}.`
}

/**
 * Runs every policy that applies (`policiesFor`) in a scenario and builds its
 * report: the table, the scorecard's checks for its targets, a chart of
 * provider calls and local rejections over time (one panel per policy, each
 * with its own time scale and buckets, so that every retry wave shows) and a
 * chart of the share of requests succeeded by time t (one line style per
 * policy).
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
export const report = (
  scenario: Scenario,
  policies: ReadonlyArray<Policy>,
  options?: { readonly onRun?: OnRun | undefined }
): Report => {
  const rows = policiesFor(scenario, policies).map((policy) => {
    options?.onRun?.({ scenario: scenario.name, policy: policy.name, weight: weight(scenario, policy) })
    return run(scenario, policy)
  })
  const id = scenario.id ?? slug(scenario.name)
  const text = table(rows)
  const checks = Scorecard.evaluate(rows, scenario.targets ?? [])
  const load = scenario.closedLoop !== undefined
    ? `${scenario.closedLoop.clients} closed-loop clients`
    : scenario.arrivalsPerSecond !== undefined
    ? `open loop, ${scenario.arrivalsPerSecond} arrivals/s`
    : "open loop, all at t=0"
  const ideal = rows[0]?.ideal
  return {
    id,
    label: label(scenario),
    title: scenario.name,
    table: text,
    checks,
    markdown: document(
      id,
      scenario.name,
      text,
      [
        `${scenario.requests} logical requests (${load}${costs(scenario.tokens)}), seed ${scenario.seed ?? 1}.`,
        describeProvider(scenario.provider, scenario.failover === undefined ? "Provider" : "Primary"),
        ...(scenario.failover === undefined
          ? []
          : [
            describeProvider(scenario.failover, "Secondary") +
            " Each request runs through core's `Fallback` over both (`FailoverLanguageModel`'s semantics: " +
            "a provider whose breaker is open is skipped without a call), with one pipeline per provider."
          ]),
        ...(ideal === undefined
          ? []
          : [
            `A perfect client (each request sent at the first instant the provider's buckets admit it) ` +
            `completes in ${(internal.millis(ideal) / 1000).toFixed(1)} s.`
          ]),
        "Latency runs from a request's arrival to its success or final failure.",
        ...(rows.some((row) => row.outageCalls !== undefined)
          ? [
            "Breaks count the openings of the down provider's breaker during its outage, and the most calls in " +
            "a break are the calls it was sent from one opening to the next (its probes); recovery runs from the " +
            "end of the outage to the first success of the provider that was down."
          ]
          : []),
        ...(rows.some((row) => row.earlyRetries !== undefined)
          ? ["Early retries are calls sent before the server's Retry-After elapsed."]
          : []),
        "\"library defaults\" is one pipeline built from `{}` shared by every request (`Resilience.layer()`)" +
        (rows.some((row) => row.policy.startsWith("oracle"))
          ? "; the oracle is told the provider's limits (an upper bound, not a configuration users can be " +
            "expected to know)."
          : ".")
      ].join(" "),
      checks.length === 0 ? "" : Scorecard.checksMarkdown(checks)
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
  readonly onRun?: OnRun | undefined
}): Report => {
  const clients = options?.clients ?? [50, 100]
  const runs = options?.runs ?? 10
  const title = `(4) OCC contention, ${clients.join(" and ")} clients (AWS "Exponential Backoff and Jitter")`
  options?.onRun?.({ scenario: title, policy: "four jitter strategies", weight: contentionWeight(clients, runs) })
  const rows = Contention.run({
    clients,
    strategies: Contention.strategies,
    runs,
    seed: options?.seed ?? 1
  })
  const id = "4-contention"
  const text = Contention.table(rows)
  const largest = rows.filter((row) => row.clients === Math.max(...clients))
  return {
    id,
    label: "4",
    title,
    table: text,
    checks: [],
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
        "jitter does more work than full jitter but finishes slightly sooner.",
      ""
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

/** The contention experiment's share of the work, in the units of `weight`. */
const contentionWeight = (clients: ReadonlyArray<number>, runs: number): number =>
  clients.reduce((sum, n) => sum + n * n, 0) * runs * Contention.strategies.length / 40

/**
 * Every shipped scenario's report, in order, or those whose label is in
 * `only`: (1), (2), (2') and (3) from `scenarios` with all `policies`, the
 * contention experiment (4), then (5) and (6). `onRun` is called before each
 * run, with the total planned weight known from `plan`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * for (const report of Simulator.reports({ only: ["4"] })) console.log(report.title)
 * ```
 */
export const reports = (options?: {
  readonly only?: ReadonlyArray<string> | undefined
  readonly onRun?: OnRun | undefined
}): ReadonlyArray<Report> =>
  plan(options?.only).map((item) =>
    item === "contention"
      ? contentionReport({ onRun: options?.onRun })
      : report(item, policies, { onRun: options?.onRun })
  )

/**
 * What `reports` will run, in order (`"contention"` for scenario 4), and its
 * total weight: the labels in `only` (all when omitted).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * Simulator.plan(["2'", "6"]).length // 2
 * ```
 */
export const plan = (only?: ReadonlyArray<string> | undefined): ReadonlyArray<Scenario | "contention"> => {
  const all: Array<Scenario | "contention"> = [
    ...scenarios.filter((s) => !s.name.startsWith("(5)") && !s.name.startsWith("(6)")),
    "contention",
    ...scenarios.filter((s) => s.name.startsWith("(5)") || s.name.startsWith("(6)"))
  ]
  return only === undefined ? all : all.filter((item) => only.includes(item === "contention" ? "4" : label(item)))
}

/**
 * The planned weight of a plan's item (see `weight`), for progress estimates.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * const total = Simulator.plan().reduce((sum, item) => sum + Simulator.planWeight(item), 0)
 * ```
 */
export const planWeight = (item: Scenario | "contention"): number =>
  item === "contention"
    ? contentionWeight([50, 100], 10)
    : policiesFor(item, policies).reduce((sum, policy) => sum + weight(item, policy), 0)

/**
 * The scorecard of a set of reports as Markdown: one row per target, one
 * column per policy (the zero-config row first, ✓/✗ with its number), and a
 * summary line (see `Scorecard.markdown`).
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * console.log(Simulator.scorecard(Simulator.reports({ only: ["1"] })))
 * ```
 */
export const scorecard = (reports: ReadonlyArray<Report>): string =>
  Scorecard.markdown(reports.map((report) => ({ scenario: report.title, checks: report.checks })))

/**
 * The index of a report folder (`README.md` of `pnpm sim --out <dir>`): what
 * is compared, the scorecard, and a link to each scenario's page.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Simulator } from "@effect-resilience/simulator"
 *
 * console.log(Simulator.readme(Simulator.reports({ only: ["4"] })))
 * ```
 */
export const readme = (reports: ReadonlyArray<Report>): string =>
  [
    "# Simulator report",
    "",
    "Generated by `pnpm sim --out docs/sim` (virtual time, seed 1; the same seed gives the same bytes): do not " +
    "edit by hand. `pnpm sim --help` lists the options; `pnpm sim --scenario 2` runs one scenario.",
    "",
    "The policies compared, each against the same requests and the same provider faults:",
    "",
    "- **no retry**: one call per request;",
    "- **naive exponential**: 5 calls, 1 s doubling to 30 s, no jitter, one pipeline per request;",
    "- **openai-sdk-like**: 3 calls, 0.5 s · 2ⁿ × random[0.75, 1] capped at 8 s, Retry-After honoured, one " +
    "pipeline per request (what the provider SDKs do);",
    "- **library defaults**: one pipeline built from `{}`, shared by every request: what `Resilience.layer()`, " +
    "`ResilientHttpClient.layer` and `ResilientLanguageModel.layer` give an application with no options (with " +
    "failover, one per provider, as `FailoverLanguageModel` builds them);",
    "- **oracle (told the limits)**: the same defaults with `rateLimiter` set to the provider's exact requests " +
    "and tokens per minute. Users rarely know these (they differ per model, tier and organisation): it is an " +
    "upper bound, not a recommendation, and runs only where the provider has limits.",
    "",
    "The modelled provider behaves like OpenAI: buckets of requests (one second's worth) and tokens (one " +
    "minute's worth) refilled continuously; `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` on every " +
    "answer of a limited provider (read by the library's `RateLimitHeaders` and fed to " +
    "`Resilience.Service.observe`, as `ResilientHttpClient` does); 429 + `retry-after` when a bucket is short. " +
    "Scenario (2') is the same provider without rate-limit headers (Retry-After only), as a plain provider " +
    "called through core.",
    "",
    "Each scenario's page has its table, its targets and two charts: provider calls and local rejections over " +
    "time, one panel per policy, each panel with its own time scale and bucket width (so that a retry storm " +
    "over in 2 s shows its waves beside a run paced over 200 s); and the share of all requests that had " +
    "succeeded by time t after their arrival (a failed request never counts, so a policy that fails fast does " +
    "not look fast), one line style per policy.",
    "",
    "## Scorecard",
    "",
    "Each target of issue 11 for the zero-config row, computed from the run's own numbers; every other row's " +
    "number is shown for comparison.",
    "",
    scorecard(reports),
    "",
    "## Scenarios",
    "",
    ...reports.map((report) => `- [${report.title}](${report.id}.md)`),
    ""
  ].join("\n")
