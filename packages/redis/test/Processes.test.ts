import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, fork } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { available, notice, type RedisServer, startServer } from "./redisServer.js"

notice()

const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "worker.ts")

/** A worker process and a way to ask it something. */
interface Worker {
  readonly child: ChildProcess
  readonly ask: (cmd: "fail" | "call" | "events") => Promise<any>
}

const spawnWorker = (url: string, prefix: string): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const child = fork(workerFile, [], {
      execArgv: ["--import", "tsx"],
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
  beforeAll(async () => {
    server = await startServer()
    workers = await Promise.all([0, 1, 2, 3].map(() => spawnWorker(server.url, "processes:")))
  }, 20_000)
  afterAll(async () => {
    for (const worker of workers) worker.child.disconnect()
    await server?.stop()
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
