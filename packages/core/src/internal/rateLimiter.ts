import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Deadline from "../Deadline.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as metrics from "./metrics.js"
// A cycle: the public module defines the error and the metrics, and reaches this module only inside functions;
// this module reaches them only inside functions too, so either module may be loaded first.
import * as RateLimiter from "../RateLimiter.js"
import { positiveWait } from "./positiveWait.js"
import { Issues } from "./validate.js"

type Store = ExperimentalRateLimiter.RateLimiterStore["Type"]

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/** One token bucket in the store: `capacity` units, one more every `intervalMillis`. */
interface Bucket {
  readonly resource: RateLimiter.Resource
  readonly storeKey: string
  readonly capacity: number
  readonly intervalMillis: number
  readonly refillRate: Duration.Duration
}

const bucket = (key: string, resource: RateLimiter.Resource, perMinute: number, capacity: number): Bucket => {
  const intervalMillis = 60_000 / perMinute
  return {
    resource,
    storeKey: `${key}:${resource}`,
    capacity,
    intervalMillis,
    refillRate: Duration.millis(intervalMillis)
  }
}

const positive = (issues: Issues, path: string, input: unknown): void => {
  if (typeof input !== "number" || !(input > 0 && Number.isFinite(input))) {
    issues.add(path, `must be a finite number > 0, got ${String(input)}`)
  }
}

/** `RateLimiter.make`: validates the options and binds the buckets to a store. */
export const make = (
  options: RateLimiter.Options
): Effect.Effect<RateLimiter.RateLimiter<any>, InvalidPolicyError> =>
  Effect.suspend(() => {
    const issues = new Issues()
    const key = options.key ?? "default"
    if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
    const rpm = options.requestsPerMinute
    const tpm = options.tokensPerMinute
    if (rpm === undefined && tpm === undefined) {
      issues.add("requestsPerMinute", "give requestsPerMinute, tokensPerMinute or both")
    }
    if (rpm !== undefined) positive(issues, "requestsPerMinute", rpm)
    if (tpm !== undefined) positive(issues, "tokensPerMinute", tpm)
    const burstRequests = options.burst?.requests ?? (rpm === undefined ? undefined : Math.max(1, Math.floor(rpm / 60)))
    const burstTokens = options.burst?.tokens ?? (tpm === undefined ? undefined : Math.max(1, Math.floor(tpm)))
    if (options.burst?.requests !== undefined) {
      if (rpm === undefined) issues.add("burst.requests", "needs requestsPerMinute")
      else issues.wholeNumber("burst.requests", burstRequests, 1)
    }
    if (options.burst?.tokens !== undefined) {
      if (tpm === undefined) issues.add("burst.tokens", "needs tokensPerMinute")
      else issues.wholeNumber("burst.tokens", burstTokens, 1)
    }
    const onExceeded = options.onExceeded ?? "delay"
    if (onExceeded !== "delay" && onExceeded !== "fail") {
      issues.add("onExceeded", `must be "delay" or "fail", got ${JSON.stringify(onExceeded)}`)
    }
    if (issues.list.length > 0) {
      return Effect.fail(new InvalidPolicyError({ policy: "rate limiter", issues: issues.list }))
    }
    return Effect.map(stores, (stores) =>
      unsafeMake({
        key,
        requestsPerMinute: rpm,
        tokensPerMinute: tpm,
        burst: { requests: burstRequests, tokens: burstTokens },
        onExceeded
      }, stores))
  })

/** Where limiters keep their buckets: the store in context (with a local fallback), else a local one. */
export interface Stores {
  readonly store: Store
  readonly fallback: Store | undefined
}

/** The `RateLimiterStore` in context, with a fresh in-memory store as its fallback; the in-memory one alone without. */
export const stores: Effect.Effect<Stores> = Effect.zipWith(
  Effect.serviceOption(ExperimentalRateLimiter.RateLimiterStore),
  Effect.suspend(() => memoryStore),
  (provided, local) => ({
    // With a store from context, the local one is the fallback when that store fails.
    store: Option.getOrElse(provided, () => local),
    fallback: Option.isSome(provided) ? local : undefined
  })
)

