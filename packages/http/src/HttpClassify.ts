/**
 * HttpClassify: which failures of `@effect/platform`'s `HttpClient` are worth
 * another request, and when.
 *
 * A status code, the response's headers and the failure's kind decide:
 *
 * | status                 | verdict                                   |
 * | ---------------------- | ----------------------------------------- |
 * | 408                    | Transient `Timeout`                       |
 * | 409, 425               | Transient `ServerError`                   |
 * | 429                    | Transient `RateLimited`                   |
 * | 500, 502, 504          | Transient `ServerError`                   |
 * | 503                    | Transient `Unavailable`                   |
 * | 529                    | Transient `Overloaded`                    |
 * | other 5xx              | Transient `ServerError`                   |
 * | 400, 413, 422          | Permanent `InvalidRequest`                |
 * | 401                    | Permanent `Authentication`                |
 * | 403                    | Permanent `PermissionDenied`              |
 * | 404                    | Permanent `NotFound`                      |
 * | other 4xx              | Permanent `InvalidRequest`                |
 * | anything else          | Permanent `Unknown` (not a failure status) |
 *
 * Every transient verdict carries the response's Retry-After
 * (`retry-after-ms`, then `x-ms-retry-after-ms`, then `retry-after`). A
 * server's `x-should-retry` header (OpenAI and Anthropic send it) wins over
 * the table: `true` makes any status transient, `false` any status permanent.
 *
 * 409 (a conflict, e.g. a lock held by a concurrent request) and 425 (Too
 * Early) are retried because trying again later is their documented remedy,
 * as the OpenAI and Anthropic SDKs do for 409.
 *
 * Provider-specific knowledge that needs the body (OpenAI's
 * `insufficient_quota` is a 429 that will not pass) plugs in as a
 * `ResponseClassifier`, consulted before the table.
 *
 * @since 0.1.0
 */
import type { ProviderError } from "@effect-resilience/core"
import { Classify } from "@effect-resilience/core"
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as RateLimitHeaders from "./RateLimitHeaders.js"

