import { PolicyError } from "@effect-resilience/core"
import type { ProviderError } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as FaultInjection from "../FaultInjection.js"
import * as errors from "./errors.js"
import { Issues } from "./validate.js"

/** An error kind with its share of calls, in the fixed order of `errors.allKinds`. */
interface ErrorShare {
  readonly kind: errors.Kind
  readonly rate: number
  readonly error: ProviderError.ProviderError
}

interface Window {
  readonly from: number
  readonly to: number
  readonly error: ProviderError.ProviderError
}

/** The latency as a function of uniform draws in [0, 1), in milliseconds before rounding. */
interface LatencyModel {
  readonly rate: number
  readonly draw: (u: number) => number
  readonly min: number
  readonly max: number
}

interface Checked {
  readonly provider: string
  readonly shares: ReadonlyArray<ErrorShare>
  readonly latency: LatencyModel | undefined
  readonly outages: ReadonlyArray<Window>
  readonly rateLimit:
    | { readonly limit: number; readonly windowMillis: number; readonly window: Duration.Duration }
    | undefined
  readonly start: number | undefined
}

const check = (config: FaultInjection.Config): Checked | PolicyError.InvalidPolicyError => {
  const issues = new Issues()
  const provider = config.provider ?? "fault-injection"

  const shares: Array<ErrorShare> = []
  const given = config.errors ?? {}
  for (const key of Object.keys(given)) {
    if (!errors.isKind(key)) issues.add(`errors.${key}`, `unknown kind; one of ${errors.allKinds.join(", ")}`)
  }
  let total = 0
  for (const kind of errors.allKinds) {
    const entry = given[kind]
    if (entry === undefined) continue
    const path = `errors.${kind}`
    const rate = issues.probability(
      typeof entry === "number" ? path : `${path}.rate`,
      typeof entry === "number" ? entry : entry.rate
    )
    const retryAfter = typeof entry === "number" || entry.retryAfter === undefined
      ? undefined
      : issues.duration(`${path}.retryAfter`, entry.retryAfter)
    total += rate
    if (rate > 0) {
      shares.push({
        kind,
        rate,
        error: errors.make(kind, provider, { retryAfter, note: "injected" })
      })
    }
  }
  if (total > 1 + 1e-9) issues.add("errors", `the rates add up to ${total}, more than 1`)

  const latency = config.latency === undefined ? undefined : checkLatency(config.latency, issues)

  const outages: Array<Window> = []
  config.outages?.forEach((outage, i) => {
    const path = `outages[${i}]`
    const from = issues.duration(`${path}.from`, outage.from)
    const to = issues.duration(`${path}.to`, outage.to)
    const kind = outage.error ?? "unavailable"
    if (!errors.isKind(kind)) issues.add(`${path}.error`, `unknown kind; one of ${errors.allKinds.join(", ")}`)
    const retryAfter = outage.retryAfter === undefined
      ? undefined
      : issues.duration(`${path}.retryAfter`, outage.retryAfter)
    if (from === undefined || to === undefined || !errors.isKind(kind)) return
    if (Duration.greaterThan(from, to)) {
      issues.add(path, `from (${Duration.format(from)}) must not be after to (${Duration.format(to)})`)
      return
    }
    outages.push({
      from: Duration.toMillis(from),
      to: Duration.toMillis(to),
      error: errors.make(kind, provider, {
        retryAfter,
        note: `injected outage from ${Duration.format(from)} to ${Duration.format(to)}`
      })
    })
  })

  let rateLimit: Checked["rateLimit"]
  if (config.rateLimit !== undefined) {
    const limit = issues.wholeNumber("rateLimit.limit", config.rateLimit.limit, 1)
    const window = issues.duration("rateLimit.window", config.rateLimit.window, { positive: true })
    if (window !== undefined) rateLimit = { limit, window, windowMillis: Duration.toMillis(window) }
  }

  if (config.start !== undefined && !Number.isFinite(config.start)) {
    issues.add("start", `must be a finite Clock instant in milliseconds, got ${String(config.start)}`)
  }

  return issues.list.length > 0
    ? new PolicyError.InvalidPolicyError({ policy: "fault injection", issues: issues.list })
    : { provider, shares, latency, outages, rateLimit, start: config.start }
}