/**
 * A limiter on `stores`, made in one step (for a pipeline, which makes one per key at the key's first call): the
 * options are valid already (the pipeline's configuration was decoded), and bursts are given.
 */
export const unsafeMake = (
  options: {
    readonly key: string
    readonly requestsPerMinute: number | undefined
    readonly tokensPerMinute: number | undefined
    readonly burst: { readonly requests: number | undefined; readonly tokens: number | undefined }
    readonly onExceeded: "delay" | "fail"
  },
  stores: Stores
): RateLimiter.RateLimiter<any> => {
  const rpm = options.requestsPerMinute
  const tpm = options.tokensPerMinute
  const burstRequests = options.burst.requests ?? (rpm === undefined ? undefined : Math.max(1, Math.floor(rpm / 60)))
  const burstTokens = options.burst.tokens ?? (tpm === undefined ? undefined : Math.max(1, Math.floor(tpm)))
  return new RateLimiterImpl({
    key: options.key,
    requestsPerMinute: rpm,
    tokensPerMinute: tpm,
    burst: { requests: burstRequests, tokens: burstTokens },
    onExceeded: options.onExceeded,
    requests: rpm === undefined ? undefined : bucket(options.key, "requests", rpm, burstRequests!),
    tokens: tpm === undefined ? undefined : bucket(options.key, "tokens", tpm, burstTokens!),
    store: stores.store,
    fallback: stores.fallback
  })
}

const memoryStore: Effect.Effect<Store> = Effect.provide(
  ExperimentalRateLimiter.RateLimiterStore,
  ExperimentalRateLimiter.layerStoreMemory
)

// ---------------------------------------------------------------------------
// One limiter
// ---------------------------------------------------------------------------

interface Settings {
  readonly key: string
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  readonly burst: { readonly requests: number | undefined; readonly tokens: number | undefined }
  readonly onExceeded: "delay" | "fail"
  readonly requests: Bucket | undefined
  readonly tokens: Bucket | undefined
  readonly store: Store
  readonly fallback: Store | undefined
}

/** Defined here, not in the public module: the class below needs it while the modules are still loading. */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/RateLimiter")

const variance = { _E: identity }

class RateLimiterImpl implements RateLimiter.RateLimiter<any> {
  readonly [TypeId] = variance
  readonly key: string
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  readonly burst: { readonly requests: number | undefined; readonly tokens: number | undefined }
  readonly onExceeded: "delay" | "fail"
  readonly requests: Bucket | undefined
  readonly tokens: Bucket | undefined
  readonly store: Store
  readonly fallback: Store | undefined
  readonly recordWait: (millis: number) => void
  readonly countRejected: Record<RateLimiter.Resource, (count: number) => void>
  /** `Clock` time (ms) before which this limiter admits nothing: a pause the provider asked for. */
  heldUntil = 0
  /** The resource whose pause ends at `heldUntil`. */
  heldBy: RateLimiter.Resource = "requests"
  /** Whether the last operation on the store failed (so that a failing store is logged once, not per call). */
  degraded = false