/**
 * What a `ResponseClassifier` sees of a failed response: its status, headers
 * and whole body as text.
 *
 * @example
 * ```ts
 * import type { HttpClassify } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 *
 * const response: HttpClassify.Response = { status: 429, headers: Headers.empty, body: "{}" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Response {
  readonly status: number
  readonly headers: Headers.Headers
  readonly body: string
}

/**
 * Classifies a failed response by what only its body tells (a provider's
 * error code), or gives `None` to leave it to the status table.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 * import type { HttpClassify } from "@effect-resilience/http"
 * import { Option } from "effect"
 *
 * // OpenAI answers an exhausted quota with a 429 that no retry will fix
 * const openAiQuota: HttpClassify.ResponseClassifier = (response) =>
 *   response.status === 429 && response.body.includes("insufficient_quota")
 *     ? Option.some(Classify.permanent("QuotaExhausted"))
 *     : Option.none()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseClassifier = (response: Response) => Option.Option<Classify.Verdict>

const transientReasons: ReadonlyMap<number, ProviderError.TransientReason> = new Map([
  [408, "Timeout"],
  [409, "ServerError"],
  [425, "ServerError"],
  [429, "RateLimited"],
  [500, "ServerError"],
  [502, "ServerError"],
  [503, "Unavailable"],
  [504, "ServerError"],
  [529, "Overloaded"]
])

const permanentVerdicts: ReadonlyMap<number, Classify.Permanent> = new Map([
  [400, Classify.permanent("InvalidRequest")],
  [401, Classify.permanent("Authentication")],
  [403, Classify.permanent("PermissionDenied")],
  [404, Classify.permanent("NotFound")],
  [413, Classify.permanent("InvalidRequest")],
  [422, Classify.permanent("InvalidRequest")]
])

const invalidRequest = Classify.permanent("InvalidRequest")
const unknown = Classify.permanent("Unknown")
const quotaExhausted = Classify.permanent("QuotaExhausted")

const transientWith = (
  reason: ProviderError.TransientReason,
  retryAfter: Option.Option<Duration.Duration>
): Classify.Transient => ({ _tag: "Transient", reason, retryAfter })

const byTable = (status: number, info: RateLimitHeaders.Info): Classify.Verdict => {
  const reason = transientReasons.get(status)
  if (reason !== undefined) return transientWith(reason, info.retryAfter)
  const permanent = permanentVerdicts.get(status)
  if (permanent !== undefined) return permanent
  if (status >= 500 && status <= 599) return transientWith("ServerError", info.retryAfter)
  if (status >= 400 && status <= 499) return invalidRequest
  return unknown
}

/**
 * Classifies a response status with what its headers said: the status
 * table, with `x-should-retry` overriding it and the Retry-After attached to
 * transient verdicts.
 *
 * `x-should-retry: true` keeps a transient status' reason and makes any other
 * status a transient `ServerError`; `x-should-retry: false` keeps a permanent
 * status' reason and makes any other status permanent: `QuotaExhausted` for a
 * 429 (a limit that waiting will not lift), `Unknown` otherwise.
 *
 * @example
 * ```ts
 * import { HttpClassify, RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 *
 * const headers = Headers.fromInput({ "retry-after": "2" })
 * HttpClassify.status(429, RateLimitHeaders.parse(headers, Date.now())) // Transient RateLimited, Retry-After 2 s
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const status = (status: number, info: RateLimitHeaders.Info): Classify.Verdict =>
  withShouldRetry(byTable(status, info), status, info)

/**
 * Lets `x-should-retry` override a verdict reached otherwise (from the status
 * table, or from a provider's error body): `true` keeps a transient verdict
 * and makes a permanent one transient (`RateLimited` for a 429, else
 * `ServerError`, with the Retry-After); `false` keeps a permanent verdict and
 * makes a transient one permanent (`QuotaExhausted` for a 429, else
 * `Unknown`). Without the header the verdict stands.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 * import { HttpClassify, RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 *
 * const info = RateLimitHeaders.parse(Headers.fromInput({ "x-should-retry": "true" }), Date.now())
 * HttpClassify.withShouldRetry(Classify.permanent("InvalidRequest"), 400, info) // Transient ServerError
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const withShouldRetry = (
  verdict: Classify.Verdict,
  status: number,
  info: RateLimitHeaders.Info
): Classify.Verdict => {
  if (Option.isNone(info.shouldRetry)) return verdict
  if (info.shouldRetry.value) {
    return verdict._tag === "Transient"
      ? verdict
      : transientWith(status === 429 ? "RateLimited" : "ServerError", info.retryAfter)
  }
  if (verdict._tag === "Permanent") return verdict
  return status === 429 ? quotaExhausted : unknown
}

/**
 * Classifies a failed response: the `ResponseClassifier`'s verdict when it
 * has one, else `HttpClassify.status`.
 *
 * @example
 * ```ts
 * import { Classify } from "@effect-resilience/core"
 * import { HttpClassify, RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 * import { Option } from "effect"
 *
 * const quota: HttpClassify.ResponseClassifier = (response) =>
 *   response.body.includes("insufficient_quota") ? Option.some(Classify.permanent("QuotaExhausted")) : Option.none()
 *
 * const response = { status: 429, headers: Headers.empty, body: `{"error":{"code":"insufficient_quota"}}` }
 * HttpClassify.response(response, RateLimitHeaders.parse(response.headers, Date.now()), quota) // Permanent
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const response = (
  response: Response,
  info: RateLimitHeaders.Info,
  classifyResponse?: ResponseClassifier | undefined
): Classify.Verdict => {
  if (classifyResponse !== undefined) {
    const verdict = classifyResponse(response)
    if (Option.isSome(verdict)) return verdict.value
  }
  return status(response.status, info)
}

/** Node's and undici's codes for a request that cannot be sent as it is (a header with a newline, a bad URL). */
const malformedRequestCodes: ReadonlySet<string> = new Set([
  "ERR_INVALID_CHAR",
  "ERR_INVALID_HTTP_TOKEN",
  "ERR_HTTP_INVALID_HEADER_VALUE",
  "ERR_INVALID_URL",
  "ERR_UNESCAPED_CHARACTERS",
  "UND_ERR_INVALID_ARG"
])

