import { Classify } from "@effect-resilience/core"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as HttpClassify from "../src/HttpClassify.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"

const request = HttpClientRequest.get("http://127.0.0.1/v1/chat/completions")

const info = (headers: Record<string, string> = {}) => RateLimitHeaders.parse(Headers.fromInput(headers), 0)

const responseError = (status: number, headers: Record<string, string> = {}) =>
  new HttpClientError.ResponseError({
    request,
    response: HttpClientResponse.fromWeb(request, new Response("{}", { status, headers })),
    reason: "StatusCode"
  })

const summary = (verdict: Classify.Verdict) => `${verdict._tag} ${verdict.reason}`

describe("HttpClassify.status", () => {
  it("classifies the transient statuses with their reasons", () => {
    const table: ReadonlyArray<readonly [number, string]> = [
      [408, "Transient Timeout"],
      [409, "Transient ServerError"],
      [425, "Transient ServerError"],
      [429, "Transient RateLimited"],
      [500, "Transient ServerError"],
      [502, "Transient ServerError"],
      [503, "Transient Unavailable"],
      [504, "Transient ServerError"],
      [529, "Transient Overloaded"]
    ]
    for (const [status, expected] of table) assert.strictEqual(summary(HttpClassify.status(status, info())), expected)
  })

  it("classifies the permanent statuses with their reasons", () => {
    const table: ReadonlyArray<readonly [number, string]> = [
      [400, "Permanent InvalidRequest"],
      [401, "Permanent Authentication"],
      [403, "Permanent PermissionDenied"],
      [404, "Permanent NotFound"],
      [413, "Permanent InvalidRequest"],
      [422, "Permanent InvalidRequest"]
    ]
    for (const [status, expected] of table) assert.strictEqual(summary(HttpClassify.status(status, info())), expected)
  })

  it("treats other 5xx as transient, other 4xx as permanent, anything else as unknown", () => {
    assert.strictEqual(summary(HttpClassify.status(501, info())), "Transient ServerError")
    assert.strictEqual(summary(HttpClassify.status(599, info())), "Transient ServerError")
    assert.strictEqual(summary(HttpClassify.status(418, info())), "Permanent InvalidRequest")
    assert.strictEqual(summary(HttpClassify.status(302, info())), "Permanent Unknown")
    assert.strictEqual(summary(HttpClassify.status(700, info())), "Permanent Unknown")
  })

  it("attaches the Retry-After to every transient verdict", () => {
    const verdict = HttpClassify.status(429, info({ "retry-after": "2" }))
    assert.deepStrictEqual(Classify.retryAfter(verdict), Option.some(Duration.seconds(2)))
    const unavailable = HttpClassify.status(503, info({ "retry-after-ms": "1500" }))
    assert.deepStrictEqual(Classify.retryAfter(unavailable), Option.some(Duration.millis(1500)))
  })

  it("lets x-should-retry: false make a transient status permanent", () => {
    assert.strictEqual(summary(HttpClassify.status(503, info({ "x-should-retry": "false" }))), "Permanent Unknown")
    assert.strictEqual(
      summary(HttpClassify.status(429, info({ "x-should-retry": "false" }))),
      "Permanent QuotaExhausted"
    )
    assert.strictEqual(
      summary(HttpClassify.status(401, info({ "x-should-retry": "false" }))),
      "Permanent Authentication"
    )
  })

  it("lets x-should-retry: true make any status transient", () => {
    assert.strictEqual(summary(HttpClassify.status(400, info({ "x-should-retry": "true" }))), "Transient ServerError")
    assert.strictEqual(summary(HttpClassify.status(529, info({ "x-should-retry": "true" }))), "Transient Overloaded")
  })
})

