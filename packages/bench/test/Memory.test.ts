/**
 * The heap a call in flight holds through the default pipeline, against the same fibers without the library:
 * the figure `pnpm bench memory` reports for 100,000 calls, measured here for 20,000 (the ratio does not depend
 * on the count). Each measurement runs in a child process of its own with `--expose-gc`, bundled once with
 * esbuild; a heap after a full collection does not depend on how busy the machine is.
 */
import { describe, expect, it } from "@effect/vitest"
import { build } from "esbuild"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { workerFlag } from "../src/memory.js"

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
/** Inside the bench's own directory, so that the worker finds `effect` where the bench does. */
const workerFile = path.join(benchDir, "build", "memory-test-worker.mjs")
const calls = 20_000

const bundleWorker = () =>
  build({
    stdin: {
      contents: `import { runWorker } from "./src/memory.ts"\nawait runWorker(process.argv)\n`,
      resolveDir: benchDir,
      loader: "ts"
    },
    outfile: workerFile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    keepNames: false,
    external: ["effect", "effect/*", "@effect/*"],
    logLevel: "warning"
  })

const bytesPerCall = (mode: "bare" | "pipeline"): Promise<number> =>
  new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ["--expose-gc", workerFile, workerFlag, mode, String(calls)],
      { maxBuffer: 1 << 20 },
      (error, stdout) => {
        if (error) return reject(error)
        const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { readonly bytesPerCall: number }
        resolve(result.bytesPerCall)
      }
    )
  )

describe("heap per call in flight", () => {
  it("a call through Resilience.make() holds at most 1.25 × the heap of the same fiber without it", async () => {
    await bundleWorker()
    const bare = await bytesPerCall("bare")
    const pipeline = await bytesPerCall("pipeline")
    // The measurement measures something: a fiber blocked on a `Deferred` holds a few KB.
    expect(bare).toBeGreaterThan(1_000)
    expect(pipeline / bare).toBeLessThanOrEqual(1.25)
  })
})
