import { ResilienceEvent, StateStore } from "@effect-resilience/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import type * as RedisStateStore from "../RedisStateStore.js"
import * as Scripts from "./scripts.js"

/** The name the store gives itself in events and logs. */
export const storeName = "redis"

/** Defaults, documented on `RedisStateStore.Options`. */
export const defaults = {
  prefix: "resilience:",
  operationTimeout: Duration.millis(10),
  keyTtl: Duration.days(1),
  healthCheckInterval: Duration.seconds(1),
  connectTimeout: Duration.seconds(1),
  probeLease: Duration.minutes(1)
} as const

/** Removes credentials from a text that may quote a connection URL (`redis://user:secret@host`). */
export const redact = (text: string): string => text.replace(/\/\/[^/@\s]*@/g, "//***@")

/** Why a Redis operation did not give an answer: a short text, safe for events and logs. */
export class StoreFailure {
  constructor(readonly reason: string, readonly timedOut: boolean = false) {}
}

/**
 * Operations in a row that must time out before the store degrades. One slow answer (a pause of the
 * event loop, a busy machine) is answered locally without giving up Redis; a refused or lost
 * connection degrades at once.
 */
export const timeoutsToDegrade = 3

/**
 * Runs `f` after the event loop's next I/O phase (`setImmediate` runs in the check phase, which follows
 * the poll phase); a timer is the fallback where there is no `setImmediate`.
 */
const afterIo = (f: () => void): void => {
  if (typeof globalThis.setImmediate === "function") globalThis.setImmediate(f)
  else setTimeout(f, 0)
}

/** ioredis's own `commandTimeout` (on a client given to the store) rejects with this message. */
const isCommandTimeout = (error: unknown): boolean => error instanceof Error && error.message === "Command timed out"

const describe = (error: unknown): string =>
  redact(error instanceof Error ? error.message : String(error)).slice(0, 200)

/** How long to wait for the first connection, in milliseconds. */
const connectTimeoutMillis = (options: RedisStateStore.ConnectionOptions): number =>
  Duration.toMillis(Duration.decode(options.connectTimeout ?? defaults.connectTimeout))

/** ioredis options for a client we make ourselves: fail fast when disconnected, reconnect quickly. */
export const clientOptions = (
  options: RedisStateStore.ConnectionOptions
): { readonly url: string | undefined; readonly options: RedisOptions } => ({
  url: options.url,
  options: {
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
    lazyConnect: true,
    // A command sent while disconnected fails at once instead of waiting in a queue: the store
    // then answers from local state, and no provider call waits for Redis.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: connectTimeoutMillis(options),
    // Reconnect in the background every 50 ms at first, then at most every 500 ms.
    retryStrategy: (times: number) => Math.min(times * 50, 500),
    ...options.redisOptions
  }
})

/** The options of an ioredis client that say which server and database it talks to, and as whom. */
const connectionKeys = [
  "host",
  "port",
  "path",
  "family",
  "db",
  "username",
  "password",
  "tls",
  "sentinels",
  "name",
  "role",
  "sentinelUsername",
  "sentinelPassword",
  "sentinelTLS",
  "enableTLSForSentinelMode",
  "natMap"
] as const

/** Connection options that reach the same server, database and user as a client (for a second connection). */
export const connectionOf = (client: Redis): RedisOptions => {
  const source = client.options as Record<string, unknown>
  const picked: Record<string, unknown> = {}
  for (const key of connectionKeys) {
    if (source[key] !== undefined) picked[key] = source[key]
  }
  return picked as RedisOptions
}

/** Makes an ioredis client from the options; the caller owns it. */
export const makeClient = (options: RedisStateStore.ConnectionOptions): Redis => {
  const { options: redisOptions, url } = clientOptions(options)
  return url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions)
}

/**
 * One call to Redis, bounded by `millis` on the wall clock (not on `Clock`: it bounds a real socket wait).
 */
export const call = <A>(
  run: () => Promise<unknown>,
  decode: (raw: unknown) => A,
  millis: number
): Effect.Effect<A, StoreFailure> =>
  Effect.async<A, StoreFailure>((resume) => {
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      // Node runs expired timers before it reads the sockets: after a stall of the event loop (a long
      // synchronous task, a GC pause) a reply that arrived in time is still unread here. One turn of
      // the loop's I/O phase reads it; only an answer still missing after that is a timeout.
      afterIo(() => {
        if (settled) return
        settled = true
        resume(Effect.fail(new StoreFailure(`no answer within ${millis} ms`, true)))
      })
    }, millis)
    const settle = (result: Effect.Effect<A, StoreFailure>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(result)
    }
    let promise: Promise<unknown>
    try {
      promise = run()
    } catch (error) {
      promise = Promise.reject(error)
    }
    promise.then(
      (raw) => {
        try {
          settle(Effect.succeed(decode(raw)))
        } catch (error) {
          settle(Effect.fail(new StoreFailure(describe(error))))
        }
      },
      (error: unknown) => settle(Effect.fail(new StoreFailure(describe(error), isCommandTimeout(error))))
    )
    // An interrupted caller leaves no timer behind (the command itself cannot be taken back).
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
    })
  })

