/**
 * A real HTTP server on loopback (127.0.0.1, a free port), scripted per test.
 *
 * Each request is answered by the next reply of the script (the last one
 * repeats): a status, headers, a body, a delay, or a dropped connection. Every
 * request is recorded with the instant it arrived on the server's `Clock`:
 * built inside an `it.effect` test, that is the test's `TestClock`, so a test
 * can assert the exact virtual instant of every attempt while the bytes travel
 * over a real socket.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Http from "node:http"

/** What the server does with one request. */
export interface Reply {
  /** Default 200. */
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Waits this long on the server's `Clock` (the test's `TestClock`) before answering. */
  readonly delay?: Duration.DurationInput
  /** Destroys the connection instead of answering: the client sees a reset socket. */
  readonly drop?: boolean
  /**
   * Streams this body instead of `body`, chunk by chunk as the stream gives them: the test decides when each
   * chunk is sent and when the body ends (or fails: the connection is then cut mid-body).
   */
  readonly stream?: Stream.Stream<string, unknown>
}

/** One request as the server received it. */
export interface Recorded {
  /** The server's `Clock` time when the request arrived. */
  readonly at: number
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface Service {
  /** The absolute URL of a path on this server, e.g. `http://127.0.0.1:39211/v1/chat`. */
  readonly url: (path?: string) => string
  /** Replaces the script: the n-th request from now gets reply n, and the last reply repeats. */
  readonly script: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** Every request received so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<Recorded>>
  /** The instants of every request received so far. */
  readonly instants: Effect.Effect<ReadonlyArray<number>>
}

export class TestServer extends Context.Tag("@effect-resilience/http/test/TestServer")<TestServer, Service>() {}

const make = Effect.gen(function*() {
  let replies: ReadonlyArray<Reply> = [{}]
  let scriptedAt = 0
  const recorded: Array<Recorded> = []

  const app = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const at = yield* Clock.currentTimeMillis
    const body = yield* Effect.orElseSucceed(request.text, () => "")
    const reply = replies[Math.min(recorded.length - scriptedAt, replies.length - 1)]
    recorded.push({ at, method: request.method, path: request.url, headers: { ...request.headers }, body })
    if (reply.delay !== undefined) yield* Effect.sleep(reply.delay)
    if (reply.drop === true) {
      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
      return yield* Effect.interrupt
    }
    const init = { status: reply.status ?? 200, headers: reply.headers ?? {} }
    if (reply.stream !== undefined) {
      const socket = NodeHttpServerRequest.toIncomingMessage(request).socket
      // A failing stream cuts the connection mid-body, as a server that crashed would.
      const body = Stream.tapErrorCause(reply.stream, () => Effect.sync(() => socket.destroy()))
      return HttpServerResponse.stream(Stream.encodeText(body), init)
    }
    return HttpServerResponse.text(reply.body ?? "", init)
  })

  yield* HttpServer.serveEffect()(app)
  const address = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
  )

  return TestServer.of({
    url: (path = "/") => `${address}${path}`,
    script: (...next) =>
      Effect.sync(() => {
        replies = next.length === 0 ? [{}] : next
        scriptedAt = recorded.length
      }),
    requests: Effect.sync(() => recorded.slice()),
    instants: Effect.sync(() => recorded.map((request) => request.at))
  })
})

/** The scripted server, listening on 127.0.0.1 and a free port for as long as the layer's scope. */
export const layer: Layer.Layer<TestServer> = Layer.scoped(TestServer, make).pipe(
  Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })),
  Layer.orDie
)
