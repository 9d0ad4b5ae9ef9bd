import { SeededRandom } from "@effect-resilience/core"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Contention from "../Contention.js"
import type * as Simulator from "../Simulator.js"
import * as Charts from "./charts.js"
import { standardNormal } from "./random.js"
import * as Svg from "./svg.js"
import { markdown } from "./table.js"
import * as VirtualRuntime from "./virtualRuntime.js"

// Marc Brooker's OCC experiment (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015), modelled as
// in its published simulator (aws-samples/aws-arch-backoff-simulator): one row with a version; each client
// reads the version, then writes with it; the write succeeds only if the version is unchanged, otherwise the
// client backs off and starts again with a read. Every message (read request, read reply, write request,
// write reply) takes a network delay of |Normal(10 ms, 2 ms)|; the work counted is the number of writes.

/** A write that lost the race: another write committed between this client's read and its write. */
class Conflict extends Data.TaggedError("Conflict")<{}> {}

/** `|Normal(mean, sd)|`, through effect's `Random`. */
const networkDelay = (mean: number, sd: number): Effect.Effect<number> =>
  Effect.map(standardNormal, (z) => Math.abs(mean + sd * z))

/** One run: every client updates the row once; returns the writes, the completion time and a trace. */
const runOnce = (
  clients: number,
  strategy: Contention.Strategy,
  options: { readonly networkMean: number; readonly networkSd: number },
  seed: number
) => {
  let version = 0
  let completedAt = 0
  const writes: Array<Simulator.CallRecord> = []
  const latencies: Array<number> = []
  const delay = networkDelay(options.networkMean, options.networkSd)
  // Two sleeps per attempt instead of four: to the read at the server, then to the write at the server. The
  // write's reply hop is folded into the next attempt's first sleep (after the backoff, which changes nothing:
  // the next read still reaches the server at write + reply + backoff + request), or, on success, added to
  // the completion time without sleeping.
  const client = Effect.suspend(() => {
    let reply = 0
    const attempt = Effect.gen(function*() {
      const toRead = yield* delay
      const readReply = yield* delay
      const toWrite = yield* delay
      const writeReply = yield* delay
      yield* Effect.sleep(Duration.millis(reply + toRead))
      const read = version
      yield* Effect.sleep(Duration.millis(readReply + toWrite))
      const at = yield* Clock.currentTimeMillis
      const committed = read === version
      writes.push({ at, outcome: committed ? "success" : "conflict" })
      if (!committed) {
        reply = writeReply
        return yield* Effect.fail(new Conflict())
      }
      version++
      latencies.push(at + writeReply)
      completedAt = Math.max(completedAt, at + writeReply)
    })
    return Effect.retry(attempt, strategy.schedule)
  })
  VirtualRuntime.runWorkload(
    "the contention run",
    Effect.all(Array.from({ length: clients }, () => client), { concurrency: "unbounded", discard: true }).pipe(
      SeededRandom.withSeed(seed),
      Effect.orDie
    )
  )
  latencies.sort((a, b) => a - b)
  return { calls: writes.length, completedAt, writes, latencies }
}

/** @internal */
export const run = (options: Contention.Options): ReadonlyArray<Contention.Result> => {
  const runs = options.runs ?? 10
  const seed = options.seed ?? 1
  const network = { networkMean: options.networkMean ?? 10, networkSd: options.networkSd ?? 2 }
  return options.clients.flatMap((clients) =>
    options.strategies.map((strategy): Contention.Result => {
      let calls = 0
      let completion = 0
      let first: ReturnType<typeof runOnce> | undefined
      for (let r = 0; r < runs; r++) {
        const result = runOnce(clients, strategy, network, seed + r)
        first ??= result
        calls += result.calls
        completion += result.completedAt
      }
      return {
        strategy: strategy.name,
        clients,
        runs,
        calls: calls / runs,
        completion: Duration.millis(completion / runs),
        trace: { calls: first!.writes, latencies: first!.latencies, succeeded: first!.latencies, rejections: [] }
      }
    })
  )
}

/** @internal */
export const table = (rows: ReadonlyArray<Contention.Result>): string =>
  markdown(
    ["clients", "strategy", "calls (work)", "calls/client", "completion"],
    rows.map((row) => [
      String(row.clients),
      row.strategy,
      row.calls.toFixed(1),
      (row.calls / row.clients).toFixed(2),
      `${Duration.toMillis(row.completion).toFixed(0)} ms`
    ])
  )

/** @internal */
export const timelineChart = (title: string, rows: ReadonlyArray<Contention.Result>): string => {
  const end = rows.reduce((max, row) => Math.max(max, row.trace.latencies.at(-1) ?? 0), 1)
  const buckets = Charts.buckets(end)
  const series = (row: Contention.Result, outcome: Simulator.CallRecord["outcome"], name: string): Svg.Series =>
    Charts.rateSeries(
      name,
      row.trace.calls.filter((call) => call.outcome === outcome).map((call) => call.at),
      buckets,
      { unit: "ms", y: "perBucket" }
    )
  return Svg.lineChart({
    title,
    xLabel: `virtual time (ms), ${buckets.width} ms buckets`,
    yLabel: "writes per bucket",
    step: true,
    independentY: true,
    panels: rows.map((row) => ({
      title: `${row.strategy}, ${row.clients} clients (run 1)`,
      series: [series(row, "success", "committed"), series(row, "conflict", "conflicts")]
    }))
  })
}

/** @internal */
export const latencyChart = (title: string, rows: ReadonlyArray<Contention.Result>): string =>
  Svg.lineChart({
    title,
    xLabel: "time until the client's write committed (ms)",
    yLabel: "share of clients",
    yMax: 1,
    step: true,
    panels: [{
      title: `${rows[0]?.clients ?? 0} clients (run 1)`,
      series: rows.map((row) => Charts.cdfSeries(row.strategy, row.trace.latencies, { unit: "ms", quantiles: 100 }))
    }]
  })