/**
 * A client the store makes and owns: connected now (within `connectTimeout`), closed with the scope. Its
 * errors are kept, not printed: without an `error` listener ioredis prints every failed reconnection on
 * stderr ("[ioredis] Unhandled error event"), while the store reports an outage once, as an event, with the
 * connection's own last error as the reason (a command refused while disconnected says only that).
 */
export const ownedClient = (
  options: RedisStateStore.ConnectionOptions,
  scripts: ReadonlyArray<Scripts.Script> = []
) =>
  Effect.gen(function*() {
    const client = makeClient(options)
    let lastError: string | undefined
    client.on("error", (error: unknown) => {
      lastError = describe(error)
    })
    client.on("ready", () => {
      lastError = undefined
      // Sent ahead of any operation on this connection (Redis answers in order), so that no operation
      // meets NOSCRIPT (and needs a second round trip) on a fresh or restarted server.
      for (const script of scripts) client.script("LOAD", script.lua).catch(() => {})
    })
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => client.quit().then(() => undefined, () => client.disconnect()))
    )
    const connected = yield* Effect.either(
      call(() => client.connect(), () => undefined, connectTimeoutMillis(options))
    )
    /** Why an operation failed: the connection's error when it is down, else the operation's own. */
    const reason = (failure: StoreFailure): StoreFailure =>
      client.status !== "ready" && lastError !== undefined && !failure.timedOut
        ? new StoreFailure(lastError)
        : failure
    return {
      client,
      reason,
      connected: connected._tag === "Left" ? Option.some(reason(connected.left)) : Option.none()
    } as const
  })

/** Runs one script by SHA, sending its source again when Redis does not know it (a restarted server). */
export const runScript = (
  client: Redis,
  script: Scripts.Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>
) =>
  client.evalsha(script.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
      return client.eval(script.lua, keys.length, ...keys, ...args)
    }
    throw error
  })

const stateOf: Record<string, StateStore.BreakerState["_tag"]> = {
  C: "Closed",
  O: "Open",
  H: "HalfOpen",
  I: "Isolated"
}

const admittedClosed = { admission: { _tag: "Admitted", probe: false }, transition: undefined } as const
const admittedProbe: StateStore.Admission = { _tag: "Admitted", probe: true }
const rejectedIsolated: StateStore.Admission = {
  _tag: "Rejected",
  state: "Isolated",
  retryAt: Number.POSITIVE_INFINITY
}

/** A script's answer: `[result, number, from, to, until, corrupt]`. */
type Reply = ReadonlyArray<string>

const asReply = (raw: unknown): Reply => {
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== "string")) {
    throw new Error("unexpected reply from a store script")
  }
  return raw as Reply
}

const transitionOf = (reply: Reply, now: number): StateStore.Transition | undefined => {
  if (reply[2] === "") return undefined
  const from = stateOf[reply[2]]
  const to = stateOf[reply[3]]
  if (from === undefined || to === undefined) throw new Error("unexpected transition from a store script")
  return to === "Open" ? { from, to, at: now, until: Number(reply[4]) } : { from, to, at: now }
}

const admissionOf = (
  reply: Reply,
  now: number
): { readonly admission: StateStore.Admission; readonly transition: StateStore.Transition | undefined } => {
  switch (reply[0]) {
    case "A":
      return admittedClosed
    case "P":
      return { admission: admittedProbe, transition: transitionOf(reply, now) }
    case "RO":
      return { admission: { _tag: "Rejected", state: "Open", retryAt: Number(reply[1]) }, transition: undefined }
    case "RI":
      return { admission: rejectedIsolated, transition: undefined }
    case "RH":
      return {
        admission: { _tag: "Rejected", state: "HalfOpen", retryAt: Number(reply[1]) },
        transition: transitionOf(reply, now)
      }
  }
  throw new Error("unexpected admission from a store script")
}

const encodeBreaker = (settings: StateStore.BreakerSettings): ReadonlyArray<string> => {
  const trip = settings.trip
  return [
    ...(trip._tag === "Consecutive"
      ? ["C", String(trip.threshold), "0", "0", "0"]
      : ["R", String(trip.ratio), String(trip.windowMillis), String(trip.minimumThroughput), String(trip.buckets)]),
    String(settings.halfOpenProbes),
    String(settings.successesToClose),
    settings.breakDurationsMillis.map(String).join(",")
  ]
}

