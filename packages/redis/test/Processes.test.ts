import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, fork } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { available, notice, type RedisServer, startServer } from "./redisServer.js"

notice()

const workerSource = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "worker.ts")

/**
 * Bundles the worker (with the library and its dependencies) into one plain `.mjs` file, so that each worker
 * starts with plain `node` in a fraction of a second; four workers compiling TypeScript through a loader took
 * ~18 s to start on a loaded 2-core machine. esbuild is the one tsx brings.
 */
const bundleWorker = async (dir: string): Promise<string> => {
  const require = createRequire(import.meta.url)
  // Only the one call used here: esbuild is not a dependency of this package, so its types are not at hand.
  const esbuild: { readonly build: (options: object) => Promise<unknown> } = createRequire(require.resolve("tsx"))(
    "esbuild"
  )
  const outfile = path.join(dir, "worker.mjs")
  await esbuild.build({
    entryPoints: [workerSource],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    // ioredis and its dependencies are CommonJS and `require` Node's modules; an ES module has no `require`.
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    }
  })
  return outfile
}

/** A worker process and a way to ask it something. */
interface Worker {
  readonly child: ChildProcess
  readonly ask: (cmd: "fail" | "call" | "events") => Promise<any>
}

const spawnWorker = (workerFile: string, url: string, prefix: string): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const child = fork(workerFile, [], {
      execArgv: [],
      env: { ...process.env, REDIS_URL: url, PREFIX: prefix },
      stdio: ["ignore", "ignore", "inherit", "ipc"]
    })
    let next = 0
    const pending = new Map<number, (result: unknown) => void>()
    child.on("message", (message: { readonly ready?: boolean; readonly id?: number; readonly result?: unknown }) => {
      if (message.ready === true) {
        resolve({
          child,
          ask: (cmd) =>
            new Promise((answer) => {
              const id = next++
              pending.set(id, answer)
              child.send({ id, cmd })
            })
        })
      } else if (message.id !== undefined) {
        pending.get(message.id)?.(message.result)
        pending.delete(message.id)
      }
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}`)))
  })

const waitUntil = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  const deadline = Date.now() + 5_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    // No sleep: each check is an IPC round trip to every worker; between checks, let I/O run.
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe.skipIf(!available)("RedisStateStore across OS processes", () => {
  let server: RedisServer
  let workers: Array<Worker> = []
  let dir: string | undefined
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "resilience-redis-worker-"))
    const [workerFile, started] = await Promise.all([bundleWorker(dir), startServer()])
    server = started
    workers = await Promise.all([0, 1, 2, 3].map(() => spawnWorker(workerFile, server.url, "processes:")))
  })
  afterAll(async () => {
    for (const worker of workers) worker.child.disconnect()
    await server?.stop()
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
  })

  it("shares one breaker between four processes, fails open while Redis is down, and resumes on it", async () => {
    // The third failure, in process 0, opens the breaker: every process refuses its very next call.
    expect(await workers[0].ask("fail")).toBe("failed")
    expect(await workers[1].ask("fail")).toBe("failed")
    expect(await workers[2].ask("fail")).toBe("failed")
    expect(await Promise.all(workers.map((w) => w.ask("call")))).toEqual([
      "rejected",
      "rejected",
      "rejected",
      "rejected"
    ])

    // Redis dies: every call still completes, from local (closed) state; each process reports it once.
    await server.stop()
    for (let i = 0; i < 5; i++) {
      expect(await Promise.all(workers.map((w) => w.ask("call")))).toEqual(["ok", "ok", "ok", "ok"])
    }
    expect(await Promise.all(workers.map((w) => w.ask("events")))).toEqual(
      workers.map(() => ["StoreDegraded"])
    )

    // Redis is back, empty (no persistence): each process reports it once and uses it again.
    await server.start()
    await waitUntil(
      async () =>
        (await Promise.all(workers.map((w) => w.ask("events")))).every((tags: Array<string>) =>
          tags.includes("StoreRecovered")
        ),
      "every process sees Redis back"
    )
    expect(await Promise.all(workers.map((w) => w.ask("events")))).toEqual(
      workers.map(() => ["StoreDegraded", "StoreRecovered"])
    )
    for (let i = 0; i < 3; i++) expect(await workers[3].ask("fail")).toBe("failed")
    expect(await Promise.all(workers.map((w) => w.ask("call")))).toEqual([
      "rejected",
      "rejected",
      "rejected",
      "rejected"
    ])
  })
})