  constructor(settings: Settings) {
    this.key = settings.key
    this.requestsPerMinute = settings.requestsPerMinute
    this.tokensPerMinute = settings.tokensPerMinute
    this.burst = settings.burst
    this.onExceeded = settings.onExceeded
    this.requests = settings.requests
    this.tokens = settings.tokens
    this.store = settings.store
    this.fallback = settings.fallback
    this.recordWait = metrics.bind(RateLimiter.waitHistogram, { "resilience.key": settings.key })
    this.countRejected = {
      requests: metrics.bind(RateLimiter.rejectedCounter, {
        "resilience.key": settings.key,
        "resilience.resource": "requests"
      }),
      tokens: metrics.bind(RateLimiter.rejectedCounter, {
        "resilience.key": settings.key,
        "resilience.resource": "tokens"
      })
    }
  }
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/**
 * Takes `amount` units from a bucket (a negative amount gives them back) and
 * returns what is left: below zero, the units missing. With `allowOverflow`
 * the bucket may go below zero (a reservation); without it, a take that does
 * not fit changes nothing.
 *
 * A failing store is replaced by the local one for this operation, so that a
 * call is never blocked because the coordination store is down.
 */
const take = (
  limiter: RateLimiterImpl,
  bucket: Bucket,
  amount: number,
  allowOverflow: boolean
): Effect.Effect<number> => {
  const options = {
    key: bucket.storeKey,
    tokens: amount,
    limit: bucket.capacity,
    refillRate: bucket.refillRate,
    allowOverflow
  }
  const fallback = limiter.fallback
  // The in-memory store cannot fail.
  if (fallback === undefined) return Effect.orDie(limiter.store.tokenBucket(options))
  return Effect.matchEffect(limiter.store.tokenBucket(options), {
    onSuccess: (left) => {
      if (!limiter.degraded) return Effect.succeed(left)
      limiter.degraded = false
      return Effect.as(
        Effect.logInfo("rate limiter store is back; using shared state again").pipe(
          Effect.annotateLogs("resilience.key", limiter.key)
        ),
        left
      )
    },
    onFailure: (error) => {
      const local = Effect.orDie(fallback.tokenBucket(options))
      if (limiter.degraded) return local
      limiter.degraded = true
      return Effect.zipRight(
        Effect.logWarning("rate limiter store failed; using local state until it is back", error).pipe(
          Effect.annotateLogs("resilience.key", limiter.key)
        ),
        local
      )
    }
  })
}

/** The wait, in whole milliseconds, until `left` (when negative) has been refilled. */
const waitFor = (bucket: Bucket, left: number): number =>
  left >= 0 ? 0 : Math.ceil(roundOff(-left * bucket.intervalMillis))

/** Drops the noise of floating-point arithmetic (60_000 / 90_000 * 3 is 2.0000000000000004) before rounding up. */
const roundOff = (x: number): number => Math.round(x * 1e6) / 1e6

/** What a call is charged from the tokens bucket: at most the whole bucket, so it is admitted some day. */
const tokensCharged = (bucket: Bucket, cost: number): number => Math.min(cost, bucket.capacity)

// ---------------------------------------------------------------------------
// Protect
// ---------------------------------------------------------------------------

/** `RateLimiter.protect`: admits the call (waiting or failing fast), then runs it. */
export const protect = <A, E, R, L>(
  self: Effect.Effect<A, E, R>,
  limiter: RateLimiter.RateLimiter<L>,
  options?: RateLimiter.ProtectOptions
): Effect.Effect<A, E | L, R> => {
  const l = limiter as RateLimiterImpl
  const declared = options?.tokens ?? 0
  if (typeof declared !== "number" || !(declared >= 0 && Number.isFinite(declared))) {
    return Effect.dieMessage(
      `RateLimiter.protect: tokens must be a finite number ≥ 0, got ${String(declared)} (limiter ${l.key})`
    )
  }
  const cost = Math.ceil(declared)
  const admit = l.onExceeded === "delay" ? admitOrWait(l, cost) : admitOrFail(l, cost)
  return Effect.zipRight(admit as Effect.Effect<void, L>, self)
}

/** `onExceeded: "delay"`: reserve, wait for the reservation (and any pause), then go. */
const admitOrWait = (l: RateLimiterImpl, cost: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => reserveAndWait(l, cost, now, now))

const reserveAndWait = (l: RateLimiterImpl, cost: number, askedAt: number, now: number): Effect.Effect<void> =>
  Effect.flatMap(reserve(l, cost), (bucketWait) => {
    const wait = Math.max(bucketWait, l.heldUntil - now)
    if (wait <= 0) {
      l.recordWait(now - askedAt)
      return Effect.void
    }
    const delay = positiveWait(wait)
    return ResilienceEvent.publish((at) => ResilienceEvent.RateLimited({ key: l.key, at, wait: delay, tokens: cost }))
      .pipe(
        Effect.zipRight(Deadline.markActivity("waiting for admission")),
        Effect.zipRight(Effect.sleep(delay)),
        Effect.zipRight(Clock.currentTimeMillis),
        Effect.flatMap((after) => {
          // A pause observed while this call waited, and lasting beyond its turn: queue again behind the pause
          // (the drained bucket already accounts for this call's old reservation).
          if (after < l.heldUntil) return reserveAndWait(l, cost, askedAt, after)
          l.recordWait(after - askedAt)
          return Effect.void
        })
      )
  })

/** Takes the call's units, below zero if need be, and gives the wait until they are refilled. */
const reserve = (l: RateLimiterImpl, cost: number): Effect.Effect<number> => {
  const requests = l.requests
  const tokens = cost > 0 ? l.tokens : undefined
  const fromRequests = requests === undefined
    ? undefined
    : Effect.map(take(l, requests, 1, true), (left) => waitFor(requests, left))
  const fromTokens = tokens === undefined
    ? undefined
    : Effect.map(take(l, tokens, tokensCharged(tokens, cost), true), (left) => waitFor(tokens, left))
  if (fromRequests === undefined) return fromTokens ?? Effect.succeed(0)
  if (fromTokens === undefined) return fromRequests
  return Effect.zipWith(fromRequests, fromTokens, Math.max)
}

/** `onExceeded: "fail"`: take what the call needs only if it is there, else refuse it and take nothing. */
const admitOrFail = (
  l: RateLimiterImpl,
  cost: number
): Effect.Effect<void, RateLimiter.RateLimitedLocallyError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (now < l.heldUntil) return refuse(l, l.heldBy, l.heldUntil - now)
    const requests = l.requests
    const tokens = cost > 0 ? l.tokens : undefined
    const takeTokens = tokens === undefined ? admitted(l) : Effect.flatMap(
      take(l, tokens, tokensCharged(tokens, cost), false),
      (left) => {
        if (left >= 0) return admitted(l)
        // Not enough tokens: give back the request taken just before, so that a refused call takes nothing.
        const giveBack = requests === undefined ? Effect.void : take(l, requests, -1, true)
        return Effect.zipRight(giveBack, refuse(l, "tokens", waitFor(tokens, left)))
      }
    )
    if (requests === undefined) return takeTokens
    return Effect.flatMap(
      take(l, requests, 1, false),
      (left) => left >= 0 ? takeTokens : refuse(l, "requests", waitFor(requests, left))
    )
  })