/**
 * Tells whether the cause of a `Transport` failure says the request itself is
 * malformed (Node's `ERR_INVALID_CHAR` for a header value with a newline,
 * undici's `InvalidArgumentError`, fetch's "invalid header value"), so that no
 * retry can fix it.
 *
 * @example
 * ```ts
 * import { HttpClassify } from "@effect-resilience/http"
 *
 * const cause = Object.assign(new TypeError("Invalid character in header content"), { code: "ERR_INVALID_CHAR" })
 * HttpClassify.isMalformedRequest(cause) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isMalformedRequest = (cause: unknown): boolean => {
  if (Predicate.hasProperty(cause, "code") && typeof cause.code === "string") {
    return malformedRequestCodes.has(cause.code)
  }
  return cause instanceof TypeError && /invalid header (name|value)/i.test(cause.message)
}

const brokenConnectionCodes: ReadonlySet<string> = new Set([
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT"
])

/**
 * Tells whether a failure, or one of the causes it wraps, is a connection
 * that broke (undici's `UND_ERR_SOCKET`, `ECONNRESET`, `EPIPE`, ...): when a
 * body is cut while it is read, the platform reports a `ResponseError`
 * `Decode` whose cause chain holds such an error.
 *
 * @example
 * ```ts
 * import { HttpClassify } from "@effect-resilience/http"
 *
 * const socket = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" })
 * HttpClassify.isBrokenConnection(new TypeError("terminated", { cause: socket })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isBrokenConnection = (cause: unknown): boolean => {
  let current = cause
  // A bounded walk: a cause chain that loops or runs deep is not a broken connection.
  for (let depth = 0; depth < 8 && Predicate.isObject(current); depth++) {
    if (Predicate.hasProperty(current, "code") && typeof current.code === "string") {
      if (brokenConnectionCodes.has(current.code)) return true
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return false
}

const network = Classify.transient("Network")
const timeout = Classify.transient("Timeout")

/**
 * Classifies the errors of an `HttpClient`.
 *
 * - `RequestError` `Transport` (refused, reset or dropped connection, DNS):
 *   Transient `Network`, unless its cause says the request is malformed
 *   (Permanent `InvalidRequest`) or is a resilience policy's rejection (the
 *   rejection's own verdict, see `ResilientHttpClient.rejection`);
 * - `RequestError` `Encode` or `InvalidUrl`: Permanent `InvalidRequest` — the
 *   same request would fail the same way;
 * - `ResponseError` `StatusCode`: `HttpClassify.status` with the response's
 *   headers;
 * - `ResponseError` `Decode` whose cause is a broken connection (the body was
 *   cut while it was read, see `isBrokenConnection`): Transient `Network`;
 * - any other `ResponseError` `Decode`, or `EmptyBody`: Permanent `Unknown` —
 *   the server answered, but not what the program expected; another request
 *   would most likely get the same answer, and retrying would hide the
 *   mismatch.
 *
 * A classifier is synchronous, so an HTTP-date Retry-After is read against the
 * system clock here; `ResilientHttpClient` reads it against effect's `Clock`.
 *
 * @example
 * ```ts
 * import { HttpClassify } from "@effect-resilience/http"
 * import { Retry } from "@effect-resilience/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return yield* client.get("https://api.openai.com/v1/models").pipe(
 *     Effect.flatMap((response) => response.json),
 *     Retry.retry(Retry.policy({ classify: HttpClassify.error }))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const error: Classify.Classifier<HttpClientError.HttpClientError> = (error) => {
  if (error._tag === "RequestError") {
    if (error.reason !== "Transport") return invalidRequest
    if (Classify.isClassifiable(error.cause)) return error.cause[Classify.symbol]()
    return isMalformedRequest(error.cause) ? invalidRequest : network
  }
  if (error.reason !== "StatusCode") return isBrokenConnection(error.cause) ? network : unknown
  return status(error.response.status, RateLimitHeaders.parse(error.response.headers, Date.now()))
}

/**
 * Classifies the errors of an `HttpClient` call with a timeout
 * (`Effect.timeout`'s `TimeoutException` is Transient `Timeout`).
 *
 * @example
 * ```ts
 * import { HttpClassify } from "@effect-resilience/http"
 * import { Retry } from "@effect-resilience/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   return yield* client.get("https://api.anthropic.com/v1/models").pipe(
 *     Effect.timeout("10 seconds"),
 *     Retry.retry(Retry.policy({ classify: HttpClassify.errorOrTimeout }))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const errorOrTimeout: Classify.Classifier<HttpClientError.HttpClientError | Cause.TimeoutException> = (
  failure
) => Cause.isTimeoutException(failure) ? timeout : error(failure)
