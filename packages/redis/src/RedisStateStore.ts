/**
 * RedisStateStore: core's `StateStore` on Redis, so that every process of an
 * application shares one circuit breaker and one retry budget per provider,
 * and (with `layerRateLimiterStore`) one rate limit.
 *
 * Every operation (admit, record, release, isolate, reset, withdraw, level)
 * is one Lua script run atomically by Redis: the scripts reproduce core's
 * in-memory store step for step, so a breaker behaves the same on either
 * store. Scripts are loaded once and run by SHA (`EVALSHA`), sent again when a
 * restarted server answers `NOSCRIPT`. A key's data lives under
 * `${prefix}{${key}}:breaker` and `${prefix}{${key}}:budget...`: the hash tag
 * keeps one key's data on one Redis Cluster shard. Every key written gets a
 * TTL (`keyTtl`, default 1 day, longer while a breaker is open for longer), so
 * abandoned keys vanish; a breaker isolated by hand and not called for
 * `keyTtl` is forgotten, i.e. closes.
 *
 * Whose clock: the caller's. Every operation is given the caller's `Clock`
 * time (epoch ms) and the script decides with it, so the logic stays exactly
 * testable with `TestClock`. Processes whose clocks differ by `s` seconds see
 * a break end up to `s` earlier or later: with NTP keeping skew at a few
 * milliseconds this is noise next to breaks of seconds. (Redis's `TIME` would
 * remove the skew but make the state machine untestable in virtual time.)
 *
 * Fail-open: when Redis does not answer (connection refused or lost, or no
 * answer within `operationTimeout`, default 10 ms) the store answers that call
 * from a per-process in-memory store (core's). An operation that timed out may
 * still have been applied in Redis (it was sent; only its answer was late), so
 * an outcome can be counted twice, once locally and once in Redis. A probe
 * slot taken that way (or by a process that crashed, or lost Redis, before
 * recording its probe) is given back after `probeLease`: a half-open breaker
 * refuses calls for at most that long because of a lost probe. A lost connection, or three
 * timeouts in a row (one slow answer is not an outage), degrade the store: it
 * publishes one `StoreDegraded` event and keeps answering locally, without
 * asking Redis, while it PINGs
 * Redis every `healthCheckInterval` (default 1 s) in the background. When
 * Redis answers, it publishes `StoreRecovered` and uses Redis again (the local
 * state of the outage is not merged back). No call ever fails because the
 * store failed. A value under one of our keys that the store did not write
 * (another type, an unparsable field) is treated as absent, overwritten, and
 * reported with a warning log.
 *
 * Why 10 ms: a round trip to a Redis in the same zone takes 0.1–1 ms and a
 * script runs in microseconds, so 10 ms means Redis or the network is in
 * trouble, while it is large enough that a garbage-collection pause does not
 * flip the store; it is also the most a stalled Redis adds to one call before
 * the store stops asking it. The timeout runs on the wall clock, not on
 * `Clock`: it bounds a real socket wait. A stall of the event loop (a long
 * synchronous task, a GC pause) is not a timeout: Node runs expired timers
 * before it reads the sockets, so when an operation's timer fires the store
 * first lets the loop read what has arrived, and counts a timeout only if the
 * answer is still missing after that turn.
 *
 * @since 0.1.0
 */
import { StateStore } from "@effect-resilience/core"
import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as rateLimiterStore from "./internal/rateLimiterStore.js"
import * as internal from "./internal/redisStore.js"

/**
 * Where Redis is, for a connection the store makes (and closes) itself.
 *
 * @example
 * ```ts
 * import type { RedisStateStore } from "@effect-resilience/redis"
 *
 * const connection: RedisStateStore.ConnectionOptions = { host: "127.0.0.1", port: 6379 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** A `redis://` or `rediss://` URL; takes precedence over `host` and `port`. */
  readonly url?: string | undefined
  /** Default `"localhost"`. */
  readonly host?: string | undefined
  /** Default 6379. */
  readonly port?: number | undefined
  /** How long to wait for the first connection before starting degraded. Default 1 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** More ioredis options (TLS, password, ...), applied last. */
  readonly redisOptions?: RedisOptions | undefined
}

