import {
  CircuitBreaker,
  ProviderError,
  RateLimiter,
  Resilience,
  ResilienceEvent,
  StateStore
} from "@effect-resilience/core"
import * as ExperimentalRateLimiter from "@effect/experimental/RateLimiter"
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import { Redis } from "ioredis"
import * as RedisStateStore from "../src/RedisStateStore.js"
import { available, notice, type RedisServer, startServer } from "./redisServer.js"

notice()

/** A small deterministic generator (mulberry32), so that a failing sequence can be replayed. */
const seeded = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * bound) | 0
  }
}

const consecutive: StateStore.BreakerSettings = {
  trip: { _tag: "Consecutive", threshold: 3 },
  halfOpenProbes: 2,
  successesToClose: 2,
  breakDurationsMillis: [1_000, 2_500, 4_000]
}

const ratio: StateStore.BreakerSettings = {
  // 3 buckets over 10 s: a bucket is 3333.33… ms wide, so bucket starts are not whole numbers.
  trip: { _tag: "Ratio", ratio: 0.5, windowMillis: 10_000, minimumThroughput: 4, buckets: 3 },
  halfOpenProbes: 1,
  successesToClose: 1,
  breakDurationsMillis: [1_500]
}

/** Whole-millisecond buckets (2 s), so that instants fall exactly on bucket edges. */
const ratioWhole: StateStore.BreakerSettings = {
  ...ratio,
  trip: { _tag: "Ratio", ratio: 0.5, windowMillis: 10_000, minimumThroughput: 4, buckets: 5 }
}

const tokenBucket: StateStore.BudgetSettings = { _tag: "TokenBucket", maxTokens: 5, tokenRatio: 0.1 }
const ratioBudget: StateStore.BudgetSettings = {
  _tag: "Ratio",
  ratio: 0.2,
  minRetriesPerSecond: 0.5,
  windowMillis: 4_000
}

const transient = new ProviderError.TransientError({ provider: "test", reason: "Overloaded", message: "down" })

/** Polls in real time until `check` holds (for work that crosses a real socket). */
const eventually = (check: () => boolean, what: string) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 3_000
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
      // No sleep: the awaited work crosses a real socket; let I/O run between checks.
      await new Promise((resolve) => setImmediate(resolve))
    }
  })

/**
 * Collects what is written to stderr or through `console.error` / `console.warn` for the life of the scope
 * (ioredis prints "[ioredis] Unhandled error event" with `console.error`).
 */
const capturePrinted = Effect.acquireRelease(
  Effect.sync(() => {
    const printed: Array<string> = []
    const spies = [
      vi.spyOn(console, "error").mockImplementation((...args) => void printed.push(args.map(String).join(" "))),
      vi.spyOn(console, "warn").mockImplementation((...args) => void printed.push(args.map(String).join(" "))),
      vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
        printed.push(String(chunk))
        return true
      })
    ]
    return { printed, spies }
  }),
  ({ spies }) => Effect.sync(() => spies.forEach((spy) => spy.mockRestore()))
).pipe(Effect.map(({ printed }) => printed))

/** How many scripts a server has run by SHA, from its `INFO commandstats`. */
const parseEvalshaCalls = (info: string): number => Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? "0")

/** Lets real I/O run (a reply crossing the socket) before the next check. */
const ioTurn = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

/**
 * Lets the store's real I/O and its virtual-time waits interleave until `done`: whenever a fiber sleeps on the
 * TestClock, the clock jumps to the earliest wake-up (so every instant stays exact); otherwise the test yields to
 * I/O.
 */
const driveUntil = (done: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    while (!(yield* done)) {
      const sleeps = yield* TestClock.sleeps()
      if (Chunk.isNonEmpty(sleeps)) yield* TestClock.setTime(Math.min(...sleeps))
      else yield* ioTurn
    }
  })

/** `driveUntil` an event arrives, and takes it. */
const driveUntilEvent = (events: Queue.Dequeue<ResilienceEvent.ResilienceEvent>) =>
  Effect.zipRight(driveUntil(Effect.map(Queue.size(events), (size) => size > 0)), Queue.take(events))