const admitted = (l: RateLimiterImpl): Effect.Effect<void> => Effect.sync(() => l.recordWait(0))

const refuse = (
  l: RateLimiterImpl,
  resource: RateLimiter.Resource,
  waitMillis: number
): Effect.Effect<never, RateLimiter.RateLimitedLocallyError> => {
  const retryAfter = Duration.millis(waitMillis)
  l.countRejected[resource](1)
  return Effect.zipRight(
    ResilienceEvent.publish((at) => ResilienceEvent.CallRejected({ key: l.key, at, by: "RateLimiter", retryAfter })),
    Effect.fail(new RateLimiter.RateLimitedLocallyError({ key: l.key, resource, retryAfter }))
  )
}

// ---------------------------------------------------------------------------
// Adjust
// ---------------------------------------------------------------------------

/** `RateLimiter.adjust`: takes more tokens, or gives some back without filling the bucket beyond its capacity. */
export const adjust = <L>(limiter: RateLimiter.RateLimiter<L>, tokens: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const l = limiter as unknown as RateLimiterImpl
    const bucket = l.tokens
    if (bucket === undefined || typeof tokens !== "number" || !Number.isFinite(tokens) || tokens === 0) {
      return Effect.void
    }
    // A charge is rounded up and a refund down: both err on the side of fewer calls.
    if (tokens > 0) return Effect.asVoid(take(l, bucket, Math.ceil(tokens), true))
    const refund = Math.floor(-tokens)
    if (refund === 0) return Effect.void
    // Reading the level is a take of nothing; the store does not cap a give-back at the capacity, so cap it here.
    return Effect.flatMap(take(l, bucket, 0, true), (level) => {
      const room = Math.min(refund, bucket.capacity - level)
      return room > 0 ? Effect.asVoid(take(l, bucket, -room, true)) : Effect.void
    })
  })

// ---------------------------------------------------------------------------
// Observe
// ---------------------------------------------------------------------------

