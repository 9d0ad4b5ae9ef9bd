/**
 * The Redis benchmark: what one circuit-breaker decision costs when the
 * breaker's state is on Redis (`@effect-resilience/redis`), in one process and
 * in four processes sharing one key.
 *
 * A decision is one `breaker.protect` of a call that succeeds at once: an
 * admit and a record, each one script on a loopback `redis-server` that the
 * benchmark starts itself (on a free port, no persistence) and stops after.
 * Each process makes decisions one after the other for 2 s after 0.5 s of
 * warm-up and reports decisions per second and the p50/p99 latency of one
 * decision. Without `redis-server` on the machine it prints one line and skips.
 */
import { CircuitBreaker, ResilienceEvent } from "@effect-resilience/core"
import { RedisStateStore } from "@effect-resilience/redis"
import { Effect, Layer, Queue } from "effect"
import { type ChildProcess, fork, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

/** The argument that makes `main` run one benchmark process instead of the benchmarks. */
export const workerFlag = "--redis-bench-worker"

const warmupMillis = 500
const measureMillis = 2_000
const processes = 4

/** What one process measured. */
export interface Result {
  readonly decisions: number
  readonly perSecond: number
  readonly p50Micros: number
  readonly p99Micros: number
  /** `StoreDegraded` events seen: when not 0, some decisions were answered locally. */
  readonly degraded: number
}

const findServer = (): string | undefined =>
  [
    ...(process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, "redis-server")),
    "/usr/bin/redis-server"
  ]
    .find((file) => fs.existsSync(file))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("error", () => resolve(false))
    socket.once("data", (data) => {
      socket.end()
      resolve(data.toString().startsWith("+PONG"))
    })
    socket.write("PING\r\n")
  })

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

/** Makes decisions against Redis on `port` for the warm-up, then for the measured time. */
export const measure = (port: number): Promise<Result> =>
  Effect.gen(function*() {
    const events = yield* ResilienceEvent.subscribe
    const breaker = yield* CircuitBreaker.make({ key: "bench/shared" })
    const decision = breaker.protect(Effect.void)
    const warmupEnd = performance.now() + warmupMillis
    while (performance.now() < warmupEnd) yield* decision
    const latencies: Array<number> = []
    const start = performance.now()
    const end = start + measureMillis
    let now = start
    while (now < end) {
      const before = now
      yield* decision
      now = performance.now()
      latencies.push(now - before)
    }
    const elapsed = (now - start) / 1000
    latencies.sort((a, b) => a - b)
    const degraded = Array.from(yield* Queue.takeAll(events)).filter((e) => e._tag === "StoreDegraded").length
    return {
      decisions: latencies.length,
      perSecond: latencies.length / elapsed,
      p50Micros: percentile(latencies, 0.5) * 1000,
      p99Micros: percentile(latencies, 0.99) * 1000,
      degraded
    }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.merge(
        // A generous operation timeout: the bench measures Redis round trips, and on a busy machine the default
        // (10 ms) would degrade the store to local memory and time that instead.
        RedisStateStore.layer({ host: "127.0.0.1", port, prefix: "bench:", operationTimeout: "1 second" }),
        ResilienceEvent.layer()
      )
    ),
    Effect.runPromise
  )

/** One benchmark process, forked by `run`: measures and sends its result to the parent. */
export const runWorker = async (argv: ReadonlyArray<string>): Promise<void> => {
  const port = Number(argv[argv.indexOf(workerFlag) + 1])
  const result = await measure(port)
  process.send!(result, () => process.disconnect())
}

const forkWorker = (port: number): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(process.argv[1], [workerFlag, String(port)], { stdio: "inherit" })
    child.once("message", (result) => resolve(result as Result))
    child.once("error", reject)
    child.once("exit", (code) => code === 0 ? undefined : reject(new Error(`benchmark process exited with ${code}`)))
  })

const row = (name: string, r: Result): string =>
  `${name.padEnd(22)} ${Math.round(r.perSecond).toLocaleString("en-US").padStart(9)} /s   p50 ${
    Math.round(r.p50Micros).toString().padStart(5)
  } µs   p99 ${Math.round(r.p99Micros).toString().padStart(5)} µs${
    r.degraded > 0 ? `   (DEGRADED ${r.degraded}×: answers were local, this row does not measure Redis)` : ""
  }`

/** Runs the Redis benchmark, or says in one line why it is skipped. */
export const run = async (): Promise<void> => {
  const binary = findServer()
  if (binary === undefined) {
    console.log("Redis benchmark skipped: redis-server not found (install it with `apt-get install redis-server`)")
    return
  }
  const port = await freePort()
  const server = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })
  try {
    const deadline = Date.now() + 5_000
    while (!(await answersPing(port))) {
      if (Date.now() > deadline) throw new Error("redis-server did not start")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    console.log(
      `Circuit breaker on Redis (loopback), one decision = admit + record of a successful call, ` +
        `${measureMillis / 1000} s per process…`
    )
    const single = await measure(port)
    const many = await Promise.all(Array.from({ length: processes }, () => forkWorker(port)))
    console.log()
    console.log(row("1 process", single))
    many.forEach((result, i) => console.log(row(`${processes} processes: #${i + 1}`, result)))
    const total = many.reduce((sum, r) => sum + r.perSecond, 0)
    console.log(`${processes} processes together: ${Math.round(total).toLocaleString("en-US")} decisions/s`)
  } finally {
    server.kill("SIGKILL")
  }
}
