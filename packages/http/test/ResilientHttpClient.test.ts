import { Bulkhead, CircuitBreaker, Classify, type Resilience } from "@effect-resilience/core"
import { VirtualTime } from "@effect-resilience/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as HttpClassify from "../src/HttpClassify.js"
import * as ResilientHttpClient from "../src/ResilientHttpClient.js"
import * as TestServer from "./server.js"
import { awaitRequests } from "./utils.js"

/** Backoff of exactly 10 ms and no attempt timeout: every wait in these tests is known to the millisecond. */
const exact = {
  retry: { maxAttempts: 3, backoff: { base: 10, max: 10, jitter: "none" } },
  attemptTimeout: false
} as const satisfies Resilience.Config

/** `exact`, making at most `maxAttempts` calls. */
const attempts = (maxAttempts: number) => ({ ...exact.retry, maxAttempts })

/** The real server and the real Node client: every request crosses a loopback socket. */
const Env = Layer.merge(TestServer.layer, NodeHttpClient.layer)

const resilient = (options: ResilientHttpClient.Options = { resilience: exact }) =>
  Effect.flatMap(HttpClient.HttpClient, (inner) => ResilientHttpClient.make(inner, options))

/** Status and body text, as an LLM client reads them. */
const read = (client: HttpClient.HttpClient, request: HttpClientRequest.HttpClientRequest) =>
  client.execute(request).pipe(
    Effect.flatMap((response) => Effect.map(response.text, (body) => ({ status: response.status, body })))
  )