/** `RateLimiter.observe`: makes the limiter stricter from what the provider reported. */
export const observe = <L>(
  limiter: RateLimiter.RateLimiter<L>,
  observation: RateLimiter.Observation
): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const l = limiter as unknown as RateLimiterImpl
    const retryAfter = millisOf(observation.retryAfter)
    const requests = resourceObservation(
      observation.remainingRequests,
      observation.resetRequests,
      l.requests !== undefined && stated(observation.limitRequests)
    )
    const tokens = resourceObservation(
      observation.remainingTokens,
      observation.resetTokens,
      l.tokens !== undefined && stated(observation.limitTokens)
    )
    if (retryAfter !== undefined) hold(l, "requests", now + retryAfter)
    if (requests.pause !== undefined) hold(l, "requests", now + requests.pause)
    if (tokens.pause !== undefined) hold(l, "tokens", now + tokens.pause)
    return Effect.zipRight(
      lowerTo(l, l.requests, target(l.requests, requests, retryAfter)),
      lowerTo(l, l.tokens, target(l.tokens, tokens, retryAfter))
    )
  })

/** What an observation says of one resource: the units left, and how long to pause when none is. */
interface ResourceObservation {
  readonly remaining: number | undefined
  readonly pause: number | undefined
}

/**
 * With the provider's limit stated (OpenAI and Anthropic send it beside `remaining` and `reset`), its `reset` is
 * the time until its bucket is *full* again, up to a minute: no reason to pause. The limiter's own bucket then
 * stands for the provider's, and `remaining: 0` only empties it (the next unit one interval away), as learned
 * admission does.
 */
const resourceObservation = (
  remaining: number | undefined,
  reset: Duration.DurationInput | undefined,
  limitStated: boolean
): ResourceObservation => {
  const left = typeof remaining === "number" && Number.isFinite(remaining)
    ? Math.max(0, Math.floor(remaining))
    : undefined
  return { remaining: left, pause: left === 0 && !limitStated ? millisOf(reset) : undefined }
}

/** Whether an observation states a limit: a finite number > 0. */
const stated = (limit: number | undefined): boolean => typeof limit === "number" && Number.isFinite(limit) && limit > 0

/**
 * Milliseconds of a duration from outside (an observation's reset or Retry-After): `undefined` when it is absent,
 * unreadable or infinite; ≥ 0. Learned admission reads observations with it too.
 */
export const millisOf = (input: Duration.DurationInput | undefined): number | undefined => {
  if (input === undefined) return undefined
  if (typeof input === "number" && !Number.isFinite(input)) return undefined
  let millis: number
  try {
    millis = Duration.toMillis(Duration.decode(input))
  } catch {
    return undefined
  }
  return Number.isFinite(millis) ? Math.max(0, millis) : undefined
}

const hold = (l: RateLimiterImpl, resource: RateLimiter.Resource, until: number): void => {
  if (until > l.heldUntil) {
    l.heldUntil = until
    l.heldBy = resource
  }
}

/**
 * The level a bucket must not exceed after an observation: what the provider
 * says is left, or, for a pause of `d`, the level at which the next call
 * waits `d` (`ceil(d / interval)` units missing for a call of one unit).
 */
const target = (
  bucket: Bucket | undefined,
  observed: ResourceObservation,
  retryAfter: number | undefined
): number | undefined => {
  if (bucket === undefined) return undefined
  let level: number | undefined
  if (observed.remaining !== undefined) {
    level = observed.remaining > 0 ? observed.remaining : pausedLevel(bucket, observed.pause ?? 0)
  }
  if (retryAfter !== undefined) level = Math.min(level ?? Infinity, pausedLevel(bucket, retryAfter))
  return level
}

const pausedLevel = (bucket: Bucket, pauseMillis: number): number =>
  Math.min(0, 1 - Math.ceil(roundOff(pauseMillis / bucket.intervalMillis)))

/**
 * Lowers a bucket to `level` by taking the difference (below zero if need
 * be); a bucket already at or below it is left alone. Reading the level is a
 * take of nothing; with a shared store, a call taken between the read and the
 * take only lowers the bucket further.
 */
const lowerTo = (l: RateLimiterImpl, bucket: Bucket | undefined, level: number | undefined): Effect.Effect<void> =>
  bucket === undefined || level === undefined ? Effect.void : Effect.flatMap(
    take(l, bucket, 0, true),
    (current) => current > level ? Effect.asVoid(take(l, bucket, current - level, true)) : Effect.void
  )
