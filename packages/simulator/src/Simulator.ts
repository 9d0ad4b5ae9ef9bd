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
import * as internal from "./internal/simulator.js"

/**
 * A modelled provider: capacity in requests per minute (a token bucket that answers
 * 429 with a Retry-After when empty), outage windows (503), a share of random 503s
 * and a fixed latency. Times are milliseconds of virtual time.
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
 * A scenario: a provider, a number of logical requests, arriving all at t=0 or at
 * a rate, a horizon after which the run stops, and the random seed.
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
  readonly provider: Provider
  readonly requests: number
  /** Arrivals per second; omitted means an open-loop burst at t=0. */
  readonly arrivalsPerSecond?: number | undefined
  /** Default one hour of virtual time. */
  readonly horizon?: Duration.DurationInput | undefined
  /** Default 1. */
  readonly seed?: number | undefined
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
  /** Calls sent while the provider was down. */
  readonly outageCalls: number
  /** From the end of the last outage to the first success after it. */
  readonly recovery: Duration.Duration | undefined
  /** Calls sent by a logical request before the Retry-After it was given had elapsed. */
  readonly earlyRetries: number
}

/**
 * Runs one policy in one scenario, in virtual time, and measures it.
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
 * Formats metrics as a Markdown table, one line per policy per scenario.
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
 * by every client.
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
      retry: { maxAttempts: 3, backoff: { base: "500 millis", factor: 2, max: "8 seconds", jitter: "equal" } },
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
      rateLimiter: { requestsPerMinute: 600 }
    },
    shared: true
  }
]

/**
 * The scenarios of the report: a full 60 s outage hit by 1,000 clients, a
 * 2,000-request burst at t=0 against a 600 RPM provider, and 20 % random 503s.
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
    provider: { outages: [{ start: 0, end: 60_000 }], latency: 100 },
    requests: 1_000,
    arrivalsPerSecond: 10
  },
  {
    name: "(2) 600 RPM, 2,000-request burst",
    provider: { requestsPerMinute: 600, latency: 100 },
    requests: 2_000
  },
  {
    name: "(3) 20 % random 503s, 1,000 clients",
    provider: { errorRate: 0.2, latency: 100 },
    requests: 1_000,
    arrivalsPerSecond: 10
  }
]