describe("HttpClassify.response", () => {
  const quota: HttpClassify.ResponseClassifier = (response) =>
    response.status === 429 && response.body.includes("insufficient_quota")
      ? Option.some(Classify.permanent("QuotaExhausted"))
      : Option.none()

  it("asks the body classifier before the status table", () => {
    const body = `{"error":{"code":"insufficient_quota"}}`
    const verdict = HttpClassify.response({ status: 429, headers: Headers.empty, body }, info(), quota)
    assert.strictEqual(summary(verdict), "Permanent QuotaExhausted")
  })

  it("falls back to the status table when the body classifier does not know", () => {
    const verdict = HttpClassify.response({ status: 429, headers: Headers.empty, body: "{}" }, info(), quota)
    assert.strictEqual(summary(verdict), "Transient RateLimited")
  })
})

describe("HttpClassify.error", () => {
  it("retries transport failures as Network", () => {
    const error = new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("ECONNRESET") })
    assert.strictEqual(summary(HttpClassify.error(error)), "Transient Network")
  })

  it("never retries a request that cannot be encoded or addressed", () => {
    for (const reason of ["Encode", "InvalidUrl"] as const) {
      const error = new HttpClientError.RequestError({ request, reason })
      assert.strictEqual(summary(HttpClassify.error(error)), "Permanent InvalidRequest")
    }
  })

  it("never retries a transport failure caused by a malformed header", () => {
    const cause = Object.assign(new TypeError("Invalid character in header content"), { code: "ERR_INVALID_CHAR" })
    const error = new HttpClientError.RequestError({ request, reason: "Transport", cause })
    assert.strictEqual(summary(HttpClassify.error(error)), "Permanent InvalidRequest")
    const fetchCause = new TypeError(`Headers.append: "Bearer  x" is an invalid header value.`)
    assert.strictEqual(
      summary(
        HttpClassify.error(new HttpClientError.RequestError({ request, reason: "Transport", cause: fetchCause }))
      ),
      "Permanent InvalidRequest"
    )
  })

  it("classifies a status error by its status and headers", () => {
    const verdict = HttpClassify.error(responseError(429, { "retry-after": "3" }))
    assert.strictEqual(summary(verdict), "Transient RateLimited")
    assert.deepStrictEqual(Classify.retryAfter(verdict), Option.some(Duration.seconds(3)))
    assert.strictEqual(summary(HttpClassify.error(responseError(401))), "Permanent Authentication")
  })

  it("does not retry a body that could not be decoded", () => {
    for (const reason of ["Decode", "EmptyBody"] as const) {
      const error = new HttpClientError.ResponseError({
        request,
        response: HttpClientResponse.fromWeb(request, new Response("<html>", { status: 200 })),
        reason
      })
      assert.strictEqual(summary(HttpClassify.error(error)), "Permanent Unknown")
    }
  })

  it("retries a body cut by a broken connection, and nothing else that failed to decode", () => {
    const response = HttpClientResponse.fromWeb(request, new Response("{", { status: 200 }))
    const socket = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" })
    const cut = new HttpClientError.ResponseError({
      request,
      response,
      reason: "Decode",
      cause: new TypeError("terminated", { cause: socket })
    })
    assert.strictEqual(summary(HttpClassify.error(cut)), "Transient Network")
    const parse = new HttpClientError.ResponseError({
      request,
      response,
      reason: "Decode",
      cause: new SyntaxError("{")
    })
    assert.strictEqual(summary(HttpClassify.error(parse)), "Permanent Unknown")
    const loop: { code: string; cause?: unknown } = { code: "OTHER" }
    loop.cause = loop
    assert.isFalse(HttpClassify.isBrokenConnection(loop))
    assert.isTrue(HttpClassify.isBrokenConnection({ code: "ECONNRESET" }))
  })

  it("retries a timeout", () => {
    assert.strictEqual(summary(HttpClassify.errorOrTimeout(new Cause.TimeoutException())), "Transient Timeout")
    assert.strictEqual(summary(HttpClassify.errorOrTimeout(responseError(503))), "Transient Unavailable")
  })
})
