/**
 * ResilientHttpClient: an `HttpClient` whose every request passes through a
 * `Resilience` pipeline (rate limiter, deadline, retry, circuit breaker,
 * bulkhead, attempt timeout), keyed by host.
 *
 * `@effect/ai-openai`, `@effect/ai-anthropic` and any client built on
 * `HttpClient` get resilience from one `Layer.provide`, without code changes.
 * What it does with each request:
 *
 * - a response with a 4xx or 5xx status is classified by `HttpClassify`
 *   (status table, `x-should-retry`, Retry-After; a `ResponseClassifier` for
 *   what only the body tells). Its body is read whole first, so the
 *   connection is released. A transient status is retried, after at least the
 *   server's Retry-After;
 * - when retrying ends (a permanent status, attempts exhausted, a Retry-After
 *   beyond the ceiling, a breaker that opened, a deadline), the caller receives
 *   the last failure *response*, not an error, with its body readable: the
 *   LLM clients read the provider's error body themselves;
 * - transport failures are retried as `Network` and, when retrying ends, stay
 *   the inner client's errors;
 * - a call that a policy refused before any response came back (an open
 *   circuit, a full bulkhead, a local rate limit, an attempt timeout, a
 *   deadline) fails with an `HttpClientError.RequestError` of reason
 *   `"Transport"` whose `cause` is the policy's tagged error: the client keeps
 *   `HttpClient`'s error type, so every client on top keeps working, and
 *   `ResilientHttpClient.rejection` gives the policy's error back;
 * - a request that cannot be sent (a header value with a newline, e.g. an API
 *   key pasted with one) fails at once with a `RequestError` of reason
 *   `"Encode"` that never names the value — Node's client would throw;
 * - decisions are made on the status and headers only: a 2xx response is
 *   returned as soon as its headers arrive, its body (a stream of tokens)
 *   untouched and never read twice; a streamed body keeps its bulkhead slot
 *   until it has been read (see Gotchas);
 * - a request whose body is a stream is sent once only: it cannot be replayed;
 * - the rate-limit headers of every response, success or failure
 *   (`x-ratelimit-*`, `anthropic-ratelimit-*`, `retry-after`,
 *   `retry-after-ms`), feed the pipeline's admission for the request's key:
 *   it learns the provider's limits from them (on by default; not with
 *   `rateLimiter: false`).
 *
 * 1xx and 3xx responses (and statuses above 599) are returned untouched:
 * redirects are the inner client's business.
 *
 * Do not add `HttpClient.retryTransient` on top: it would retry, at once,
 * what the pipeline already decided not to.
 *
 * **Gotchas**
 *
 * - A streamed response (SSE `text/event-stream`, NDJSON, ...: the
 *   `holdsSlot` option) holds its bulkhead slot until its body has been read
 *   (`stream`: until the stream ends, completes, fails or is interrupted;
 *   `text`, `json`, ...: until the read ends), or until the scope the
 *   request was made in closes (`Effect.scoped`, `Stream.unwrapScoped`,
 *   `HttpClient.withScope`), whichever comes first: an open stream is a
 *   request in flight for the provider, so with `maxConcurrent: 1` a second
 *   request waits (or is refused) until the first stream ends. Any other
 *   successful response, and every failure response (read whole, above),
 *   frees its slot when it arrives: a response the caller never reads cannot
 *   block the bulkhead.
 * - A streamed response you never read, requested outside any scope, keeps
 *   its slot until it is garbage-collected (the inner client aborts it then):
 *   read or drop its stream, or make the request in a scope.
 * - The attempt timeout ends when the headers arrive: it does not bound the
 *   time a body takes to stream (an idle timeout over the body is the
 *   caller's, e.g. `Stream.timeoutFail`).
 *
 * @since 0.1.0
 */
import type { PolicyError, Resilience } from "@effect-resilience/core"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as HttpClassify from "./HttpClassify.js"
import * as internal from "./internal/resilientHttpClient.js"

/**
 * How requests are classified and keyed, for a client around a pipeline you
 * already have.
 *
 * @example
 * ```ts
 * import type { ResilientHttpClient } from "@effect-resilience/http"
 *
 * const options: ResilientHttpClient.WrapOptions = {
 *   key: (request) => `openai ${new URL(request.url).pathname}`
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WrapOptions {
  /**
   * Classifies failure responses by their body before the status table does,
   * e.g. OpenAI's `insufficient_quota` 429 as permanent. None by default.
   */
  readonly classifyResponse?: HttpClassify.ResponseClassifier | undefined
  /**
   * What a request is protected as: breakers, bulkheads, budgets and limiters
   * are kept per key. Default: the URL's host (`api.openai.com`).
   */
  readonly key?: ((request: HttpClientRequest.HttpClientRequest) => string) | undefined
  /**
   * Which successful responses keep their bulkhead slot until their body has
   * been read (or the scope the request was made in closes). Default: a
   * streamed body, by its `content-type` (`text/event-stream`,
   * `application/x-ndjson`, `application/jsonl`, `application/json-seq`,
   * `application/stream+json`, `application/vnd.amazon.eventstream`); any
   * other response frees its slot when its headers arrive. A response
   * without a body (to `HEAD`, `204`, `205`, `304`, `content-length: 0`)
   * never holds it.
   */
  readonly holdsSlot?: ((response: HttpClientResponse.HttpClientResponse) => boolean) | undefined
}