/**
 * The store's options. Give an ioredis `client` to share one connection (the
 * store then neither connects nor closes it; create it with
 * `enableOfflineQueue: false` so that commands fail fast when disconnected,
 * and without ioredis's `commandTimeout`: the store bounds each operation
 * itself, reading replies that arrived during a stall of the event loop,
 * which ioredis's timer does not), or connection options for a connection
 * the store owns.
 *
 * @example
 * ```ts
 * import type { RedisStateStore } from "@effect-resilience/redis"
 *
 * const options: RedisStateStore.Options = {
 *   url: "redis://127.0.0.1:6379",
 *   prefix: "my-app:",
 *   operationTimeout: "10 millis",
 *   keyTtl: "1 day"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ConnectionOptions {
  /** An ioredis client to use instead of making one. */
  readonly client?: Redis | undefined
  /** Prepended to every key, e.g. `"my-app:"`. Default `"resilience:"`. */
  readonly prefix?: string | undefined
  /**
   * Beyond this a Redis operation is answered from local state; three in a row degrade the store. Default 10 ms.
   */
  readonly operationTimeout?: Duration.DurationInput | undefined
  /** How long an untouched key lives. Default 1 day. */
  readonly keyTtl?: Duration.DurationInput | undefined
  /** How often a degraded store PINGs Redis to see whether it is back. Default 1 s. */
  readonly healthCheckInterval?: Duration.DurationInput | undefined
  /** Keys kept at most by the local fallback store. Default 10,000. */
  readonly maxLocalKeys?: number | undefined
  /**
   * How long a half-open breaker's probe slot is held for a probe that never reports its outcome (its
   * process crashed or lost Redis, or its admission timed out locally yet ran in Redis). When every slot is
   * taken and the last probe was admitted at least this long ago, the half-open round starts again (no
   * probes in flight, no successes) and the call is admitted as a probe. Make it longer than your longest
   * call: a probe still running after it lets one more probe in. Default 1 minute.
   */
  readonly probeLease?: Duration.DurationInput | undefined
}

/**
 * Makes a store on Redis for the life of the scope. It never fails: if Redis
 * cannot be reached it starts degraded, on local state.
 *
 * @example
 * ```ts
 * import { RedisStateStore } from "@effect-resilience/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* RedisStateStore.make({ host: "127.0.0.1", port: 6379 })
 *   return yield* store.breaker.state("openai")
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<StateStore.Service, never, Scope.Scope> = internal.make

/**
 * Provides core's `StateStore` on Redis: every circuit breaker and retry
 * budget made in its scope shares state with every other process using the
 * same Redis and prefix.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { RedisStateStore } from "@effect-resilience/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ key: "openai/gpt-4o" })
 *   return yield* breaker.protect(Effect.succeed("hello"))
 * }).pipe(Effect.provide(RedisStateStore.layer({ url: "redis://127.0.0.1:6379", prefix: "my-app:" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<StateStore.StateStore> =>
  Layer.scoped(StateStore.StateStore, make(options))

/**
 * The options of `layerConfig`: `Options` without the client, each field a
 * `Config`.
 *
 * @example
 * ```ts
 * import type { RedisStateStore } from "@effect-resilience/redis"
 *
 * type Fields = keyof RedisStateStore.ConfigOptions
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigOptions = Omit<Options, "client" | "redisOptions">

/**
 * `layer`, with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { RedisStateStore } from "@effect-resilience/redis"
 * import { Config } from "effect"
 *
 * const store = RedisStateStore.layerConfig({
 *   url: Config.string("REDIS_URL"),
 *   prefix: Config.withDefault(Config.string("REDIS_PREFIX"), "my-app:")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<ConfigOptions>
): Layer.Layer<StateStore.StateStore, ConfigError.ConfigError> =>
  Layer.scoped(StateStore.StateStore, Effect.flatMap(Config.unwrap(options), make))

/**
 * Everything the policies keep per provider, on one Redis: the `StateStore`
 * (breakers, retry budgets) and `@effect/experimental`'s `RateLimiterStore`
 * (rate limits, keys under `${prefix}ratelimiter:`). The rate-limiter store
 * makes a connection of its own: given a `client`, it connects to that
 * client's server and database, as its user (host, port, db, username,
 * password, TLS, sentinels, taken from
 * `client.options`; `redisOptions` applied last); otherwise to `url` or
 * `host`/`port`. Provide it under
 * `Resilience.layer` (or any policy) and every process shares one view of
 * each provider; with Redis down, each process falls back to local state.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { RedisStateStore } from "@effect-resilience/redis"
 * import { Effect, Layer } from "effect"
 *
 * const ResilienceLive = Resilience.layer({
 *   rateLimiter: { requestsPerMinute: 500 },
 *   circuitBreaker: { trip: { kind: "consecutive", threshold: 5 } }
 * }).pipe(Layer.provide(RedisStateStore.layerShared({ url: "redis://127.0.0.1:6379", prefix: "my-app:" })))
 *
 * const program = Effect.flatMap(Resilience.Resilience, (resilience) =>
 *   resilience.run(Effect.succeed("hello"), { key: "openai/gpt-4o" })).pipe(Effect.provide(ResilienceLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerShared = (
  options: Options
): Layer.Layer<StateStore.StateStore | ExperimentalRateLimiter.RateLimiterStore> =>
  Layer.merge(
    layer(options),
    layerRateLimiterStore({
      ...(options.client === undefined
        ? { url: options.url, host: options.host, port: options.port, redisOptions: options.redisOptions }
        : { redisOptions: { ...internal.connectionOf(options.client), ...options.redisOptions } }),
      connectTimeout: options.connectTimeout,
      operationTimeout: options.operationTimeout,
      prefix: `${options.prefix ?? internal.defaults.prefix}ratelimiter:`
    })
  )

/**
 * The options of the rate-limiter store.
 *
 * @example
 * ```ts
 * import type { RedisStateStore } from "@effect-resilience/redis"
 *
 * const options: RedisStateStore.RateLimiterStoreOptions = { host: "127.0.0.1", port: 6379, prefix: "my-app:rl:" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiterStoreOptions extends ConnectionOptions {
  /** Prepended to every key. Default `"resilience:ratelimiter:"`. */
  readonly prefix?: string | undefined
  /** Beyond this a limiter call counts as failed and core's limiter uses local buckets. Default 10 ms. */
  readonly operationTimeout?: Duration.DurationInput | undefined
}

