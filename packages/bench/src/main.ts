/**
 * The benchmark: what `Retry.retry` costs a call that succeeds at once.
 *
 * Retrying matters when a provider fails, but every call pays for the wrapper,
 * and nearly every call succeeds. So this measures the happy path, per call:
 *
 * - `bare effect`: the operation alone (`Effect.sync`), the Effect baseline;
 * - `Effect.retry`: effect's own retry, exponential 500 ms, 2 retries;
 * - `Retry.retry`: ours, `maxAttempts: 3`, defaults (a span per attempt, events off);
 * - `Retry.retry tracing: false`: ours without the span;
 * - `Retry.retry + events`: ours with `ResilienceEvent.layer()` provided once to
 *   the runtime (events are built and published; nobody subscribes);
 * - `cockatiel retry`: `retry(handleAll, { maxAttempts: 2 })` (2 retries, 3 calls)
 *   with exponential backoff, the Promise-based reference;
 * - `Effect.timeout`: effect's own timeout (30 s), for scale: a timer and a fiber per call;
 * - `Resilience pipeline`: ours, everything composed as `Resilience.make` builds it by
 *   default (retry, retry budget, circuit breaker, bulkhead) plus a 30 s attempt timeout;
 *   built once, `run` per call, events off;
 * - `Resilience pipeline + events`: the same with `ResilienceEvent.layer()` provided;
 * - `cockatiel wrap(retry, breaker, timeout)`: cockatiel's composite of the same
 *   (consecutive breaker, aggressive 30 s timeout);
 * - `bare promise`: the operation alone as a Promise, the cockatiel baseline.
 *
 * Each sample is a batch of 100 sequential calls (one fiber per batch for
 * Effect, one loop of awaits for Promises), and every figure is the batch time
 * divided by 100, so fixed per-run costs are spread out and rows compare.
 *
 * Reading the ratios: "vs bare effect" is what the wrapper multiplies an
 * Effect call's own cost by (Effect rows only; 1.00× is free). "vs cockatiel
 * retry" compares every row with cockatiel's wrapper. Both baselines are
 * near-empty operations, so these are upper bounds on the relative overhead:
 * next to a real provider call (hundreds of milliseconds), a microsecond is noise.
 * Spans go to effect's default tracer; an exporting tracer costs more.
 *
 * Then `providers.ts` measures the ai and http layers (`ResilientLanguageModel`,
 * `FailoverLanguageModel`, `ResilientHttpClient`) against a bare scripted
 * `LanguageModel` and an in-memory `HttpClient`, and `redis.ts` a circuit
 * breaker whose state is on Redis.
 *
 * Last, `memory.ts` measures the heap a call in flight holds (bare and through
 * `Resilience.make()`) and the heap, metric series and CPU a key costs, each in
 * a child process with `--expose-gc`.
 *
 * Run it with `npx pnpm@10 bench` (about 2 minutes); `npx pnpm@10 bench memory`
 * runs the memory benchmark alone.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import { Effect, Runtime } from "effect"
import * as os from "node:os"
import { Bench } from "tinybench"
import * as Memory from "./memory.js"
import * as Providers from "./providers.js"
import * as RedisBench from "./redis.js"
import * as Report from "./report.js"
import { batchSize, counter, makeRuntimes, type Runtimes, type Variant, variants } from "./variants.js"

/** Per task: 2 s measured after 0.5 s of warm-up; 11 tasks fit well within a minute. */
const benchOptions = { time: 2000, warmupTime: 500, throws: true } as const

/**
 * Checks, before timing anything, that each variant makes exactly one call per
 * call (the happy path) and that the events variant really has events enabled:
 * a benchmark of the wrong thing is worse than none.
 */
const verify = async (runtimes: Runtimes, all: ReadonlyArray<Variant>): Promise<void> => {
  const eventsEnabled = Runtime.runSync(runtimes.withEvents)(
    Effect.map(ResilienceEvent.ResilienceEvents, (events) => events.enabled)
  )
  if (!eventsEnabled) throw new Error("the events runtime has no enabled ResilienceEvents service")
  for (const variant of all) {
    counter.calls = 0
    await variant.runBatch()
    if (counter.calls !== batchSize) {
      throw new Error(`"${variant.name}" made ${counter.calls} calls for a batch of ${batchSize}`)
    }
  }
}

/** Times each variant (already verified) in one tinybench run, saying what it runs first; one row per variant. */
const measure = async (
  title: string,
  variants: ReadonlyArray<Variant>,
  options: { readonly time: number; readonly warmupTime: number; readonly throws: boolean }
): Promise<Array<Report.Row>> => {
  const bench = new Bench(options)
  for (const variant of variants) bench.add(variant.name, variant.runBatch)
  console.log(
    `${title}: ${variants.length} variants, each ${options.time / 1000} s (${batchSize} sequential calls per sample)…`
  )
  await bench.run()
  return variants.map((variant, i) => Report.toRow(variant, bench.tasks[i]))
}

/** Per task of the provider-layer table: 1.25 s measured after 0.25 s of warm-up (15 tasks, about 25 s). */
const providerBenchOptions = { time: 1250, warmupTime: 250, throws: true } as const

/** The second table: the ai and http layers against their bare `LanguageModel` and `HttpClient`. */
const runProviders = async (): Promise<void> => {
  const providers = await Providers.make()
  try {
    await providers.verify()
    const rows = await measure("Provider layers, happy path per call", providers.variants, providerBenchOptions)
    console.log()
    console.log(Report.groupTable(rows))
  } finally {
    await providers.dispose()
  }
}

/** `pnpm bench memory` runs the memory benchmark alone; `pnpm bench` runs everything. */
const only = process.argv.slice(2).find((arg) => !arg.startsWith("-"))

const main = async (): Promise<void> => {
  if (only === "memory") return Memory.run()
  if (only !== undefined) throw new Error(`unknown benchmark "${only}" (known: memory)`)
  const runtimes = await makeRuntimes()
  try {
    const all = variants(runtimes)
    await verify(runtimes, all)

    const rows = await measure("Happy path, per call", all, benchOptions)
    console.log()
    console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"} × ${os.cpus().length}`)
    console.log()
    console.log(Report.table(rows))
    console.log()
    console.log(Report.summary(rows))
  } finally {
    await runtimes.dispose()
  }
  console.log()
  await runProviders()
  console.log()
  await RedisBench.run()
  console.log()
  await Memory.run()
} // The Redis and memory benchmarks fork this same file as their worker processes.
;(process.argv.includes(RedisBench.workerFlag)
  ? RedisBench.runWorker(process.argv)
  : process.argv.includes(Memory.workerFlag)
  ? Memory.runWorker(process.argv)
  : main()).catch(
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    }
  )