describe.skipIf(!available)("RedisStateStore", () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })
  let tests = 0
  /** A key prefix of its own for each test: tests share the server, never a key. */
  const prefix = () => `test${++tests}:`
  /**
   * Options for a store of one test. The operation timeout is generous: the test machine is shared, and a
   * store that degraded would answer from local state, which a test comparing with the memory store would
   * not notice; `healthy` checks that it did not.
   */
  const options = () => ({ url: server.url, prefix: prefix(), operationTimeout: "1 second" }) as const
  /** A connection of the test's own, to read the server's counters. */
  const adminClient = Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Redis(server.port, "127.0.0.1", { lazyConnect: true })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.quit())
  )
  /** How many scripts the server has run by SHA (`EVALSHA`) since it started. */
  const evalshaCalls = (admin: Redis) =>
    Effect.map(
      Effect.promise(() => admin.info("commandstats")),
      parseEvalshaCalls
    )
  /** Runs `effect` and gives the wall-clock window it ran in: an expiry Redis set meanwhile is stamped within it. */
  const during = <A>(effect: Effect.Effect<A>) =>
    Effect.gen(function*() {
      const from = Date.now()
      const value = yield* effect
      return { value, from, to: Date.now() }
    })
  /** The key expires `ttl` after a write within `window` (Redis's absolute expiry, so no time passes in between). */
  const expectExpiry = (key: string, ttl: number, window: { readonly from: number; readonly to: number }) =>
    Effect.map(Effect.promise(() => server.command(`PEXPIRETIME ${key}`)), (reply) => {
      const at = Number(reply.slice(1))
      expect(at, key).toBeGreaterThanOrEqual(window.from + ttl)
      expect(at, key).toBeLessThanOrEqual(window.to + ttl)
    })
  /**
   * Blocks the event loop (a long synchronous task, a GC pause) for 50 ms, longer than the default operation
   * timeout, and then until Redis has run `scripts` scripts in all, so that their replies wait in the socket
   * when the loop resumes, however busy the machine (Redis writes a batch's replies before it answers the
   * next command, here the synchronous `INFO`).
   */
  const stall = (scripts: number) =>
    Effect.sync(() => {
      const until = performance.now() + 50
      while (performance.now() < until) {
        // busy: nothing else runs
      }
      while (parseEvalshaCalls(server.commandSync("INFO", "commandstats")) < scripts) {
        // still busy
      }
    })
  const healthy = (events: Queue.Dequeue<ResilienceEvent.ResilienceEvent>) =>
    Effect.map(Queue.takeAll(events), (all) => expect(Array.from(all, (e) => e._tag)).toEqual([]))

  it.effect("answers every breaker operation exactly as the in-memory store", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.subscribe
      const redis = yield* RedisStateStore.make(options())
      const memory = yield* StateStore.memory
      const random = seeded(7)
      let operations = 0
      const transitions = new Set<string>()
      for (const [name, settings] of [["consecutive", consecutive], ["ratio", ratio], ["whole", ratioWhole]] as const) {
        let now = 1_700_000_000_000
        for (let i = 0; i < 300; i++) {
          // Coarse steps, so that instants fall exactly on window and bucket edges too.
          now += 250 * (random(4) === 0 ? random(20) : random(2))
          const key = `${name}-${random(2)}`
          const op = random(20)
          const run = <A>(f: (store: StateStore.Service) => Effect.Effect<A>) =>
            Effect.flatMap(Effect.all([f(memory), f(redis)]), ([expected, actual]) =>
              Effect.sync(() => {
                operations++
                expect(actual, `operation ${i} (${op}) on ${key} at ${now}`).toEqual(expected)
                return actual
              }))
          if (op < 7) {
            const { transition } = yield* run((s) => s.breaker.admit(key, now, settings))
            if (transition !== undefined) transitions.add(`${transition.from}>${transition.to}`)
          } else if (op < 17) {
            const outcome = random(2) === 0 ? "Success" : "Failure"
            const probe = random(3) === 0
            const transition = yield* run((s) => s.breaker.record(key, now, settings, outcome, probe))
            if (transition !== undefined) transitions.add(`${transition.from}>${transition.to}`)
          } else if (op === 17) yield* run((s) => s.breaker.release(key, true))
          else if (op === 18) yield* run((s) => s.breaker.state(key))
          else if (random(8) === 0) yield* run((s) => s.breaker.isolate(key, now))
          else yield* run((s) => s.breaker.reset(key, now))
          yield* run((s) => s.breaker.state(key))
        }
      }
      expect(operations).toBe(1_800)
      yield* healthy(events)
      // The sequence walked the whole state machine.
      expect([...transitions].sort()).toEqual(
        expect.arrayContaining(["Closed>Open", "HalfOpen>Closed", "HalfOpen>Open", "Open>HalfOpen"])
      )
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("answers every budget operation exactly as the in-memory store", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.subscribe
      const redis = yield* RedisStateStore.make(options())
      const memory = yield* StateStore.memory
      const random = seeded(11)
      const budgetEvents = ["Request", "Success", "Failure"] as const
      let withdrawn = 0
      let refunded = 0
      // When each key's granted retries were withdrawn: a refund gives back one of them (or one long gone).
      const grants = new Map<string, Array<number>>()
      for (const settings of [tokenBucket, ratioBudget]) {
        let now = 1_700_000_000_000
        for (let i = 0; i < 300; i++) {
          now += 100 * random(3)
          const key = `${settings._tag}-${random(2)}`
          const op = random(5)
          const event = budgetEvents[random(3)]
          const granted = grants.get(key) ?? []
          const refundOf = granted[random(granted.length + 1)] ?? now - 10_000
          const [expected, actual] = op === 4
            ? yield* Effect.all([
              memory.budget.refund(key, now, settings, refundOf),
              redis.budget.refund(key, now, settings, refundOf)
            ]).pipe(Effect.as([0, 0]))
            : op < 2
            ? yield* Effect.all([
              memory.budget.record(key, now, settings, event),
              redis.budget.record(key, now, settings, event)
            ]).pipe(Effect.as([0, 0]))
            : op === 2
            ? yield* Effect.all([memory.budget.withdraw(key, now, settings), redis.budget.withdraw(key, now, settings)])
            : yield* Effect.all([memory.budget.level(key, now, settings), redis.budget.level(key, now, settings)])
          expect(actual, `operation ${i} on ${key}`).toEqual(expected)
          if (op === 2 && actual === true) {
            withdrawn++
            grants.set(key, [...granted, now])
          }
          if (op === 4) refunded++
          expect(yield* redis.budget.level(key, now, settings), `level after ${i} on ${key}`).toEqual(
            yield* memory.budget.level(key, now, settings)
          )
        }
      }
      expect(withdrawn).toBeGreaterThan(10)
      expect(refunded).toBeGreaterThan(10)
      yield* healthy(events)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("shares a breaker between two processes: failures in one open it for both", () =>
    Effect.gen(function*() {
      const shared = options()
      // Two stores, two connections: as two processes would have.
      const storeA = yield* RedisStateStore.make(shared)
      const storeB = yield* RedisStateStore.make(shared)
      const breakerOptions = {
        key: "openai/gpt-4o",
        trip: CircuitBreaker.consecutive(3),
        breakDuration: "5 seconds",
        halfOpenProbes: 2
      } as const
      const a = yield* CircuitBreaker.make(breakerOptions).pipe(Effect.provideService(StateStore.StateStore, storeA))
      const b = yield* CircuitBreaker.make(breakerOptions).pipe(Effect.provideService(StateStore.StateStore, storeB))

      for (let i = 0; i < 3; i++) yield* Effect.either(a.protect(Effect.fail(transient)))
      const rejected = yield* Effect.either(b.protect(Effect.succeed("never called")))
      expect(Either.isLeft(rejected) && CircuitBreaker.isCircuitOpenError(rejected.left)).toBe(true)
      expect(yield* b.state).toEqual({ _tag: "Open", openedAt: 0, until: 5_000, opens: 1 })

      // Half-open: two probes in flight, one in each process; a third call, in either, is refused.
      yield* TestClock.adjust("5 seconds")
      let entered = 0
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const probe = Effect.zipRight(Effect.sync(() => entered++), Effect.promise(() => gate))
      const probeA = yield* Effect.fork(a.protect(probe))
      yield* eventually(() => entered === 1, "the first probe is admitted")
      const probeB = yield* Effect.fork(b.protect(probe))
      yield* eventually(() => entered === 2, "the second probe is admitted")
      const third = yield* Effect.either(a.protect(Effect.succeed("never called")))
      expect(Either.isLeft(third) && third.left._tag === "CircuitOpenError" && third.left.state).toBe("HalfOpen")
      expect(yield* a.state).toEqual({ _tag: "HalfOpen", probes: 2, successes: 0, opens: 1 })
      release()
      yield* Fiber.join(probeA)
      yield* Fiber.join(probeB)
      expect(yield* b.state).toEqual({ _tag: "Closed" })
      expect(entered).toBe(2)
    }).pipe(Effect.scoped))

  it.effect("shares retry-budget tokens between two processes", () =>
    Effect.gen(function*() {
      const shared = options()
      const storeA = yield* RedisStateStore.make(shared)
      const storeB = yield* RedisStateStore.make(shared)
      // 5 tokens; a retry needs more than 2.5. Two failures in A leave 3: B may retry; a third leaves 2: it may not.
      yield* storeA.budget.record("openai", 0, tokenBucket, "Failure")
      yield* storeA.budget.record("openai", 0, tokenBucket, "Failure")
      expect(yield* storeB.budget.withdraw("openai", 0, tokenBucket)).toBe(true)
      yield* storeB.budget.record("openai", 0, tokenBucket, "Failure")
      expect(yield* storeA.budget.withdraw("openai", 0, tokenBucket)).toBe(false)
      expect(yield* storeB.budget.level("openai", 0, tokenBucket)).toBe(2)
      yield* storeA.budget.record("openai", 0, tokenBucket, "Success")
      expect(yield* storeB.budget.level("openai", 0, tokenBucket)).toBe(2.1)
    }).pipe(Effect.scoped))

  it.effect("shares a rate limit between two processes: together they get the limit, not twice it", () =>
    Effect.gen(function*() {
      const shared = options()
      const limiterOptions = {
        key: "openai",
        requestsPerMinute: 60,
        burst: { requests: 3 },
        onExceeded: "fail"
      } as const
      // Each "process" builds its own store layer (its own connection), for the life of the test.
      const makeIn = Effect.flatMap(
        Layer.build(RedisStateStore.layerRateLimiterStore(shared)),
        (context) => RateLimiter.make(limiterOptions).pipe(Effect.provide(context))
      )
      const a = yield* makeIn
      const b = yield* makeIn
      const results: Array<string> = []
      for (const limiter of [a, b, a, b, a, b]) {
        const result = yield* Effect.either(RateLimiter.protect(Effect.succeed("ok"), limiter))
        results.push(Either.isRight(result) ? "ok" : result.left._tag)
      }
      expect(results).toEqual([
        "ok",
        "ok",
        "ok",
        "RateLimitedLocallyError",
        "RateLimitedLocallyError",
        "RateLimitedLocallyError"
      ])
      // One refill interval (1 s at 60 a minute) later, one more call, in either process.
      yield* TestClock.adjust("1 second")
      const next = yield* Effect.all([b, a].map((l) => Effect.either(RateLimiter.protect(Effect.succeed("ok"), l))))
      expect(next.map(Either.isRight)).toEqual([true, false])
    }).pipe(Effect.scoped))

  it.effect("layerShared: two processes' pipelines share one breaker and one rate limit", () =>
    Effect.gen(function*() {
      const shared = options()
      const config = {
        retry: false,
        rateLimiter: { requestsPerMinute: 120, onExceeded: "fail" },
        circuitBreaker: {
          trip: { kind: "consecutive", threshold: 2 },
          breakDuration: { base: "5 seconds", max: "5 seconds" }
        }
      } as const
      // Each "process" builds its own layer (its own connections) and its own pipeline.
      const pipelineIn = Effect.flatMap(
        Layer.build(RedisStateStore.layerShared(shared)),
        (context) => Resilience.make(config).pipe(Effect.provide(context))
      )
      const a = yield* pipelineIn
      const b = yield* pipelineIn
      // 120 a minute hold two requests a second: one in each process, then a third is refused in either.
      const admitted = yield* Effect.all(
        [a, b, a].map((p) => Effect.either(p.run(Effect.succeed("ok"), { key: "openai/gpt-4o" })))
      )
      expect(admitted.map((r) => Either.isRight(r) ? "ok" : r.left._tag)).toEqual([
        "ok",
        "ok",
        "RateLimitedLocallyError"
      ])
      // Two failures in A, a second apart (so the limiter lets them through), open the breaker for B.
      yield* TestClock.adjust("1 second")
      yield* Effect.either(a.run(Effect.fail(transient), { key: "anthropic/claude" }))
      yield* TestClock.adjust("1 second")
      yield* Effect.either(a.run(Effect.fail(transient), { key: "anthropic/claude" }))
      yield* TestClock.adjust("1 second")
      const refused = yield* Effect.either(b.run(Effect.succeed("never called"), { key: "anthropic/claude" }))
      expect(Either.isLeft(refused) && CircuitBreaker.isCircuitOpenError(refused.left)).toBe(true)
    }).pipe(Effect.scoped))

  it.effect("treats a foreign value under its key as absent, overwrites it and warns", () =>
    Effect.gen(function*() {
      const p = prefix()
      const store = yield* RedisStateStore.make({ ...options(), prefix: p })
      const logs: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      )
      yield* Effect.promise(() => server.command(`SET ${p}{a}:breaker not-a-hash`))
      yield* Effect.promise(() => server.command(`HSET ${p}{b}:breaker s X cf 1`))
      yield* Effect.promise(() => server.command(`HSET ${p}{c}:budget t lots`))
      const settings = { ...consecutive, trip: { _tag: "Consecutive", threshold: 1 } } as const
      const run = Effect.gen(function*() {
        expect((yield* store.breaker.admit("a", 0, settings)).admission).toEqual({ _tag: "Admitted", probe: false })
        expect(yield* store.breaker.record("b", 0, settings, "Failure", false)).toEqual({
          from: "Closed",
          to: "Open",
          at: 0,
          until: 1_000
        })
        expect(yield* store.budget.level("c", 0, tokenBucket)).toBe(5)
        // Overwritten: a second look finds our own value, and says nothing.
        expect(yield* store.breaker.state("b")).toEqual({ _tag: "Open", openedAt: 0, until: 1_000, opens: 1 })
      })
      yield* Effect.provide(run, capture)
      expect(logs.filter((line) => line.includes("was not one the store wrote"))).toHaveLength(3)
      expect(logs.every((line) => line.startsWith("WARN"))).toBe(true)
      expect(yield* Effect.promise(() => server.command(`TYPE ${p}{a}:breaker`))).toBe("+none")
    }).pipe(Effect.scoped))

  it.effect("writes every key with a TTL and a Cluster hash tag", () =>
    Effect.gen(function*() {
      const p = prefix()
      const store = yield* RedisStateStore.make({ ...options(), prefix: p, keyTtl: "1 hour" })
      const written = yield* during(Effect.all([
        store.breaker.record("openai/gpt-4o", 0, consecutive, "Failure", false),
        store.budget.record("openai/gpt-4o", 0, ratioBudget, "Request")
      ]))
      const keys = [`${p}{openai/gpt-4o}:breaker`, `${p}{openai/gpt-4o}:budget`]
      for (const key of keys) yield* expectExpiry(key, 3_600_000, written)
      // A success on a breaker with no failures writes nothing.
      yield* store.breaker.record("quiet", 0, consecutive, "Success", false)
      expect(yield* Effect.promise(() => server.command(`EXISTS ${p}{quiet}:breaker`))).toBe(":0")
    }).pipe(Effect.scoped))

  it.effect("sends a script again when the server has forgotten it (NOSCRIPT)", () =>
    Effect.gen(function*() {
      const store = yield* RedisStateStore.make(options())
      const events = yield* ResilienceEvent.subscribe
      yield* store.breaker.record("k", 0, consecutive, "Failure", false)
      yield* Effect.promise(() => server.command("SCRIPT FLUSH"))
      yield* store.breaker.record("k", 0, consecutive, "Failure", false)
      const opened = yield* store.breaker.record("k", 0, consecutive, "Failure", false)
      expect(opened).toEqual({ from: "Closed", to: "Open", at: 0, until: 1_000 })
      expect(yield* Queue.takeAll(events)).toHaveLength(0)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("stays on Redis through an event-loop stall while operations are in flight to a healthy server", () =>
    Effect.gen(function*() {
      const p = prefix()
      const events = yield* ResilienceEvent.subscribe
      // The default 10 ms timeout, which a stall of the event loop outlasts.
      const store = yield* RedisStateStore.make({ url: server.url, prefix: p })
      const scriptsRun = yield* evalshaCalls(yield* adminClient)
      const settings = { ...consecutive, trip: { _tag: "Consecutive", threshold: 5 } } as const
      const inFlight = yield* Effect.forEach(
        ["a", "b", "c", "d"],
        (key) => Effect.fork(store.breaker.record(key, 0, settings, "Failure", false))
      )
      // Every operation has been sent (each fiber waits for its reply) before the loop stalls.
      while (true) {
        const statuses = yield* Effect.forEach(inFlight, (fiber) => fiber.status)
        if (statuses.every((status) => status._tag === "Suspended")) break
        yield* Effect.yieldNow()
      }
      // The loop is blocked for longer than the operation timeout (a long synchronous task, a GC pause):
      // the replies arrive in the socket meanwhile, and the timers expire before they are read.
      yield* stall(scriptsRun + 4)
      yield* Effect.forEach(inFlight, Fiber.join)
      expect(Array.from(yield* Queue.takeAll(events), (e) => e._tag)).toEqual([])
      // Still on Redis: what was recorded is there, and the next operation reads it.
      expect(yield* store.breaker.state("a")).toEqual({ _tag: "Closed" })
      expect(yield* Effect.promise(() => server.command(`HGET ${p}{a}:breaker cf`))).toBe("$1")
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("the rate-limiter store answers through an event-loop stall too", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.subscribe
      // The default 10 ms timeout.
      const store = yield* Effect.flatMap(
        Layer.build(RedisStateStore.layerRateLimiterStore({ url: server.url, prefix: prefix() })),
        (context) => Effect.succeed(Context.get(context, ExperimentalRateLimiter.RateLimiterStore))
      )
      const scriptsRun = yield* evalshaCalls(yield* adminClient)
      const inFlight = yield* Effect.forEach(["a", "b", "c", "d"], (key) =>
        Effect.fork(Effect.either(
          store.tokenBucket({ key, tokens: 1, limit: 10, refillRate: Duration.seconds(1), allowOverflow: false })
        )))
      while (true) {
        const statuses = yield* Effect.forEach(inFlight, (fiber) => fiber.status)
        if (statuses.every((status) => status._tag === "Suspended")) break
        yield* Effect.yieldNow()
      }
      yield* stall(scriptsRun + 4)
      // Every bucket answered from Redis (a failed operation would make core's limiter use a local bucket).
      expect(yield* Effect.forEach(inFlight, Fiber.join)).toEqual([9, 9, 9, 9].map(Either.right))
      expect(Array.from(yield* Queue.takeAll(events), (e) => e._tag)).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("fails open when operations time out, degrades after three in a row, and recovers when Redis answers", () =>
    Effect.gen(function*() {
      const store = yield* RedisStateStore.make({
        url: server.url,
        prefix: prefix(),
        operationTimeout: "20 millis",
        healthCheckInterval: "1 second"
      })
      const events = yield* ResilienceEvent.subscribe
      const admin = yield* adminClient
      const settings = { ...consecutive, trip: { _tag: "Consecutive", threshold: 2 } } as const
      const scriptsRun = yield* evalshaCalls(admin)
      // Redis hangs: connected, but it answers nothing (its commands wait in the socket and run after).
      server.freeze()
      yield* Effect.gen(function*() {
        // Each call answers, from local state: the first three after the timeout (the third degrades the
        // store), the rest without asking Redis. (Admissions of a closed breaker write nothing that Redis
        // could apply once it runs them.)
        for (let i = 0; i < 3; i++) {
          expect((yield* store.breaker.admit("k", 0, settings)).admission._tag).toBe("Admitted")
          const seen = Array.from(
            yield* Queue.takeAll(events),
            (e) => e._tag === "StoreDegraded" ? `${e.reason} at ${e.at}` : e._tag
          )
          expect(seen).toEqual(i < 2 ? [] : ["no answer within 20 ms at 0"])
        }
        expect(yield* store.breaker.record("k", 0, settings, "Failure", false)).toBeUndefined()
        for (let i = 0; i < 20; i++) {
          expect((yield* store.breaker.admit("k", 0, settings)).admission._tag).toBe("Admitted")
        }
        expect(yield* Queue.takeAll(events)).toHaveLength(0)
      }).pipe(Effect.ensuring(Effect.sync(() => server.thaw())))
      // The health check PINGs once a second (virtual) until Redis answers: then, at that instant, it is back.
      const recovered = yield* driveUntilEvent(events)
      expect(recovered._tag).toBe("StoreRecovered")
      if (recovered._tag === "StoreRecovered") {
        const downFor = Duration.toMillis(recovered.downFor)
        expect(downFor % 1_000 === 0 && downFor >= 1_000).toBe(true)
        expect(recovered.at).toBe(downFor)
      }
      // Redis ran only the three scripts sent before the store degraded.
      expect((yield* evalshaCalls(admin)) - scriptsRun).toBe(3)
      // Shared state again: the failure recorded locally during the outage is not on Redis.
      expect(yield* store.breaker.record("k", 0, settings, "Failure", false)).toBeUndefined()
      expect(yield* store.breaker.state("k")).toEqual({ _tag: "Closed" })
      expect(yield* store.breaker.record("k", 0, settings, "Failure", false)).toMatchObject({ to: "Open" })
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("uses a client it is given, and leaves it open", () =>
    Effect.gen(function*() {
      const client = new Redis(server.port, "127.0.0.1", { enableOfflineQueue: false, lazyConnect: true })
      yield* Effect.promise(() => client.connect())
      const store = yield* RedisStateStore.make({ client, prefix: prefix(), operationTimeout: "1 second" }).pipe(
        Effect.scoped
      )
      // The store's scope is closed: the client is still the caller's, and still works.
      expect(client.status).toBe("ready")
      expect(yield* store.budget.withdraw("k", 0, tokenBucket)).toBe(true)
      yield* Effect.promise(() => client.quit())
    }))

  it.effect("reads its options from Config (layerConfig)", () =>
    Effect.gen(function*() {
      const p = prefix()
      const layer = RedisStateStore.layerConfig({
        url: Config.string("REDIS_URL"),
        prefix: Config.string("REDIS_PREFIX"),
        operationTimeout: Config.duration("REDIS_TIMEOUT")
      })
      const provider = ConfigProvider.fromMap(
        new Map([["REDIS_URL", server.url], ["REDIS_PREFIX", p], ["REDIS_TIMEOUT", "1 second"]])
      )
      const opened = yield* Effect.flatMap(
        StateStore.StateStore,
        (store) =>
          store.breaker.record(
            "k",
            0,
            { ...consecutive, trip: { _tag: "Consecutive", threshold: 1 } },
            "Failure",
            false
          )
      ).pipe(Effect.provide(layer), Effect.withConfigProvider(provider))
      expect(opened).toEqual({ from: "Closed", to: "Open", at: 0, until: 1_000 })
      expect(yield* Effect.promise(() => server.command(`HGET ${p}{k}:breaker s`))).toBe("$1")
    }))

  /**
   * A client on the test server whose `evalsha` can be held (the script runs; its reply waits until the test
   * lets it go, after the store gave up on it) or fail.
   */
  const faultyClient = (db = 0) => {
    const raw = new Redis(server.port, "127.0.0.1", { enableOfflineQueue: false, lazyConnect: true, db })
    const faults: { held: Promise<void> | undefined; fail: boolean } = { held: undefined, fail: false }
    const client = new Proxy(raw, {
      get(target, property, receiver) {
        if (property === "evalsha") {
          return (...args: Array<any>) => {
            if (faults.fail) return Promise.reject(new Error("read ECONNRESET"))
            const reply = (target.evalsha as (...a: Array<any>) => Promise<unknown>)(...args)
            const held = faults.held
            return held === undefined ? reply : Promise.all([reply, held]).then(([r]) => r)
          }
        }
        const value = Reflect.get(target, property, receiver)
        return typeof value === "function" ? value.bind(target) : value
      }
    }) as Redis
    return Effect.acquireRelease(
      Effect.as(Effect.promise(() => raw.connect()), { raw, client, faults }),
      () => Effect.promise(() => raw.quit())
    )
  }
  const pttl = (key: string) =>
    Effect.map(Effect.promise(() => server.command(`PTTL ${key}`)), (r) => Number(r.slice(1)))

  it.effect("gives a lost probe slot back after the probe lease, without renewing the key on rejections", () =>
    Effect.gen(function*() {
      const p = prefix()
      const { client, faults } = yield* faultyClient()
      const store = yield* RedisStateStore.make({
        client,
        prefix: p,
        // Generous, so that only the answer made late on purpose times out on a busy machine.
        operationTimeout: "200 millis",
        probeLease: "1 minute",
        keyTtl: "1 hour"
      })
      const settings = {
        trip: { _tag: "Consecutive", threshold: 1 },
        halfOpenProbes: 1,
        successesToClose: 1,
        breakDurationsMillis: [1_000]
      } as const
      expect(yield* store.breaker.record("k", 0, settings, "Failure", false)).toMatchObject({ to: "Open" })
      // The break is over; this admission takes the probe slot on Redis, but its answer comes too late:
      // the caller is answered from local (closed) state, and its outcome, recorded as no probe, is ignored.
      let release = () => {}
      faults.held = new Promise<void>((resolve) => {
        release = resolve
      })
      const late = yield* store.breaker.admit("k", 2_000, settings)
      faults.held = undefined
      release()
      expect(late.admission).toEqual({ _tag: "Admitted", probe: false })
      expect(yield* store.breaker.record("k", 2_100, settings, "Success", false)).toBeUndefined()
      expect(yield* store.breaker.state("k")).toEqual({ _tag: "HalfOpen", probes: 1, successes: 0, opens: 1 })
      // Every process is refused until the lease (1 minute after the admission) is over; refusals do not
      // keep the key alive.
      const key = `${p}{k}:breaker`
      yield* Effect.promise(() => server.command(`PEXPIRE ${key} 100000`))
      for (const now of [3_000, 61_999]) {
        expect((yield* store.breaker.admit("k", now, settings)).admission).toEqual({
          _tag: "Rejected",
          state: "HalfOpen",
          retryAt: now
        })
      }
      expect(yield* pttl(key)).toBeLessThanOrEqual(100_000)
      expect(yield* store.breaker.admit("k", 62_000, settings)).toEqual({
        admission: { _tag: "Admitted", probe: true },
        transition: undefined
      })
      expect(yield* store.breaker.state("k")).toEqual({ _tag: "HalfOpen", probes: 1, successes: 0, opens: 1 })
      expect(yield* store.breaker.record("k", 62_500, settings, "Success", true)).toEqual({
        from: "HalfOpen",
        to: "Closed",
        at: 62_500
      })
    }).pipe(Effect.scoped))

  it.effect("a breaker opened through CircuitBreaker recovers from a lost probe after exactly the lease", () =>
    Effect.gen(function*() {
      const p = prefix()
      const store = yield* RedisStateStore.make({ ...options(), prefix: p, probeLease: "30 seconds" })
      const breaker = yield* CircuitBreaker.make({
        key: "k",
        trip: CircuitBreaker.consecutive(1),
        breakDuration: "5 seconds"
      }).pipe(Effect.provideService(StateStore.StateStore, store))
      yield* Effect.either(breaker.protect(Effect.fail(transient)))
      yield* TestClock.adjust("5 seconds")
      // A process takes the probe slot and dies before it records (as if crashed).
      const settings = {
        trip: { _tag: "Consecutive", threshold: 1 },
        halfOpenProbes: 1,
        successesToClose: 1,
        breakDurationsMillis: [5_000]
      } as const
      expect((yield* store.breaker.admit("k", 5_000, settings)).admission).toEqual({ _tag: "Admitted", probe: true })
      yield* TestClock.adjust("29999 millis")
      const refused = yield* Effect.either(breaker.protect(Effect.succeed("refused")))
      expect(Either.isLeft(refused) && CircuitBreaker.isCircuitOpenError(refused.left)).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* breaker.protect(Effect.succeed("probe"))).toBe("probe")
      expect(yield* breaker.state).toEqual({ _tag: "Closed" })
    }).pipe(Effect.scoped))

  it.effect("stays on Redis when the caller is interrupted while the store degrades", () =>
    Effect.gen(function*() {
      const p = prefix()
      const { client, faults, raw } = yield* faultyClient()
      const published: Array<string> = []
      // An events sink whose publish takes a moment (an exporter, a bounded queue, ...).
      const slowSink: ResilienceEvent.Sink = {
        enabled: true,
        publish: (event) =>
          Effect.sleep("300 millis").pipe(Effect.zipRight(Effect.sync(() => published.push(event._tag)))),
        subscribe: Effect.dieMessage("not used")
      }
      const store = yield* RedisStateStore.make({
        client,
        prefix: p,
        operationTimeout: "1 second",
        healthCheckInterval: "20 millis"
      }).pipe(
        Effect.provideService(ResilienceEvent.ResilienceEvents, slowSink)
      )
      const call = <A>(effect: Effect.Effect<A>) =>
        Effect.provideService(effect, ResilienceEvent.ResilienceEvents, slowSink)
      faults.fail = true
      const attempt = yield* Effect.fork(
        Effect.exit(call(store.breaker.state("k")).pipe(Effect.timeout("50 millis")))
      )
      // The call fails at once and starts degrading the store: the health check (at 20 ms), the caller's
      // timeout (at 50 ms) and the slow publish (at 300 ms) all wait on the clock. The timeout fires half-way.
      while (Chunk.size(yield* TestClock.sleeps()) < 3) yield* ioTurn
      yield* driveUntil(Effect.map(attempt.poll, Option.isSome))
      faults.fail = false
      expect((yield* Fiber.join(attempt))._tag).toBe("Failure")
      yield* driveUntil(Effect.sync(() => published.includes("StoreRecovered")))
      const settings = { ...consecutive, trip: { _tag: "Consecutive", threshold: 1 } } as const
      expect(yield* call(store.breaker.record("k", 0, settings, "Failure", false))).toMatchObject({ to: "Open" })
      expect(yield* Effect.promise(() => raw.exists(`${p}{k}:breaker`))).toBe(1)
      expect([...published].sort()).toEqual(["StoreDegraded", "StoreRecovered"])
    }).pipe(Effect.scoped))

  it.effect("keeps an open breaker's key for its whole break, also when rejected calls touch it", () =>
    Effect.gen(function*() {
      const p = prefix()
      const store = yield* RedisStateStore.make({ ...options(), prefix: p, keyTtl: "300 millis" })
      const settings = {
        trip: { _tag: "Consecutive", threshold: 1 },
        halfOpenProbes: 1,
        successesToClose: 1,
        breakDurationsMillis: [600_000]
      } as const
      const key = `${p}{k}:breaker`
      // Opened for 600 s: the key lives for the break and a minute more.
      yield* expectExpiry(key, 660_000, yield* during(store.breaker.record("k", 0, settings, "Failure", false)))
      // A rejected call 100 s into the 10-minute break: the key must outlive the remaining 500 s (+ 60 s).
      const rejected = yield* during(store.breaker.admit("k", 100_000, settings))
      expect(rejected.value.admission._tag).toBe("Rejected")
      yield* expectExpiry(key, 560_000, rejected)
    }).pipe(Effect.scoped))

  it.effect("layerShared with a client: the rate limiter uses the client's server and database", () =>
    Effect.gen(function*() {
      const p = prefix()
      const { raw } = yield* faultyClient(3)
      const limiter = yield* Effect.flatMap(
        Layer.build(RedisStateStore.layerShared({ client: raw, prefix: p, operationTimeout: "1 second" })),
        (context) =>
          RateLimiter.make({ key: "openai", requestsPerMinute: 60, onExceeded: "fail" }).pipe(Effect.provide(context))
      )
      expect(yield* RateLimiter.protect(Effect.succeed("ok"), limiter)).toBe("ok")
      const keys = yield* Effect.promise(() => raw.keys(`${p}ratelimiter:*`))
      expect(keys.length).toBeGreaterThan(0)
      expect(keys.every((k) => k.startsWith(`${p}ratelimiter:{`))).toBe(true)
    }).pipe(Effect.scoped))

  it.effect("the rate-limiter store prints nothing while Redis is down, and says when it is lost and back", () =>
    Effect.gen(function*() {
      const p = prefix()
      // A server of this test's own, stopped: a closed loopback port where Redis will come back.
      const own = yield* Effect.acquireRelease(Effect.promise(startServer), (s) => Effect.promise(s.stop))
      yield* Effect.promise(own.stop)
      const printed = yield* capturePrinted
      const events = yield* ResilienceEvent.subscribe
      const context = yield* Layer.build(
        RedisStateStore.layerRateLimiterStore({ url: own.url, prefix: p, operationTimeout: "1 second" })
      )
      const limiter = yield* RateLimiter.make({ key: "openai", requestsPerMinute: 600, onExceeded: "fail" }).pipe(
        Effect.provide(context)
      )
      // Calls are answered from local buckets while Redis is down (and the client keeps reconnecting).
      for (let i = 0; i < 3; i++) expect(yield* RateLimiter.protect(Effect.succeed("ok"), limiter)).toBe("ok")
      const down = Array.from(yield* Queue.takeAll(events))
      expect(down.map((e) => e._tag === "StoreDegraded" ? `${e._tag} ${e.store}` : e._tag)).toEqual([
        "StoreDegraded redis-ratelimiter"
      ])
      expect(down[0]._tag === "StoreDegraded" && down[0].reason).toMatch(/ECONNREFUSED/)

      // Redis is back: once the client has reconnected, the next call uses it and says so.
      yield* Effect.promise(own.start)
      const admin = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new Redis(own.port, "127.0.0.1", { lazyConnect: true })
          await client.connect()
          return client
        }),
        (client) => Effect.promise(() => client.quit())
      )
      // The store's client is back once it has loaded its scripts (the first thing it does when ready).
      const ready = Effect.map(
        Effect.promise(() => admin.client("LIST")),
        (list) => String(list).includes("cmd=script")
      )
      while (!(yield* ready)) yield* ioTurn
      expect(yield* RateLimiter.protect(Effect.succeed("ok"), limiter)).toBe("ok")
      const back = Array.from(yield* Queue.takeAll(events), (e) => e._tag === "StoreRecovered" ? e.store : e._tag)
      expect(back).toEqual(["redis-ratelimiter"])
      expect((yield* Effect.promise(() => admin.keys(`${p}*`))).length).toBeGreaterThan(0)
      // Nothing reached stderr or the console's error channel while Redis was down, ioredis's noise included.
      expect(printed).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))

  it.effect("starts degraded, without failing, when Redis cannot be reached", () =>
    Effect.gen(function*() {
      const events = yield* ResilienceEvent.subscribe
      // Port 1 on loopback: nothing listens there.
      const store = yield* RedisStateStore.make({ host: "127.0.0.1", port: 1, prefix: prefix() })
      const admitted = yield* store.breaker.admit("k", 0, consecutive)
      expect(admitted.admission).toEqual({ _tag: "Admitted", probe: false })
      const all = Array.from(yield* Queue.takeAll(events))
      expect(all.map((e) => e._tag)).toEqual(["StoreDegraded"])
      expect(all[0]._tag === "StoreDegraded" && all[0].reason).toMatch(/ECONNREFUSED/)
    }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer())))
})