const checkLatency = (latency: FaultInjection.Latency, issues: Issues): LatencyModel | undefined => {
  const rate = latency.rate === undefined ? 1 : issues.probability("latency.rate", latency.rate)
  switch (latency.kind) {
    case "fixed": {
      const duration = issues.duration("latency.duration", latency.duration)
      if (duration === undefined) return undefined
      const millis = Duration.toMillis(duration)
      return { rate, draw: () => millis, min: millis, max: millis }
    }
    case "uniform": {
      const min = issues.duration("latency.min", latency.min)
      const max = issues.duration("latency.max", latency.max)
      if (min === undefined || max === undefined) return undefined
      const lo = Duration.toMillis(min)
      const hi = Duration.toMillis(max)
      if (lo > hi) {
        issues.add("latency", `min (${Duration.format(min)}) must not be above max (${Duration.format(max)})`)
        return undefined
      }
      return { rate, draw: (u) => lo + u * (hi - lo), min: lo, max: hi }
    }
    case "exponential": {
      const mean = issues.duration("latency.mean", latency.mean, { positive: true })
      const max = latency.max === undefined ? undefined : issues.duration("latency.max", latency.max)
      if (mean === undefined || (latency.max !== undefined && max === undefined)) return undefined
      const m = Duration.toMillis(mean)
      // Inverse transform: u in [0, 1) gives 1 - u in (0, 1], so the logarithm is finite.
      return {
        rate,
        draw: (u) => -m * Math.log(1 - u),
        min: 0,
        max: max === undefined ? Infinity : Duration.toMillis(max)
      }
    }
    default:
      issues.add(
        "latency.kind",
        `must be "fixed", "uniform" or "exponential", got ${String((latency as { kind: unknown }).kind)}`
      )
      return undefined
  }
}

/** Implements `FaultInjection.make`, documented there. */
export const make = (
  config: FaultInjection.Config = {}
): Effect.Effect<FaultInjection.Injector, PolicyError.InvalidPolicyError> =>
  Effect.suspend(() => {
    const checked = check(config)
    if (checked instanceof PolicyError.InvalidPolicyError) return Effect.fail(checked)
    return Effect.map(Clock.currentTimeMillis, (now) => makeInjector(checked, config, now))
  })

const makeInjector = (checked: Checked, config: FaultInjection.Config, now: number): FaultInjection.Injector => {
  const { latency, outages, provider, rateLimit, shares } = checked
  const start = checked.start ?? now
  const decisions: Array<FaultInjection.Decision> = []
  const ownRandom = config.seed === undefined ? undefined : Random.make(config.seed)
  const next: Effect.Effect<number> = ownRandom === undefined ? Random.next : ownRandom.next

  // The bucket in integer-friendly units: one token is `windowMillis` units and
  // `limit` units flow in per millisecond, so whole-millisecond clocks give exact sums.
  let level = rateLimit === undefined ? 0 : rateLimit.limit * rateLimit.windowMillis
  let refilledAt = now
  const take = (at: number): number | undefined => {
    if (rateLimit === undefined) return undefined
    const capacity = rateLimit.limit * rateLimit.windowMillis
    level = Math.min(capacity, level + Math.max(0, at - refilledAt) * rateLimit.limit)
    refilledAt = Math.max(refilledAt, at)
    if (level >= rateLimit.windowMillis) {
      level -= rateLimit.windowMillis
      return undefined
    }
    return Math.ceil((rateLimit.windowMillis - level) / rateLimit.limit)
  }

  const drawError: Effect.Effect<ErrorShare | undefined> = shares.length === 0
    ? Effect.succeed(undefined)
    : Effect.map(next, (u) => {
      let cumulative = 0
      for (const share of shares) {
        cumulative += share.rate
        if (u < cumulative) return share
      }
      return undefined
    })

  const drawLatency: Effect.Effect<Duration.Duration> = latency === undefined
    ? Effect.succeed(Duration.zero)
    : Effect.flatMap(latency.rate >= 1 ? Effect.succeed(0) : next, (gate) =>
      gate >= latency.rate
        ? Effect.succeed(Duration.zero)
        : Effect.map(next, (u) =>
          Duration.millis(Math.min(latency.max, Math.max(latency.min, Math.round(latency.draw(u)))))))

  const decide: Effect.Effect<FaultInjection.Decision> = Effect.flatMap(Clock.currentTimeMillis, (at) => {
    const since = at - start
    const outage = outages.find((window) => since >= window.from && since < window.to)
    if (outage !== undefined) {
      return Effect.map(drawLatency, (latency) => ({ _tag: "Outage", at, latency, error: outage.error }))
    }
    const retryAfter = take(at)
    if (retryAfter !== undefined) {
      const error = errors.make("rateLimited", provider, {
        retryAfter: Duration.millis(retryAfter),
        message: `rate limit of ${rateLimit!.limit} per ${Duration.format(rateLimit!.window)} reached`,
        note: "injected"
      })
      return Effect.map(drawLatency, (latency) => ({ _tag: "RateLimited", at, latency, error }))
    }
    return Effect.flatMap(
      drawError,
      (share) =>
        Effect.map(drawLatency, (latency): FaultInjection.Decision =>
          share === undefined
            ? { _tag: "Passed", at, latency }
            : { _tag: "Injected", at, latency, kind: share.kind, error: share.error })
    )
  })

  return {
    start,
    inject: <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | ProviderError.ProviderError, R> =>
      Effect.flatMap(decide, (decision) => {
        decisions.push(decision)
        const answer: Effect.Effect<A, E | ProviderError.ProviderError, R> = decision._tag === "Passed"
          ? self
          : Effect.fail(decision.error)
        return Duration.isZero(decision.latency) ? answer : Effect.zipRight(Effect.sleep(decision.latency), answer)
      }),
    decisions: Effect.sync(() => decisions.slice())
  }
}