describe("ResilientHttpClient", () => {
  it.scoped("waits for a 429's Retry-After before the retry: the second request is sent at exactly 2 s", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script(
        { status: 429, headers: { "retry-after": "2" }, body: "slow down" },
        { status: 200, body: "hello" }
      )
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.post(server.url("/v1/chat"))))
      yield* VirtualTime.adjustWhenSleeping(2_000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "hello" })
      assert.deepStrictEqual(yield* server.instants, [0, 2_000])
    }).pipe(Effect.provide(Env)))

  it.scoped("prefers retry-after-ms over retry-after", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script(
        { status: 429, headers: { "retry-after-ms": "1500", "retry-after": "9" } },
        { status: 200, body: "ok" }
      )
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(1_500)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual(yield* server.instants, [0, 1_500])
    }).pipe(Effect.provide(Env)))

  it.scoped("reads an HTTP-date Retry-After against the TestClock: 3 s ahead waits 3 s", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script(
        { status: 503, headers: { "retry-after": new Date(3_000).toUTCString() } },
        { status: 200, body: "back" }
      )
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(3_000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "back" })
      assert.deepStrictEqual(yield* server.instants, [0, 3_000])
    }).pipe(Effect.provide(Env)))

  it.scoped("does not retry a 503 the server marks x-should-retry: false", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 503, headers: { "x-should-retry": "false" }, body: "maintenance" })
      const client = yield* resilient()
      assert.deepStrictEqual(yield* read(client, HttpClientRequest.get(server.url())), {
        status: 503,
        body: "maintenance"
      })
      assert.deepStrictEqual(yield* server.instants, [0])
    }).pipe(Effect.provide(Env)))

  it.scoped("returns a 401 after one request, as a response with its body", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const body = `{"error":{"type":"authentication_error","message":"invalid x-api-key"}}`
      yield* server.script({ status: 401, headers: { "content-type": "application/json" }, body })
      const client = yield* resilient()
      const response = yield* client.execute(HttpClientRequest.post(server.url("/v1/messages")))
      assert.strictEqual(response.status, 401)
      assert.strictEqual(response.headers["content-type"], "application/json")
      assert.deepStrictEqual(yield* response.json, JSON.parse(body))
      assert.strictEqual((yield* server.requests).length, 1)
    }).pipe(Effect.provide(Env)))

  it.scoped("retries Anthropic's 529 overloaded", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 529, body: `{"type":"overloaded_error"}` }, { status: 200, body: "ok" })
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.post(server.url("/v1/messages"))))
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual(yield* server.instants, [0, 10])
    }).pipe(Effect.provide(Env)))

  it.scoped("retries a dropped connection", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ drop: true }, { status: 200, body: "ok" })
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual(yield* server.instants, [0, 10])
    }).pipe(Effect.provide(Env)))

  it.scoped("keeps a transport error an error when retrying ends", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ drop: true })
      const client = yield* resilient({ resilience: { ...exact, retry: attempts(1) } })
      const error = yield* Effect.flip(client.get(server.url()))
      assert.strictEqual(error._tag, "RequestError")
      assert.strictEqual(error._tag === "RequestError" && error.reason, "Transport")
      assert.isTrue(Option.isNone(ResilientHttpClient.rejection(error)))
    }).pipe(Effect.provide(Env)))

  it.scoped("returns the last 503, body readable, when the attempts are exhausted", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script(
        { status: 503, body: "down 1" },
        { status: 503, body: "down 2" },
        { status: 503, body: "down 3" }
      )
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(10)
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 503, body: "down 3" })
      assert.deepStrictEqual(yield* server.instants, [0, 10, 20])
    }).pipe(Effect.provide(Env)))

  it.scoped("returns a 429 at once when its Retry-After is beyond the ceiling", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 429, headers: { "retry-after": "3600" }, body: "come back in an hour" })
      const client = yield* resilient()
      assert.deepStrictEqual(yield* read(client, HttpClientRequest.get(server.url())), {
        status: 429,
        body: "come back in an hour"
      })
      assert.deepStrictEqual(yield* server.instants, [0])
    }).pipe(Effect.provide(Env)))

  it.scoped("lets a body classifier make a 429 permanent (OpenAI's insufficient_quota)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const body = `{"error":{"code":"insufficient_quota"}}`
      yield* server.script({ status: 429, headers: { "retry-after": "1" }, body })
      const client = yield* resilient({
        resilience: exact,
        classifyResponse: (response) =>
          response.body.includes("insufficient_quota")
            ? Option.some(Classify.permanent("QuotaExhausted"))
            : Option.none()
      })
      assert.deepStrictEqual(yield* read(client, HttpClientRequest.post(server.url())), { status: 429, body })
      assert.deepStrictEqual(yield* server.instants, [0])
    }).pipe(Effect.provide(Env)))

  it.scoped("sends a request with a streaming body once only", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 503, body: "busy" }, { status: 200, body: "ok" })
      const client = yield* resilient()
      const request = HttpClientRequest.post(server.url("/v1/files")).pipe(
        HttpClientRequest.setBody(HttpBody.stream(Stream.make(new TextEncoder().encode("chunk")), "text/plain"))
      )
      assert.deepStrictEqual(yield* read(client, request), { status: 503, body: "busy" })
      const requests = yield* server.requests
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(requests[0].body, "chunk")
    }).pipe(Effect.provide(Env)))

  it.scoped("returns a 2xx as soon as its headers arrive and never sends it again", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 200, body: "data: one\n\ndata: two\n\n" })
      const client = yield* resilient()
      const response = yield* client.get(server.url("/v1/stream"))
      assert.strictEqual(response.status, 200)
      const chunks = yield* Stream.runCollect(Stream.decodeText(response.stream))
      assert.strictEqual(Array.from(chunks).join(""), "data: one\n\ndata: two\n\n")
      assert.strictEqual((yield* server.requests).length, 1)
    }).pipe(Effect.provide(Env)))

  it.scoped("refuses a header with a trailing newline without sending or naming it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const client = yield* resilient()
      const error = yield* Effect.flip(
        client.execute(
          HttpClientRequest.post(server.url()).pipe(HttpClientRequest.bearerToken("sk-secret-key\n"))
        )
      )
      assert.strictEqual(error._tag, "RequestError")
      assert.strictEqual(error._tag === "RequestError" && error.reason, "Encode")
      assert.include(error.message, "authorization")
      assert.notInclude(error.message, "sk-secret-key")
      assert.strictEqual(HttpClassify.error(error)._tag, "Permanent")
      assert.deepStrictEqual(yield* server.instants, [])
    }).pipe(Effect.provide(Env)))

  it.scoped("surfaces an open circuit as a Transport RequestError whose cause is the CircuitOpenError", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ drop: true })
      const client = yield* resilient({
        resilience: {
          ...exact,
          retry: attempts(1),
          circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } }
        }
      })
      const first = yield* Effect.flip(client.get(server.url()))
      assert.isTrue(Option.isNone(ResilientHttpClient.rejection(first)))
      const second = yield* Effect.flip(client.get(server.url()))
      assert.strictEqual(second._tag === "RequestError" && second.reason, "Transport")
      const refused = ResilientHttpClient.rejection(second)
      assert.isTrue(Option.isSome(refused) && CircuitBreaker.isCircuitOpenError(refused.value))
      assert.strictEqual((yield* server.requests).length, 1)
    }).pipe(Effect.provide(Env)))

  it.scoped("keys breakers by host by default, or by the key option", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const breakOnFirstFailure: Resilience.Config = {
        ...exact,
        retry: attempts(1),
        circuitBreaker: { trip: { kind: "consecutive", threshold: 1 } }
      }
      yield* server.script({ drop: true }, { status: 200, body: "ok" })
      const byHost = yield* resilient({ resilience: breakOnFirstFailure })
      yield* Effect.flip(byHost.get(server.url("/a")))
      const refused = yield* Effect.flip(byHost.get(server.url("/b")))
      assert.isTrue(Option.isSome(ResilientHttpClient.rejection(refused)))
      assert.strictEqual((yield* server.requests).length, 1)

      yield* server.script({ drop: true }, { status: 200, body: "ok" })
      const byPath = yield* resilient({
        resilience: breakOnFirstFailure,
        key: (request) => new URL(request.url).pathname
      })
      yield* Effect.flip(byPath.get(server.url("/a")))
      assert.deepStrictEqual(yield* read(byPath, HttpClientRequest.get(server.url("/b"))), { status: 200, body: "ok" })
      assert.strictEqual((yield* server.requests).length, 3)
    }).pipe(Effect.provide(Env)))

  it.scoped("feeds the rate limiter the headers of a successful response: remaining 0 holds the next call", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script(
        {
          status: 200,
          headers: { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "5s" },
          body: "last one"
        },
        { status: 200, body: "next window" }
      )
      const client = yield* resilient({ resilience: { ...exact, rateLimiter: { requestsPerMinute: 600 } } })
      assert.deepStrictEqual(yield* read(client, HttpClientRequest.get(server.url())), {
        status: 200,
        body: "last one"
      })
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(5_000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "next window" })
      assert.deepStrictEqual(yield* server.instants, [0, 5_000])
    }).pipe(Effect.provide(Env)))

  it.scoped("learns the provider's limit from a successful response's headers, with no limit configured", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      // 60 a minute, none left: the next request one second later, the one after another second later.
      const limited = { "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0" }
      yield* server.script(
        { status: 200, headers: limited, body: "a" },
        { status: 200, headers: limited, body: "b" },
        { status: 200, headers: limited, body: "c" }
      )
      const client = yield* resilient()
      assert.strictEqual((yield* read(client, HttpClientRequest.get(server.url()))).body, "a")
      const fiber = yield* Effect.fork(
        Effect.all([
          read(client, HttpClientRequest.get(server.url())),
          read(client, HttpClientRequest.get(server.url()))
        ])
      )
      yield* VirtualTime.adjustWhenSleeping(1_000)
      yield* awaitRequests(server.instants, 2)
      yield* VirtualTime.adjustWhenSleeping(1_000)
      assert.deepStrictEqual((yield* Fiber.join(fiber)).map((reply) => reply.body), ["b", "c"])
      assert.deepStrictEqual(yield* server.instants, [0, 1_000, 2_000])
    }).pipe(Effect.provide(Env)))

  it.scoped("feeds the rate limiter a 429's Retry-After: the next call waits for it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 429, headers: { "retry-after": "2" }, body: "slow down" }, { status: 200 })
      const client = yield* resilient({
        resilience: { ...exact, retry: attempts(1), rateLimiter: { requestsPerMinute: 600 } }
      })
      assert.strictEqual((yield* read(client, HttpClientRequest.get(server.url()))).status, 429)
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(2_000)
      assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
      assert.deepStrictEqual(yield* server.instants, [0, 2_000])
    }).pipe(Effect.provide(Env)))

  it.scoped("retries an attempt that timed out, and surfaces the last timeout as a rejection", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ delay: "1 minute" }, { status: 200, body: "ok" })
      const client = yield* resilient({ resilience: { ...exact, retry: attempts(2), attemptTimeout: "5 seconds" } })
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* awaitRequests(server.instants, 1)
      yield* VirtualTime.adjustWhenSleeping(5_000)
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual(yield* server.instants, [0, 5_010])

      yield* server.script({ delay: "1 minute" })
      const once = yield* resilient({ resilience: { ...exact, retry: attempts(1), attemptTimeout: "5 seconds" } })
      const timedOut = yield* Effect.fork(Effect.flip(once.get(server.url())))
      yield* awaitRequests(server.instants, 3)
      yield* VirtualTime.adjustWhenSleeping(5_000)
      const error = yield* Fiber.join(timedOut)
      assert.strictEqual(error._tag === "RequestError" && error.reason, "Transport")
      const refused = ResilientHttpClient.rejection(error)
      assert.isTrue(Option.isSome(refused) && refused.value._tag === "AttemptTimeoutError")
    }).pipe(Effect.provide(Env)))

  it.scoped("returns the provider's last answer when a policy ends the call after it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 503, body: "first answer" }, { delay: "1 minute" })
      const client = yield* resilient({ resilience: { ...exact, retry: attempts(2), attemptTimeout: "5 seconds" } })
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url())))
      yield* VirtualTime.adjustWhenSleeping(10)
      yield* awaitRequests(server.instants, 2)
      // The attempt timer's one sweeper still sleeps until the first attempt's deadline (5 s), then until the second's.
      yield* VirtualTime.awaitSleep(5_000)
      yield* TestClock.adjust(4_990)
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 503, body: "first answer" })
      assert.deepStrictEqual(yield* server.instants, [0, 10])
    }).pipe(Effect.provide(Env)))

  it.scoped("replaces the HttpClient in context, so clients built on it need no change", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ status: 529 }, { status: 200, body: "ok" })
      // What OpenAiClient / AnthropicClient do: read HttpClient from context.
      const client = yield* HttpClient.HttpClient
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.post(server.url("/v1/messages"))))
      yield* VirtualTime.adjustWhenSleeping(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual(yield* server.instants, [0, 10])
    }).pipe(
      Effect.provide(
        Layer.merge(
          TestServer.layer,
          ResilientHttpClient.layer({ resilience: exact }).pipe(Layer.provide(NodeHttpClient.layer))
        )
      )
    ))

  it.scoped("HttpClient.retryTransient retries at once; ResilientHttpClient waits for the server's Retry-After", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const script = [
        { status: 429, headers: { "retry-after": "2" }, body: "slow down" },
        { status: 200, body: "ok" }
      ] as const

      // @effect/platform's own retry: the retry hits the server at the same instant as the 429.
      yield* server.script(...script)
      const transient = (yield* HttpClient.HttpClient).pipe(HttpClient.retryTransient({ times: 2 }))
      assert.deepStrictEqual(yield* read(transient, HttpClientRequest.get(server.url("/platform"))), {
        status: 200,
        body: "ok"
      })
      const platformInstants = yield* server.instants
      assert.deepStrictEqual(platformInstants, [0, 0])

      // Ours, same script: the retry waits the 2 s the server asked for.
      yield* server.script(...script.map((reply) => ({ ...reply })))
      const before = platformInstants.length
      const client = yield* resilient()
      const fiber = yield* Effect.fork(read(client, HttpClientRequest.get(server.url("/resilient"))))
      yield* awaitRequests(server.instants, before + 1)
      yield* VirtualTime.adjustWhenSleeping(2_000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), { status: 200, body: "ok" })
      assert.deepStrictEqual((yield* server.instants).slice(before), [0, 2_000])
    }).pipe(Effect.provide(Env)))
})

