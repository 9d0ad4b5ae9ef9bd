// The modelled provider: an OpenAI-like endpoint with buckets of requests and tokens, outage windows and random
// 503s. It answers with a status and the headers a real one sends, so the simulated client reads them with the
// library's own `RateLimitHeaders`, exactly as `ResilientHttpClient` does.
import * as Headers from "@effect/platform/Headers"
import * as Effect from "effect/Effect"
import type * as Random from "effect/Random"
import type * as Simulator from "../Simulator.js"

/**
 * A bucket refilled continuously at `perMinute` units a minute up to `capacity`, starting full: `wait` says how many
 * milliseconds until `cost` (capped at the capacity) is in it, `take` takes it.
 */
export const makeBucket = (perMinute: number, capacity: number) => {
  let level = capacity
  let refilledAt = 0
  const refill = (now: number): void => {
    level = Math.min(capacity, level + (now - refilledAt) * perMinute / 60_000)
    refilledAt = now
  }
  return {
    capacity,
    perMinute,
    /** Milliseconds until `cost` units are in the bucket at `now` (0 when they already are). */
    wait: (now: number, cost: number): number => {
      refill(now)
      const needed = Math.min(cost, capacity)
      // A floating-point refill may fall short by a hair (1e-13 of a token) at the exact instant a client paced
      // at the same rate sends: a real provider counts whole units, so that hair is no reason for a 429.
      return level >= needed - 1e-9 ? 0 : (needed - level) * 60_000 / perMinute
    },
    /** Takes `cost` units (capped at the capacity); call after `wait` said 0 at the same instant. */
    take: (cost: number): void => {
      level -= Math.min(cost, capacity)
    },
    /** The level at `now` (refilled first). */
    level: (now: number): number => {
      refill(now)
      return level
    }
  }
}

/** A bucket as `makeBucket` makes it. */
export type Bucket = ReturnType<typeof makeBucket>

/**
 * A duration as Go's `time.Duration.String` writes it, at millisecond precision, the format of OpenAI's
 * `x-ratelimit-reset-*`: `"0s"`, `"120ms"`, `"1s"`, `"8.57s"`, `"6m0s"`, `"1h2m3.5s"`.
 */
export const goDuration = (millis: number): string => {
  const ms = Math.max(0, Math.ceil(millis))
  if (ms === 0) return "0s"
  if (ms < 1000) return `${ms}ms`
  const hours = Math.floor(ms / 3_600_000)
  const minutes = Math.floor((ms % 3_600_000) / 60_000)
  const rest = ms % 60_000
  const seconds = `${Math.floor(rest / 1000)}${rest % 1000 === 0 ? "" : `.${String(rest % 1000).padStart(3, "0")}`}`
    .replace(/(\.\d*?)0+$/, "$1")
  return `${hours > 0 ? `${hours}h` : ""}${hours > 0 || minutes > 0 ? `${minutes}m` : ""}${seconds}s`
}

/** One modelled response: its status, its headers, and why it failed (for the trace). */
export interface Response {
  readonly status: 200 | 429 | 503
  readonly headers: Headers.Headers
  readonly cause: "success" | "rateLimited" | "outage" | "random"
}

/** The provider as the simulated client sees it: answers a call sent at `now` that costs `tokens`. */
export interface Model {
  readonly respond: (now: number, tokens: number) => Effect.Effect<Response>
  readonly requests: Bucket | undefined
  readonly tokens: Bucket | undefined
  readonly latency: number
  /** Whether `now` lies in one of its outage windows. */
  readonly down: (now: number) => boolean
}

/**
 * Builds the provider: an outage answers 503, then a random 503 (drawn from `random`, the provider's own stream, so
 * that every policy meets the same sequence of faults call by call), then the buckets: both must hold enough or
 * the call gets 429 with a `retry-after` in whole seconds (the longer wait of the two), taking nothing. With
 * `rateLimitHeaders` (the default), every answer of a limited provider that passed the outage and fault checks
 * carries OpenAI's headers describing its buckets after the call: `x-ratelimit-limit-*` the rate per minute,
 * `-remaining-*` the whole units left now, `-reset-*` the time until the bucket is full again; so
 * `remaining + reset × limit / 1 minute` is the bucket's size.
 */
export const make = (model: Simulator.Provider, random: Random.Random): Model => {
  const rpm = model.requestsPerMinute
  const tpm = model.tokensPerMinute
  const requests = rpm === undefined ? undefined : makeBucket(rpm, Math.max(1, rpm / 60))
  const tokens = tpm === undefined ? undefined : makeBucket(tpm, tpm)
  const outages = model.outages ?? []
  const errorRate = model.errorRate ?? 0
  const withHeaders = model.rateLimitHeaders !== false
  const down = (now: number) => outages.some((o) => now >= o.start && now < o.end)
  const describe = (now: number, into: Record<string, string>): void => {
    for (const [family, bucket] of [["requests", requests], ["tokens", tokens]] as const) {
      if (bucket === undefined) continue
      const level = bucket.level(now)
      into[`x-ratelimit-limit-${family}`] = String(bucket.perMinute)
      into[`x-ratelimit-remaining-${family}`] = String(Math.max(0, Math.floor(level)))
      into[`x-ratelimit-reset-${family}`] = goDuration((bucket.capacity - level) * 60_000 / bucket.perMinute)
    }
  }
  const outage: Response = { status: 503, headers: Headers.empty, cause: "outage" }
  const fault: Response = { status: 503, headers: Headers.empty, cause: "random" }
  const admit = (now: number, cost: number): Response => {
    const short = Math.max(requests?.wait(now, 1) ?? 0, tokens?.wait(now, cost) ?? 0)
    const headers: Record<string, string> = {}
    let status: 200 | 429 = 200
    if (short === 0) {
      requests?.take(1)
      tokens?.take(cost)
    } else {
      status = 429
      // Retry-After is sent in whole seconds, as HTTP does.
      headers["retry-after"] = String(Math.max(1, Math.ceil(short / 1000)))
    }
    if (withHeaders) describe(now, headers)
    return {
      status,
      headers: requests === undefined && tokens === undefined ? Headers.empty : Headers.fromInput(headers),
      cause: status === 200 ? "success" : "rateLimited"
    }
  }
  return {
    requests,
    tokens,
    latency: model.latency ?? 0,
    down,
    respond: (now, cost) => {
      if (down(now)) return Effect.succeed(outage)
      if (errorRate > 0) {
        return Effect.map(random.next, (draw) => draw < errorRate ? fault : admit(now, cost))
      }
      return Effect.sync(() => admit(now, cost))
    }
  }
}