/**
 * Provides `@effect/experimental`'s `RateLimiterStore` on Redis, so that
 * core's `RateLimiter` made in its scope shares its buckets with every
 * process: together they get the limit, not the limit each. It runs the same
 * scripts, on the same keys, as `@effect/experimental`'s own Redis store, on a
 * connection it makes and closes itself.
 *
 * Keys are wrapped in a hash tag (`${prefix}{${key}}` and its `:refill`
 * companion) so that a bucket's two keys live on one Cluster shard. The
 * connection is made when the layer is built (within `connectTimeout`); when
 * Redis is down or does not answer within `operationTimeout`, core's limiter
 * uses local buckets for that call (and logs it). The store reports an outage
 * as the state store does, in the events stream of the caller: one
 * `StoreDegraded` (`store: "redis-ratelimiter"`, with the connection's error
 * as the reason) when the connection is lost or three operations in a row get
 * no answer, one `StoreRecovered` at the first operation Redis answers again.
 * The client's own errors are never printed (ioredis would print each failed
 * reconnection on stderr). While Redis is down a call does not wait for it: a
 * command fails at once while the client is disconnected, and the client
 * reconnects in the background.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { RedisStateStore } from "@effect-resilience/redis"
 * import { Effect, Layer } from "effect"
 *
 * const shared = Layer.mergeAll(
 *   RedisStateStore.layer({ host: "127.0.0.1", port: 6379 }),
 *   RedisStateStore.layerRateLimiterStore({ host: "127.0.0.1", port: 6379 })
 * )
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ key: "openai", requestsPerMinute: 600 })
 *   return yield* RateLimiter.protect(Effect.succeed("hello"), limiter)
 * }).pipe(Effect.provide(shared))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRateLimiterStore = (
  options: RateLimiterStoreOptions
): Layer.Layer<ExperimentalRateLimiter.RateLimiterStore> =>
  Layer.scoped(ExperimentalRateLimiter.RateLimiterStore, rateLimiterStore.make(options))
