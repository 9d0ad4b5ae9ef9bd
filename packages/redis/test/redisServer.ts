/**
 * A real `redis-server` for the tests: started on a free loopback port with no
 * persistence, stopped after. Without the binary the tests are skipped with
 * one line saying how to install it, except under CI, where that fails.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

/** The `redis-server` binary, or `undefined` when it is not installed. */
export const binary: string | undefined = (() => {
  const fromPath = (process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, "redis-server"))
  const found = [...fromPath, "/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((file) =>
    fs.existsSync(file)
  )
  if (found !== undefined) return found
  if (process.env.CI !== undefined) {
    throw new Error("redis-server is required under CI (apt-get install -y redis-server), but it was not found")
  }
  return undefined
})()

/** `redis-cli`, installed with the server (Debian's redis-server depends on redis-tools). */
const cli = binary === undefined ? "redis-cli" : path.join(path.dirname(binary), "redis-cli")

/** The one line printed when the tests are skipped. */
export const skipNotice =
  "redis-server not found: skipping @effect-resilience/redis tests (install it with `apt-get install redis-server`)"

/** A free TCP port on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Sends one inline command and resolves with the first line of the answer, or rejects. */
const command = (port: number, line: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let data = ""
    socket.setTimeout(500, () => socket.destroy(new Error("timeout")))
    socket.once("error", reject)
    socket.on("data", (chunk) => {
      data += chunk.toString()
      if (data.includes("\r\n")) {
        socket.end()
        resolve(data.split("\r\n")[0])
      }
    })
    socket.write(`${line}\r\n`)
  })

/** A running server; `stop` kills it, `start` starts it again on the same port. */
export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
  /**
   * Freezes the server (SIGSTOP): connections stay open, commands wait unanswered in their sockets until
   * `thaw` (SIGCONT), then run in order. A Redis that hangs, with no timer in the test.
   */
  readonly freeze: () => void
  readonly thaw: () => void
  /** Sends one inline command (e.g. `SET k v`) and gives the first line of the answer. */
  readonly command: (line: string) => Promise<string>
  /**
   * Runs one command with `redis-cli` and gives its whole answer, blocking the event loop meanwhile: for a
   * test that stalls the loop on purpose and must know what the server has done during the stall.
   */
  readonly commandSync: (...args: ReadonlyArray<string>) => string
}

/** Starts a server on a free port and waits until it answers PING. */
export const startServer = async (): Promise<RedisServer> => {
  if (binary === undefined) throw new Error(skipNotice)
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    const started = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "notice"],
      { stdio: ["ignore", "pipe", "ignore"] }
    )
    child = started
    // The server says when it listens: no polling, no sleep.
    await new Promise<void>((resolve, reject) => {
      let log = ""
      const onData = (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes("Ready to accept connections")) {
          started.stdout!.off("data", onData)
          started.stdout!.resume()
          started.off("exit", onExit)
          resolve()
        }
      }
      const onExit = (code: number | null) =>
        reject(new Error(`redis-server exited with ${code} before it was ready:\n${log.slice(-2000)}`))
      started.stdout!.on("data", onData)
      started.once("exit", onExit)
    })
    if ((await command(port, "PING")) !== "+PONG") throw new Error("redis-server does not answer PING")
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGKILL")
    await exited
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    freeze: () => child?.kill("SIGSTOP"),
    thaw: () => child?.kill("SIGCONT"),
    command: (line) => command(port, line),
    commandSync: (...args) => {
      const result = spawnSync(cli, ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8" })
      if (result.status !== 0) throw new Error(`redis-cli ${args.join(" ")} failed: ${result.stderr}`)
      return result.stdout
    }
  }
}

/** Whether `spawnSync` can run the binary (a broken install counts as absent). */
export const available: boolean = binary !== undefined && spawnSync(binary, ["--version"]).status === 0

let noticed = false
/** Prints the skip notice once per test file. */
export const notice = (): void => {
  if (!available && !noticed) {
    noticed = true
    console.log(skipNotice)
  }
}