describe("ResilientHttpClient holds a response's bulkhead slot until its body is read", () => {
  /** One slot, no queue, one attempt: a second request while the first holds the slot is refused at once. */
  const oneSlot: ResilientHttpClient.Options = {
    resilience: { ...exact, retry: attempts(1), bulkhead: { maxConcurrent: 1, maxQueue: 0 } }
  }

  const sse = { "content-type": "text/event-stream; charset=utf-8" }

  /** A streamed body: its first event at once, the rest when the test completes `end` (or a cut when it fails). */
  const slowBody = Effect.map(Deferred.make<string, string>(), (end) => ({
    end,
    stream: Stream.concat(Stream.make("data: one\n\n"), Stream.fromEffect(Deferred.await(end)))
  }))

  /** Asserts that a request is refused by the full bulkhead, without reaching the server. */
  const refused = (client: HttpClient.HttpClient, url: string) =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const before = (yield* server.requests).length
      const error = yield* Effect.flip(client.get(url))
      const rejection = ResilientHttpClient.rejection(error)
      assert.isTrue(Option.isSome(rejection) && Bulkhead.isBulkheadRejectedError(rejection.value), String(error))
      assert.strictEqual((yield* server.requests).length, before)
    })

  /** Asserts that a request is admitted: it reaches the server and its body is read. */
  const admitted = (client: HttpClient.HttpClient, url: string) =>
    Effect.gen(function*() {
      const response = yield* client.get(url)
      assert.strictEqual(response.status, 200)
      return yield* response.text
    })

  it.scoped("a streamed (SSE) body holds the slot until it ends", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const body = yield* slowBody
      yield* server.script({ stream: body.stream, headers: sse }, { body: "ok" })
      const client = yield* resilient(oneSlot)
      const response = yield* client.get(server.url("/v1/stream"))
      const reading = yield* Effect.fork(Stream.runCollect(Stream.decodeText(response.stream)))
      // The headers have arrived and the body is streaming: the stream is a request in flight.
      yield* refused(client, server.url("/second"))
      yield* Deferred.succeed(body.end, "data: two\n\n")
      assert.strictEqual(Array.from(yield* Fiber.join(reading)).join(""), "data: one\n\ndata: two\n\n")
      assert.strictEqual(yield* admitted(client, server.url("/third")), "ok")
    }).pipe(Effect.provide(Env)))

  it.scoped("a plain response frees the slot when it arrives, read or not", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ body: "{\"id\":1}", headers: { "content-type": "application/json" } })
      const client = yield* resilient(oneSlot)
      // Never read: a response the caller drops cannot block the bulkhead.
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* client.get(server.url("/v1/models"))).status, 200)
      assert.strictEqual(yield* admitted(client, server.url("/v1/models")), "{\"id\":1}")
      assert.strictEqual((yield* server.requests).length, 4)
    }).pipe(Effect.provide(Env)))

  it.scoped("holdsSlot: a held response frees the slot when its body is read or its scope closes; a 204 at once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      yield* server.script({ body: "{\"id\":1}", headers: { "content-type": "application/json" } })
      const client = yield* resilient({ ...oneSlot, holdsSlot: () => true })
      const response = yield* client.get(server.url("/v1/models"))
      yield* refused(client, server.url("/second"))
      assert.deepStrictEqual(yield* response.json, { id: 1 })
      // Read: freed. Requested in a scope and never read: freed when the scope closes.
      const status = yield* Effect.scoped(Effect.map(client.get(server.url("/v1/models")), (r) => r.status))
      assert.strictEqual(status, 200)
      assert.strictEqual(yield* admitted(client, server.url("/v1/models")), "{\"id\":1}")
      yield* server.script({ status: 204 })
      assert.strictEqual((yield* client.get(server.url("/v1/empty"))).status, 204)
      assert.strictEqual((yield* client.get(server.url("/v1/empty"))).status, 204)
      assert.strictEqual((yield* server.requests).length, 5)
    }).pipe(Effect.provide(Env)))

  it.scoped("a body that fails mid-stream frees the slot", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const body = yield* slowBody
      yield* server.script({ stream: body.stream, headers: sse }, { body: "ok" })
      const client = yield* resilient(oneSlot)
      const response = yield* client.get(server.url("/v1/stream"))
      const reading = yield* Effect.fork(Stream.runCollect(response.stream))
      yield* refused(client, server.url("/second"))
      yield* Deferred.fail(body.end, "the server gave up")
      const exit = yield* Fiber.await(reading)
      assert.isTrue(Exit.isFailure(exit), "the body read fails")
      assert.strictEqual(yield* admitted(client, server.url("/third")), "ok")
    }).pipe(Effect.provide(Env)))

  it.scoped("interrupting the read, or closing the scope of an unread stream, frees the slot", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const first = yield* slowBody
      const second = yield* slowBody
      yield* server.script({ stream: first.stream, headers: sse }, { stream: second.stream, headers: sse }, {
        body: "ok"
      })
      const client = yield* resilient(oneSlot)
      const response = yield* client.get(server.url("/v1/stream"))
      const started = yield* Deferred.make<void>()
      const reading = yield* Effect.fork(
        Stream.runCollect(Stream.tap(response.stream, () => Deferred.succeed(started, void 0)))
      )
      // Interrupted mid-body, once the first event has been read.
      yield* Deferred.await(started)
      yield* refused(client, server.url("/refused"))
      yield* Fiber.interrupt(reading)
      // The caller's scope ends before it reads the stream.
      const scope = yield* Scope.make()
      const unread = yield* Scope.extend(client.get(server.url("/v1/stream")), scope)
      assert.strictEqual(unread.status, 200)
      yield* refused(client, server.url("/refused"))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* admitted(client, server.url("/third")), "ok")
    }).pipe(Effect.provide(Env)))
})
