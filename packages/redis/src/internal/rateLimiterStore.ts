/**
 * `@effect/experimental`'s `RateLimiterStore` on a Redis connection this
 * package owns, so that it can listen to the connection (ioredis prints the
 * errors of a client nobody listens to), bound each operation as the state
 * store does, and report an outage in the event stream.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as RedisStateStore from "../RedisStateStore.js"
import { call, defaults, ownedClient, runScript, type StoreFailure, timeoutsToDegrade } from "./redisStore.js"
import * as Scripts from "./scripts.js"

/** The name the rate-limiter store gives itself in events. */
export const storeName = "redis-ratelimiter"

/** The default key prefix. */
export const defaultPrefix = `${defaults.prefix}ratelimiter:`

/** `RedisStateStore.layerRateLimiterStore`'s service. */
export const make = (
  options: RedisStateStore.RateLimiterStoreOptions
): Effect.Effect<ExperimentalRateLimiter.RateLimiterStore["Type"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? defaultPrefix
    const timeoutMillis = Duration.toMillis(Duration.decode(options.operationTimeout ?? defaults.operationTimeout))
    const { client, connected, reason } = yield* ownedClient(options, [Scripts.fixedWindow, Scripts.tokenBucket])

    // Core's `RateLimiter` answers from local buckets whenever an operation fails, and logs it; this store
    // says in the event stream when Redis is lost and when it is back, as the state store does: a lost
    // connection at once, timeouts after three in a row. While degraded it keeps asking Redis (the
    // client reconnects by itself; a command fails at once while it is disconnected), so the first
    // operation that succeeds again reports the recovery. Events go to the caller's events service.
    let degraded = false
    let downSince = 0
    let timeouts = 0

    const degrade = (failure: StoreFailure): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (degraded) return Effect.void
        if (failure.timedOut && ++timeouts < timeoutsToDegrade) return Effect.void
        degraded = true
        timeouts = 0
        return ResilienceEvent.publish((at) => {
          downSince = at
          return ResilienceEvent.StoreDegraded({ store: storeName, at, reason: failure.reason })
        })
      })

    const recover: Effect.Effect<void> = Effect.suspend(() => {
      timeouts = 0
      if (!degraded) return Effect.void
      degraded = false
      return ResilienceEvent.publish((at) =>
        ResilienceEvent.StoreRecovered({ store: storeName, at, downFor: Duration.millis(Math.max(0, at - downSince)) })
      )
    })

    const run = <A>(
      name: string,
      script: Scripts.Script,
      keys: ReadonlyArray<string>,
      args: ReadonlyArray<string>,
      decode: (raw: unknown) => A
    ): Effect.Effect<A, ExperimentalRateLimiter.RateLimitStoreError> =>
      Effect.matchEffect(call(() => runScript(client, script, keys, args), decode, timeoutMillis), {
        onFailure: (failure) => {
          const why = reason(failure)
          return Effect.zipRight(
            Effect.uninterruptible(degrade(why)),
            Effect.fail(
              new ExperimentalRateLimiter.RateLimitStoreError({
                message: `Failed to execute ${name} rate limiting command: ${why.reason}`
              })
            )
          )
        },
        onSuccess: (a) => Effect.as(Effect.uninterruptible(recover), a)
      })

    if (Option.isSome(connected)) yield* degrade(connected.value)

    // Keys are wrapped in a hash tag, so that a bucket's two keys live on one Cluster shard.
    const keyOf = (key: string) => `${prefix}{${key}}`
    return ExperimentalRateLimiter.RateLimiterStore.of({
      fixedWindow: (request) =>
        run(
          "fixedWindow",
          Scripts.fixedWindow,
          [keyOf(request.key)],
          [
            String(request.tokens),
            String(Duration.toMillis(request.refillRate)),
            request.limit === undefined ? "" : String(request.limit)
          ],
          (raw) => {
            if (!Array.isArray(raw) || raw.length !== 2) throw new Error("unexpected reply from a rate limiter script")
            return [Number(raw[0]), Number(raw[1])] as const
          }
        ),
      tokenBucket: (request) =>
        Effect.clockWith((clock) => {
          const key = keyOf(request.key)
          return run(
            "tokenBucket",
            Scripts.tokenBucket,
            [key, `${key}:refill`],
            [
              String(request.tokens),
              String(Duration.toMillis(request.refillRate)),
              String(request.limit),
              String(clock.unsafeCurrentTimeMillis()),
              request.allowOverflow ? "1" : "0"
            ],
            (raw) => {
              if (typeof raw !== "number") throw new Error("unexpected reply from a rate limiter script")
              return raw
            }
          )
        })
    })
  })