/**
 * The options of a resilient client: the pipeline's configuration, and how
 * requests are classified and keyed.
 *
 * @example
 * ```ts
 * import type { ResilientHttpClient } from "@effect-resilience/http"
 *
 * const options: ResilientHttpClient.Options = {
 *   resilience: {
 *     retry: { maxAttempts: 4, backoff: { base: "500 millis", max: "20 seconds", jitter: "full" } },
 *     circuitBreaker: { trip: { kind: "consecutive", threshold: 5 } },
 *     attemptTimeout: "90 seconds"
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends WrapOptions {
  /** The pipeline's configuration (`Resilience.Config`); every policy has a default. */
  readonly resilience?: Resilience.Config | undefined
}

/**
 * Wraps a client with a pipeline you already have, e.g. one shared with the
 * rest of the program.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { ResilientHttpClient } from "@effect-resilience/http"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const resilience = yield* Resilience.make({ retry: { maxAttempts: 4 } })
 *   const client = yield* HttpClient.HttpClient
 *   // data-last
 *   const a = client.pipe(ResilientHttpClient.wrap(resilience))
 *   // data-first
 *   const b = ResilientHttpClient.wrap(client, resilience, { key: () => "openai" })
 *   return [a, b]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const wrap: {
  (resilience: Resilience.Service, options?: WrapOptions): (self: HttpClient.HttpClient) => HttpClient.HttpClient
  (self: HttpClient.HttpClient, resilience: Resilience.Service, options?: WrapOptions): HttpClient.HttpClient
} = dual(
  (args) => internal.isHttpClient(args[0]),
  (self: HttpClient.HttpClient, resilience: Resilience.Service, options?: WrapOptions): HttpClient.HttpClient =>
    internal.wrap(self, resilience, options)
)

/**
 * Builds a pipeline from `options.resilience` and wraps a client with it; the
 * pipeline's timers live as long as the scope.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/http"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const resilient = yield* ResilientHttpClient.make(client, { resilience: { retry: { maxAttempts: 5 } } })
 *   const response = yield* resilient.get("https://api.anthropic.com/v1/models")
 *   return response.status
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  client: HttpClient.HttpClient,
  options?: Options
) => Effect.Effect<HttpClient.HttpClient, PolicyError.InvalidPolicyError, Scope.Scope> = internal.make

/**
 * A layer that replaces the `HttpClient` in context with a resilient one, so
 * that every client built on top of it (`OpenAiClient.layer`,
 * `AnthropicClient.layer`) gets resilience.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/http"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 *
 * const HttpClientLive = ResilientHttpClient.layer({
 *   resilience: { retry: { maxAttempts: 4 }, attemptTimeout: "90 seconds" }
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * // then: OpenAiClient.layer({ apiKey }).pipe(Layer.provide(HttpClientLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<HttpClient.HttpClient, PolicyError.InvalidPolicyError, HttpClient.HttpClient> =>
  Layer.scoped(HttpClient.HttpClient, Effect.flatMap(HttpClient.HttpClient, (client) => internal.make(client, options)))

/**
 * The policy's error behind a request a resilient client refused (an open
 * circuit, a full bulkhead, a local rate limit, an attempt timeout, a
 * deadline), if that is what this error is.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/http"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return yield* client.get("https://api.openai.com/v1/models")
 * }).pipe(
 *   Effect.catchAll((error) =>
 *     Option.match(ResilientHttpClient.rejection(error), {
 *       onNone: () => Effect.fail(error),
 *       onSome: (refused) => Effect.logWarning(`refused: ${refused.message}`)
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const rejection: (error: HttpClientError.HttpClientError) => Option.Option<Resilience.PolicyRejection> =
  internal.rejection

/**
 * Tells whether an error is a policy's refusal (`Resilience.PolicyRejection`).
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/http"
 *
 * ResilientHttpClient.isPolicyRejection(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPolicyRejection: (u: unknown) => u is Resilience.PolicyRejection = internal.isPolicyRejection
