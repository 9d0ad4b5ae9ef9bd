/**
 * The timeout benchmark: what a per-attempt timeout costs a call that
 * succeeds in time.
 *
 * Per call, on the happy path:
 *
 * - `bare effect`: the operation alone, the Effect baseline;
 * - `Effect.timeout`: effect's own timeout (it forks the effect and a sleeping
 *   fiber, races them, and arms a timer, on every call);
 * - `Timeout.protect`: ours, `timer: "shared"` (the default): the attempt runs
 *   on the caller's fiber and registers its deadline with one sweeper fiber;
 * - `Timeout.protect perCall`: ours, `timer: "perCall"`, the reference
 *   implementation on `Effect.timeout`'s race (plus our bookkeeping).
 *
 * Each twice: with a synchronous operation (`Effect.sync`: nothing but the
 * wrapper's cost is measured) and with an asynchronous one, resumed from a
 * microtask, as a provider call always is (a real one resumes from I/O, which
 * costs more and makes every ratio smaller).
 *
 * Each sample is a batch of 100 sequential calls in one fiber, run through a
 * prebuilt runtime; every figure is the batch time divided by 100. The
 * timeouts are 30 s, so none fires: a fired timeout is not the happy path.
 *
 * Run it alone with
 * `cd packages/bench && npx tsx -e "import('./src/timeout.ts').then((m) => m.main())"`.
 *
 * @since 0.1.0
 */
import * as Timeout from "@effect-resilience/core/Timeout"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import * as os from "node:os"
import { Bench } from "tinybench"

/** Calls per sample. */
export const batchSize = 100

/** One measured variant. */
export interface Variant {
  readonly name: string
  readonly runBatch: () => Promise<void>
}

/** One line of the result, in nanoseconds per call. */
export interface Row {
  readonly name: string
  readonly nsPerCall: number
  /** Relative margin of error of the mean, in percent. */
  readonly rme: number
  /** Measured samples, each of `batchSize` calls. */
  readonly samples: number
}

const counter = { calls: 0 }

const syncCall: Effect.Effect<number> = Effect.sync(() => ++counter.calls)

const asyncCall: Effect.Effect<number> = Effect.async<number>((resume) => {
  queueMicrotask(() => resume(Effect.succeed(++counter.calls)))
})

const batch = <A, E>(call: Effect.Effect<A, E>): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    for (let i = 0; i < batchSize; i++) yield* call
  })

/**
 * Builds the variants on one prebuilt runtime, with two timeouts made in a
 * scope of their own; `close` releases them.
 */
export const makeVariants = async (): Promise<{
  readonly variants: ReadonlyArray<Variant>
  readonly close: () => Promise<void>
}> => {
  const runtime = ManagedRuntime.make(Layer.empty)
  await runtime.runtime()
  const scope = Effect.runSync(Scope.make())
  const shared = await runtime.runPromise(Scope.extend(Timeout.make({ after: "30 seconds", key: "bench" }), scope))
  const perCall = await runtime.runPromise(
    Scope.extend(Timeout.make({ after: "30 seconds", key: "bench", timer: "perCall" }), scope)
  )
  const variant = <E>(name: string, call: Effect.Effect<number, E>): Variant => {
    const effect = batch(call)
    return { name, runBatch: () => runtime.runPromise(effect) }
  }
  const variants = (label: string, call: Effect.Effect<number>): ReadonlyArray<Variant> => [
    variant(`bare effect (${label})`, call),
    variant(`Effect.timeout (${label})`, Effect.timeout(call, "30 seconds")),
    variant(`Timeout.protect (${label})`, Timeout.protect(call, shared)),
    variant(`Timeout.protect perCall (${label})`, Timeout.protect(call, perCall))
  ]
  return {
    variants: [...variants("sync", syncCall), ...variants("async", asyncCall)],
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}

/** Checks that each variant makes exactly one call per call, before timing anything. */
const verify = async (variants: ReadonlyArray<Variant>): Promise<void> => {
  for (const variant of variants) {
    counter.calls = 0
    await variant.runBatch()
    if (counter.calls !== batchSize) {
      throw new Error(`"${variant.name}" made ${counter.calls} calls for a batch of ${batchSize}`)
    }
  }
}

/**
 * Runs the benchmark and returns one row per variant, in nanoseconds per call.
 *
 * @since 0.1.0
 */
export const timeoutBench = async (
  options: { readonly time?: number; readonly warmupTime?: number } = {}
): Promise<ReadonlyArray<Row>> => {
  const { close, variants } = await makeVariants()
  try {
    await verify(variants)
    const bench = new Bench({ time: options.time ?? 1000, warmupTime: options.warmupTime ?? 250, throws: true })
    for (const variant of variants) bench.add(variant.name, variant.runBatch)
    await bench.run()
    return variants.map((variant, i): Row => {
      const result = bench.tasks[i].result
      if (result.state !== "completed") throw new Error(`benchmark "${variant.name}" did not complete: ${result.state}`)
      return {
        name: variant.name,
        nsPerCall: (result.latency.mean * 1e6) / batchSize,
        rme: result.latency.rme,
        samples: result.latency.samplesCount
      }
    })
  } finally {
    await close()
  }
}

/**
 * The printed report: per-call cost, and each row against the bare effect and
 * against `Effect.timeout` of the same kind (sync or async).
 *
 * @since 0.1.0
 */
export const report = (rows: ReadonlyArray<Row>): string => {
  const kind = (row: Row) => row.name.endsWith("(sync)") ? "sync" : "async"
  const base = (prefix: string, row: Row) => rows.find((r) => r.name === `${prefix} (${kind(row)})`)!
  const lines = rows.map((row) => [
    row.name,
    `${(row.nsPerCall / 1000).toFixed(2)} µs`,
    `±${row.rme.toFixed(1)}%`,
    `${(row.nsPerCall / base("bare effect", row).nsPerCall).toFixed(1)}×`,
    `${(row.nsPerCall / base("Effect.timeout", row).nsPerCall).toFixed(3)}×`
  ])
  const header = ["name", "per call", "±rme", "vs bare effect", "vs Effect.timeout"]
  const widths = header.map((title, c) => Math.max(title.length, ...lines.map((line) => line[c].length)))
  const format = (cells: ReadonlyArray<string>) =>
    cells.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join("  ")
  const overhead = (name: string, k: "sync" | "async") => {
    const row = rows.find((r) => r.name === `${name} (${k})`)!
    return row.nsPerCall - rows.find((r) => r.name === `bare effect (${k})`)!.nsPerCall
  }
  const summary = (["sync", "async"] as const).map((k) =>
    `${k}: Timeout.protect adds ${(overhead("Timeout.protect", k) / 1000).toFixed(2)} µs per call, ` +
    `Effect.timeout ${(overhead("Effect.timeout", k) / 1000).toFixed(2)} µs ` +
    `(${(overhead("Effect.timeout", k) / overhead("Timeout.protect", k)).toFixed(1)}× as much)`
  )
  return [format(header), ...lines.map(format), "", ...summary].join("\n")
}

/**
 * Runs the benchmark and prints the report.
 *
 * @since 0.1.0
 */
export const main = async (): Promise<void> => {
  console.log(`Timeout on the happy path, per call (${batchSize} sequential calls per sample)…`)
  const rows = await timeoutBench()
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"} × ${os.cpus().length}`)
  console.log()
  console.log(report(rows))
}
