/**
 * The memory benchmark: what the pipeline keeps per call in flight and per key.
 *
 * Each figure is measured in a child process of its own, started with
 * `--expose-gc` so that it can collect before reading the heap, and so that
 * the timing benchmarks in the main process are not disturbed by (and do not
 * disturb) a heap of 100,000 fibers.
 *
 * - Calls in flight: `calls` fibers, each blocked on one `Deferred` inside
 *   the protected operation, run bare (`Effect.forkDaemon` of the operation) and
 *   through `Resilience.make()` with its defaults, the bulkhead widened to
 *   `calls` slots (the default's 100 slots and 1,000 queue places would reject
 *   the rest, which measures rejections, not calls in flight). The pipeline's
 *   key is warmed first, so the figure is per call, not per key: by `calls`
 *   calls one after the other, which open the learned admission's cold-start
 *   window (10 attempts in flight, one more per success) to `calls`.
 *   Each call runs `pipeline.run(operation)` as an application does, `run` per
 *   call. The heap is read after a full collection once every call has reached the
 *   operation, and again before any is released: retained bytes per call are
 *   (heap with the calls in flight − heap before forking them) / calls. The
 *   ratio is the pipeline's bytes per call over the bare fibers' bytes per call.
 * - Keys: one call each on `keys` distinct keys through `Resilience.make()`,
 *   the first 10,000 filling the pipeline's per-key state and the rest evicting
 *   the least recently used key each: heap per key kept (after a collection),
 *   heap per key beyond the limit (what eviction fails to release), the metric
 *   series in effect's registry, and CPU time per call on a new key against a
 *   call on a warm key.
 */
import { Resilience } from "@effect-resilience/core"
import { Deferred, Effect, Exit, Metric, Scope } from "effect"
import { fork } from "node:child_process"

/** The argument that makes `main` run one memory measurement instead of the benchmarks. */
export const workerFlag = "--memory-bench-worker"

/** Calls in flight at once, as in the issue that asked for the figure (`test/Memory.test.ts` runs fewer). */
const calls = 100_000
/** Distinct keys for the per-key row: 10,000 kept, the rest each evicting one. */
const keys = 30_000
/** The pipeline's per-key state limit (LRU), see the README's "State" section. */
const keptKeys = 10_000

interface InFlightResult {
  readonly kind: "inFlight"
  readonly calls: number
  readonly bytesPerCall: number
}

interface KeysResult {
  readonly kind: "keys"
  readonly keys: number
  readonly bytesPerKeyKept: number
  readonly bytesPerKeyBeyond: number
  readonly seriesAtLimit: number
  readonly seriesAtEnd: number
  readonly microsPerNewKey: number
  readonly microsPerWarmCall: number
}

type Result = InFlightResult | KeysResult