const encodeBudget = (settings: StateStore.BudgetSettings): ReadonlyArray<string> =>
  settings._tag === "TokenBucket"
    ? ["T", String(settings.maxTokens), String(settings.tokenRatio), "0"]
    : ["R", String(settings.ratio), String(settings.minRetriesPerSecond), String(settings.windowMillis)]

/** Caches the encoded settings per settings object: a policy hands the store the same object on every call. */
const cached = <S extends object>(encode: (settings: S) => ReadonlyArray<string>) => {
  const cache = new WeakMap<S, ReadonlyArray<string>>()
  return (settings: S): ReadonlyArray<string> => {
    let encoded = cache.get(settings)
    if (encoded === undefined) {
      encoded = encode(settings)
      cache.set(settings, encoded)
    }
    return encoded
  }
}

/** `RedisStateStore.make`. */
export const make = (
  options: RedisStateStore.Options
): Effect.Effect<StateStore.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const prefix = options.prefix ?? defaults.prefix
    const timeoutMillis = Duration.toMillis(Duration.decode(options.operationTimeout ?? defaults.operationTimeout))
    const ttl = String(Math.max(1, Math.ceil(Duration.toMillis(Duration.decode(options.keyTtl ?? defaults.keyTtl)))))
    const healthCheckInterval = Duration.decode(options.healthCheckInterval ?? defaults.healthCheckInterval)
    const probeLease = String(
      Math.max(0, Duration.toMillis(Duration.decode(options.probeLease ?? defaults.probeLease)))
    )
    const local = yield* StateStore.makeMemory({ maxKeys: options.maxLocalKeys })

    // Connect now, so the first call does not find the client still connecting; if Redis cannot be
    // reached, start degraded (and keep trying in the background) rather than fail the layer.
    const owned = options.client === undefined ? yield* ownedClient(options) : undefined
    const client = options.client ?? owned!.client

    // ---------------------------------------------------------------------
    // Fail-open: degraded mode
    // ---------------------------------------------------------------------

    let degraded = false
    let downSince = 0
    let timeouts = 0

    const ping = call(() => client.ping(), (reply) => {
      if (reply !== "PONG") throw new Error(`unexpected PING reply`)
    }, timeoutMillis)

    const loadScripts = Effect.ignore(
      call(() => Promise.all(Scripts.all.map((script) => client.script("LOAD", script.lua))), () => undefined, 1000)
    )

    /**
     * Pings Redis every `healthCheckInterval` until it answers, then goes back to it. It runs in a fiber
     * forked by `degrade` from the caller's fiber, so it publishes to the events service that was current
     * when the store degraded.
     */
    const recover: Effect.Effect<void> = Effect.sleep(healthCheckInterval).pipe(
      Effect.zipRight(ping),
      Effect.eventually,
      Effect.zipRight(loadScripts),
      Effect.zipRight(Effect.clockWith((clock) => {
        const at = clock.unsafeCurrentTimeMillis()
        const downFor = Duration.millis(Math.max(0, at - downSince))
        degraded = false
        return Effect.zipRight(
          Effect.logInfo(`redis state store is back after ${Duration.format(downFor)}; using shared state again`),
          ResilienceEvent.publish(() => ResilienceEvent.StoreRecovered({ store: storeName, at, downFor }))
        )
      }))
    )

    /**
     * Switches to local state, once: starts the health check, then reports it. Uninterruptible: a
     * caller interrupted half-way (its own timeout, a race) would otherwise leave the store degraded
     * with no health check to bring it back.
     */
    const degrade = (failure: StoreFailure): Effect.Effect<void> =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (degraded) return Effect.void
        if (failure.timedOut && ++timeouts < timeoutsToDegrade) return Effect.void
        degraded = true
        timeouts = 0
        return Effect.clockWith((clock) => {
          const at = clock.unsafeCurrentTimeMillis()
          downSince = at
          return Effect.all([
            // The health check lives as long as the store; it inherits the caller's Clock and services
            // (its events service among them), but not this region's uninterruptibility (closing the
            // store's scope must stop it).
            Effect.forkIn(Effect.interruptible(recover), scope),
            Effect.logWarning(
              `redis state store failed (${failure.reason}); using local in-memory state until it is back`
            ),
            ResilienceEvent.publish(() =>
              ResilienceEvent.StoreDegraded({ store: storeName, at, reason: failure.reason })
            )
          ], { discard: true })
        })
      }))

    const reportCorrupt = (key: string, reply: Reply): Effect.Effect<void> =>
      reply[reply.length - 1] === "corrupt"
        ? Effect.logWarning(
          `redis state store: the value under key "${key}" was not one the store wrote; it was treated as absent`
        ).pipe(Effect.annotateLogs("resilience.key", key))
        : Effect.void

    /** Runs a script on Redis, or the local operation when Redis is down or does not answer in time. */
    const guarded = <A>(
      key: string,
      script: Scripts.Script,
      keys: ReadonlyArray<string>,
      args: ReadonlyArray<string>,
      decode: (reply: Reply) => A,
      fallback: Effect.Effect<A>
    ): Effect.Effect<A> =>
      Effect.suspend(() =>
        degraded ? fallback : Effect.matchEffect(
          call(() => runScript(client, script, keys, args), (raw) => {
            const reply = asReply(raw)
            return [decode(reply), reply] as const
          }, timeoutMillis),
          {
            onFailure: (failure) => Effect.zipRight(degrade(owned?.reason(failure) ?? failure), fallback),
            onSuccess: ([a, reply]) => {
              timeouts = 0
              return Effect.as(reportCorrupt(key, reply), a)
            }
          }
        )
      )

    // ---------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------

    const breakerKey = (key: string) => `${prefix}{${key}}:breaker`
    const budgetKeys = (key: string) => {
      const base = `${prefix}{${key}}:budget`
      return [base, `${base}:requests`, `${base}:retries`]
    }
    const breakerArgs = cached(encodeBreaker)
    const budgetArgs = cached(encodeBudget)

    const breaker: StateStore.BreakerStore = {
      admit: (key, now, settings) =>
        guarded(
          key,
          Scripts.breakerAdmit,
          [breakerKey(key)],
          [String(now), ttl, ...breakerArgs(settings), probeLease],
          (reply) => admissionOf(reply, now),
          local.breaker.admit(key, now, settings)
        ),
      record: (key, now, settings, outcome, probe) =>
        guarded(
          key,
          Scripts.breakerRecord,
          [breakerKey(key)],
          [String(now), ttl, ...breakerArgs(settings), outcome === "Failure" ? "F" : "S", probe ? "1" : "0"],
          (reply) => transitionOf(reply, now),
          local.breaker.record(key, now, settings, outcome, probe)
        ),
      release: (key, probe) =>
        probe
          ? guarded(
            key,
            Scripts.breakerRelease,
            [breakerKey(key)],
            ["0", ttl],
            () => undefined,
            local.breaker.release(key, probe)
          )
          : Effect.void,
      isolate: (key, now) =>
        guarded(
          key,
          Scripts.breakerIsolate,
          [breakerKey(key)],
          [String(now), ttl],
          (reply) => transitionOf(reply, now),
          local.breaker.isolate(key, now)
        ),
      reset: (key, now) =>
        guarded(
          key,
          Scripts.breakerReset,
          [breakerKey(key)],
          [String(now), ttl],
          (reply) => transitionOf(reply, now),
          local.breaker.reset(key, now)
        ),
      state: (key) =>
        guarded(
          key,
          Scripts.breakerState,
          [breakerKey(key)],
          ["0", ttl],
          (reply): StateStore.BreakerState => {
            switch (reply[0]) {
              case "C":
                return { _tag: "Closed" }
              case "I":
                return { _tag: "Isolated" }
              case "O":
                return { _tag: "Open", openedAt: Number(reply[1]), until: Number(reply[2]), opens: Number(reply[3]) }
              case "H":
                return {
                  _tag: "HalfOpen",
                  probes: Number(reply[4]),
                  successes: Number(reply[5]),
                  opens: Number(reply[3])
                }
            }
            throw new Error("unexpected state from a store script")
          },
          local.breaker.state(key)
        )
    }

    const budget: StateStore.BudgetStore = {
      record: (key, now, settings, event) =>
        guarded(
          key,
          Scripts.budget,
          budgetKeys(key),
          ["record", String(now), ttl, ...budgetArgs(settings), event],
          () => undefined,
          local.budget.record(key, now, settings, event)
        ),
      withdraw: (key, now, settings) =>
        guarded(
          key,
          Scripts.budget,
          budgetKeys(key),
          ["withdraw", String(now), ttl, ...budgetArgs(settings), ""],
          (reply) => reply[0] === "1",
          local.budget.withdraw(key, now, settings)
        ),
      refund: (key, now, settings, withdrawnAt) =>
        guarded(
          key,
          Scripts.budget,
          budgetKeys(key),
          ["refund", String(now), ttl, ...budgetArgs(settings), String(withdrawnAt)],
          () => undefined,
          local.budget.refund(key, now, settings, withdrawnAt)
        ),
      level: (key, now, settings) =>
        guarded(
          key,
          Scripts.budget,
          budgetKeys(key),
          ["level", String(now), ttl, ...budgetArgs(settings), ""],
          (reply) => Number(reply[0]),
          local.budget.level(key, now, settings)
        )
    }

    if (owned !== undefined && Option.isSome(owned.connected)) yield* degrade(owned.connected.value)
    if (!degraded) yield* loadScripts

    return { name: storeName, breaker, budget }
  })