const gc = async (): Promise<void> => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("the memory benchmark needs node --expose-gc")
  // A few rounds, yielding in between, so that finalization registries and weak maps settle.
  for (let i = 0; i < 4; i++) {
    collect()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const heapUsed = async (): Promise<number> => {
  await gc()
  return process.memoryUsage().heapUsed
}

/** `calls` fibers blocked inside the operation, bare or through a pipeline; bytes retained per call. */
const measureInFlight = async (mode: "bare" | "pipeline", calls: number): Promise<InFlightResult> => {
  const scope = Effect.runSync(Scope.make())
  const pipeline = mode === "bare" ? undefined : await Effect.runPromise(
    Scope.extend(Resilience.make({ bulkhead: { maxConcurrent: calls, maxQueue: 0 } }), scope)
  )
  const gate = Effect.runSync(Deferred.make<void>())
  let started = 0
  const operation = Effect.zipRight(Effect.sync(() => started++), Deferred.await(gate))
  // As an application calls it: `run` per call (what `run` builds is part of what a call in flight holds).
  const call = pipeline === undefined
    ? Effect.suspend(() => operation)
    : Effect.suspend(() => pipeline.run(operation, { key: "bench/memory" }))
  // Warm the key (its state is made by its first call) and the code paths. The learned admission's cold-start
  // window admits 10 attempts in flight and widens by one per success: `calls` successes first, one after the
  // other, open it to `calls`, as a key that has served that many calls without a limit signal would be
  // (without, all but the first 11 calls would wait for a slot and the measurement would never start).
  if (pipeline !== undefined) {
    await Effect.runPromise(Effect.repeatN(pipeline.run(Effect.void, { key: "bench/memory" }), calls))
  }

  const before = await heapUsed()
  const fibers = Effect.runSync(Effect.forEach(Array.from({ length: calls }), () => Effect.forkDaemon(call)))
  while (started < calls) await new Promise((resolve) => setImmediate(resolve))
  const during = await heapUsed()

  await Effect.runPromise(Deferred.succeed(gate, undefined))
  const exits = await Effect.runPromise(Effect.forEach(fibers, (fiber) => fiber.await))
  const failed = exits.filter(Exit.isFailure).length
  if (failed > 0) throw new Error(`${failed} of ${calls} calls in flight (${mode}) failed`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return { kind: "inFlight", calls, bytesPerCall: (during - before) / calls }
}

const seriesCount = (): number => Metric.unsafeSnapshot().length

/** One call each on `keys` distinct keys through the default pipeline. */
const measureKeys = async (): Promise<KeysResult> => {
  const scope = Effect.runSync(Scope.make())
  const pipeline = await Effect.runPromise(Scope.extend(Resilience.make(), scope))
  const callOn = (key: string) => pipeline.run(Effect.void, { key })
  const run = (from: number, to: number, keyOf: (i: number) => string) =>
    Effect.runPromise(Effect.suspend(() => {
      let i = from
      return Effect.whileLoop({
        while: () => i < to,
        body: () => callOn(keyOf(i++)),
        step: () => {}
      })
    }))
  // Warm the code paths on keys of their own, then measure from an empty pipeline of that shape.
  await run(0, 100, (i) => `bench/warmup-${i}`)
  const warm = "bench/warm"
  await run(0, 1, () => warm)

  const cpu = () => {
    const usage = process.cpuUsage()
    return (usage.user + usage.system)
  }
  const warmCalls = 20_000
  let start = cpu()
  await run(0, warmCalls, () => warm)
  const microsPerWarmCall = (cpu() - start) / warmCalls

  const before = await heapUsed()
  const seriesBefore = seriesCount()
  start = cpu()
  await run(0, keptKeys, (i) => `tenant-${i}`)
  const fillMicros = cpu() - start
  const atLimit = await heapUsed()
  const seriesAtLimit = seriesCount() - seriesBefore
  start = cpu()
  await run(keptKeys, keys, (i) => `tenant-${i}`)
  const evictMicros = cpu() - start
  const atEnd = await heapUsed()
  const seriesAtEnd = seriesCount() - seriesBefore
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return {
    kind: "keys",
    keys,
    bytesPerKeyKept: (atLimit - before) / keptKeys,
    bytesPerKeyBeyond: (atEnd - atLimit) / (keys - keptKeys),
    seriesAtLimit,
    seriesAtEnd,
    microsPerNewKey: (fillMicros + evictMicros) / keys,
    microsPerWarmCall
  }
}

/** The child process: one measurement, its result as one JSON line on stdout. */
export const runWorker = async (argv: ReadonlyArray<string>): Promise<void> => {
  const mode = argv[argv.indexOf(workerFlag) + 1]
  // How many calls in flight: the argument after the mode, if any.
  const inFlight = Number(argv[argv.indexOf(workerFlag) + 2] ?? calls)
  const result: Result = mode === "keys"
    ? await measureKeys()
    : mode === "bare" || mode === "pipeline"
    ? await measureInFlight(mode, inFlight)
    : (() => {
      throw new Error(`unknown memory benchmark "${mode}"`)
    })()
  process.stdout.write(JSON.stringify(result) + "\n")
}

const runChild = (mode: string): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = fork(process.argv[1], [workerFlag, mode], {
      execArgv: ["--expose-gc", "--max-old-space-size=4096"],
      stdio: ["ignore", "pipe", "inherit", "ipc"]
    })
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => output += chunk.toString())
    child.once("error", reject)
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`memory benchmark "${mode}" exited with ${code}`))
      try {
        resolve(JSON.parse(output.trim().split("\n").at(-1)!) as Result)
      } catch (error) {
        reject(error)
      }
    })
  })

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KB`

/** Runs the measurements one child process after the other and prints them. */
export const run = async (): Promise<void> => {
  console.log(`Memory: ${calls.toLocaleString("en-US")} calls in flight, bare and through Resilience.make()…`)
  const bare = await runChild("bare") as InFlightResult
  const pipeline = await runChild("pipeline") as InFlightResult
  console.log()
  console.log(`retained heap per call in flight (after GC, ${calls.toLocaleString("en-US")} calls)`)
  console.log(`  bare fibers (Effect.forkDaemon of the operation)  ${kb(bare.bytesPerCall)}`)
  console.log(
    `  Resilience.make() (bulkhead widened to ${calls.toLocaleString("en-US")})   ${kb(pipeline.bytesPerCall)}  ${
      (pipeline.bytesPerCall / bare.bytesPerCall).toFixed(2)
    }× bare fibers`
  )
  console.log()
  console.log(`Memory and CPU per key: one call on each of ${keys.toLocaleString("en-US")} keys…`)
  const perKey = await runChild("keys") as KeysResult
  console.log(`  heap per key kept (first ${keptKeys.toLocaleString("en-US")} keys)     ${kb(perKey.bytesPerKeyKept)}`)
  console.log(
    `  heap per key beyond ${keptKeys.toLocaleString("en-US")} (evicting one)   ${kb(perKey.bytesPerKeyBeyond)}`
  )
  console.log(
    `  metric series added: ${perKey.seriesAtLimit.toLocaleString("en-US")} at ${
      keptKeys.toLocaleString("en-US")
    } keys, ${perKey.seriesAtEnd.toLocaleString("en-US")} at ${keys.toLocaleString("en-US")}`
  )
  console.log(
    `  CPU per call on a new key (made, and beyond ${keptKeys.toLocaleString("en-US")} one evicted)  ${
      perKey.microsPerNewKey.toFixed(1)
    } µs; on a warm key ${perKey.microsPerWarmCall.toFixed(1)} µs (${
      (perKey.microsPerNewKey / perKey.microsPerWarmCall).toFixed(1)
    }× a warm call)`
  )
}
