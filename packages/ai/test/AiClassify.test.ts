import { type Classify, Fallback, ProviderError } from "@effect-resilience/core"
import { ChaosLanguageModel } from "@effect-resilience/testing"
import * as AiError from "@effect/ai/AiError"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AiClassify from "../src/AiClassify.js"
import { request, responseError } from "./scripted.js"

const summary = (verdict: Classify.Verdict): string =>
  verdict._tag === "Transient"
    ? `Transient ${verdict.reason}${
      Option.match(verdict.retryAfter, { onNone: () => "", onSome: (d) => ` ${Duration.toMillis(d)}ms` })
    }`
    : `Permanent ${verdict.reason}`

const openai = (code: string, type: string, message = "x") => ({ error: { message, type, param: null, code } })
const anthropic = (type: string, message = "x") => ({ type: "error", error: { type, message } })
const gemini = (retryDelay: unknown, extra: ReadonlyArray<unknown> = []) => ({
  error: {
    code: 429,
    message: "You exceeded your current quota",
    status: "RESOURCE_EXHAUSTED",
    details: [...extra, { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay }]
  }
})

describe("AiClassify.classify: HttpResponseError", () => {
  const table: ReadonlyArray<readonly [string, AiError.AiError, string]> = [
    // OpenAI (https://platform.openai.com/docs/guides/error-codes)
    [
      "OpenAI insufficient_quota 429",
      responseError(429, openai("insufficient_quota", "insufficient_quota")),
      "Permanent QuotaExhausted"
    ],
    [
      "OpenAI rate_limit_exceeded 429 with retry-after-ms",
      responseError(429, openai("rate_limit_exceeded", "requests"), { "retry-after-ms": "1500" }),
      "Transient RateLimited 1500ms"
    ],
    [
      "OpenAI context_length_exceeded 400",
      responseError(400, openai("context_length_exceeded", "invalid_request_error")),
      "Permanent ContextLengthExceeded"
    ],
    [
      "OpenAI content_policy_violation 400",
      responseError(400, openai("content_policy_violation", "invalid_request_error")),
      "Permanent ContentFiltered"
    ],
    [
      "OpenAI content_filter 400",
      responseError(400, openai("content_filter", "invalid_request_error")),
      "Permanent ContentFiltered"
    ],
    ["OpenAI server_error 500", responseError(500, openai("server_error", "server_error")), "Transient ServerError"],
    // Anthropic (https://docs.anthropic.com/en/api/errors)
    [
      "Anthropic 529 overloaded_error",
      responseError(529, anthropic("overloaded_error", "Overloaded")),
      "Transient Overloaded"
    ],
    [
      "Anthropic 429 rate_limit_error with retry-after",
      responseError(429, anthropic("rate_limit_error"), { "retry-after": "7" }),
      "Transient RateLimited 7000ms"
    ],
    [
      "Anthropic 400 invalid_request_error",
      responseError(400, anthropic("invalid_request_error")),
      "Permanent InvalidRequest"
    ],
    [
      "Anthropic 400 prompt is too long",
      responseError(400, anthropic("invalid_request_error", "prompt is too long: 212345 tokens > 200000 maximum")),
      "Permanent ContextLengthExceeded"
    ],
    ["Anthropic 500 api_error", responseError(500, anthropic("api_error")), "Transient ServerError"],
    [
      "Anthropic 400 credit balance too low",
      responseError(
        400,
        anthropic(
          "invalid_request_error",
          "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade."
        )
      ),
      "Permanent QuotaExhausted"
    ],
    [
      "a transient code whose message mentions a context window stays transient",
      responseError(500, openai("server_error", "server_error", "The context window service failed; retry.")),
      "Transient ServerError"
    ],
    [
      "Gemini 400 INVALID_ARGUMENT input token count exceeds the maximum",
      responseError(400, {
        error: {
          code: 400,
          status: "INVALID_ARGUMENT",
          message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
        }
      }),
      "Permanent ContextLengthExceeded"
    ],
    [
      "Anthropic 401 authentication_error",
      responseError(401, anthropic("authentication_error")),
      "Permanent Authentication"
    ],
    // Google (AIP-193, google.rpc.RetryInfo)
    ["Gemini RESOURCE_EXHAUSTED retryDelay 34s", responseError(429, gemini("34s")), "Transient RateLimited 34000ms"],
    ["Gemini RESOURCE_EXHAUSTED retryDelay 0.5s", responseError(429, gemini("0.5s")), "Transient RateLimited 500ms"],
    [
      "Gemini RESOURCE_EXHAUSTED retryDelay { seconds, nanos }",
      responseError(429, gemini({ seconds: 2, nanos: 500_000_000 })),
      "Transient RateLimited 2500ms"
    ],
    ["Gemini RESOURCE_EXHAUSTED retry in 10h", responseError(429, gemini("36000s")), "Permanent QuotaExhausted"],
    [
      "Gemini RESOURCE_EXHAUSTED daily quota",
      responseError(
        429,
        gemini("20s", [{
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [{ quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }]
        }])
      ),
      "Permanent QuotaExhausted"
    ],
    [
      "Gemini UNAVAILABLE 503",
      responseError(503, { error: { code: 503, status: "UNAVAILABLE" } }),
      "Transient Unavailable"
    ],
    // x-should-retry wins
    [
      "x-should-retry: false over a rate limit body",
      responseError(429, openai("rate_limit_exceeded", "requests"), { "x-should-retry": "false" }),
      "Permanent QuotaExhausted"
    ],
    [
      "x-should-retry: true over an invalid request body",
      responseError(400, anthropic("invalid_request_error"), { "x-should-retry": "true", "retry-after": "2" }),
      "Transient ServerError 2000ms"
    ],
    // Body read as text: JSON inside a JSON string
    [
      "text body with JSON",
      responseError(429, JSON.stringify(openai("insufficient_quota", "x")), {}, "text"),
      "Permanent QuotaExhausted"
    ],
    // No body, unknown body: status and headers
    ["no body 503", responseError(503, undefined, { "retry-after": "3" }), "Transient Unavailable 3000ms"],
    ["unknown code 429", responseError(429, { error: { code: "something_new" } }), "Transient RateLimited"]
  ]

  for (const [name, error, expected] of table) {
    it(name, () => {
      assert.strictEqual(summary(AiClassify.classify(error)), expected)
    })
  }

  it("honours the retryDelayCeiling option", () => {
    const classify = AiClassify.make({ retryDelayCeiling: "10 seconds" })
    assert.strictEqual(summary(classify(responseError(429, gemini("34s")))), "Permanent QuotaExhausted")
    assert.strictEqual(summary(classify(responseError(429, gemini("10s")))), "Transient RateLimited 10000ms")
  })

  it("classifies a Decode / EmptyBody response error as malformed output", () => {
    const decode = new AiError.HttpResponseError({
      module: "OpenAiClient",
      method: "createResponse",
      request,
      response: { status: 200, headers: {} },
      reason: "Decode"
    })
    assert.strictEqual(summary(AiClassify.classify(decode)), "Permanent Unknown")
    assert.strictEqual(summary(AiClassify.make({ malformedOutput: "transient" })(decode)), "Transient ServerError")
  })
})

describe("AiClassify.classify: a body cut by a broken connection", () => {
  /** What the clients build when the connection drops mid-body: the platform error JSON-encoded into `body`. */
  const cut = (code: string, reason: "Decode" | "EmptyBody" = "Decode") =>
    new AiError.HttpResponseError({
      module: "AnthropicClient",
      method: "streamRequest",
      request,
      response: { status: 200, headers: { "content-type": "text/event-stream" } },
      reason,
      body: JSON.stringify(
        {
          request: { method: "POST", body: { body: JSON.stringify({ prompt: "\"code\": \"ECONNRESET\"" }) } },
          reason: "Decode",
          cause: { name: "SocketError", code, socket: { bytesRead: 838 } },
          _tag: "ResponseError"
        },
        null,
        2
      )
    })

  it("classifies UND_ERR_SOCKET, ECONNRESET and EPIPE as transient Network, whatever malformedOutput says", () => {
    for (const code of ["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]) {
      assert.strictEqual(summary(AiClassify.classify(cut(code))), "Transient Network")
      assert.strictEqual(summary(AiClassify.classify(cut(code, "EmptyBody"))), "Transient Network")
    }
  })

  it("keeps other decode failures malformed output, even when the prompt mentions a socket error", () => {
    assert.strictEqual(summary(AiClassify.classify(cut("ERR_INVALID_CHAR"))), "Permanent Unknown")
    assert.strictEqual(
      summary(AiClassify.make({ malformedOutput: "transient" })(cut("ERR_INVALID_CHAR"))),
      "Transient ServerError"
    )
  })
})

describe("AiClassify.classify: malformed bodies fall back to the status rules", () => {
  const table: ReadonlyArray<readonly [string, AiError.AiError, string]> = [
    ["html 502", responseError(502, "<html><body>Bad Gateway</body></html>", {}, "raw"), "Transient ServerError"],
    [
      "truncated JSON 429",
      responseError(429, "{\"error\": {\"code\": \"insufficient_qu", {}, "raw"),
      "Transient RateLimited"
    ],
    ["JSON array of numbers 400", responseError(400, "[1,2,3]", {}, "raw"), "Permanent InvalidRequest"],
    ["JSON null 500", responseError(500, "null", {}, "raw"), "Transient ServerError"],
    ["error is a string 429", responseError(429, { error: "insufficient_quota" }), "Transient RateLimited"],
    [
      "huge body beyond maxBodyLength 429",
      responseError(429, { error: { code: "insufficient_quota", padding: "x".repeat(100_000) } }),
      "Transient RateLimited"
    ],
    [
      "absurd retryDelay",
      responseError(429, gemini("99999999999s"), { "retry-after": "4" }),
      "Transient RateLimited 4000ms"
    ],
    ["negative retryDelay", responseError(429, gemini("-5s")), "Transient RateLimited"],
    ["retryDelay not a duration", responseError(429, gemini("soon")), "Transient RateLimited"],
    ["retryDelay NaN seconds", responseError(429, gemini({ seconds: "NaN" })), "Transient RateLimited"],
    [
      "deeply odd values",
      responseError(400, { error: { code: { nested: true }, type: 42, message: [] } }),
      "Permanent InvalidRequest"
    ]
  ]
  for (const [name, error, expected] of table) {
    it(name, () => {
      assert.strictEqual(summary(AiClassify.classify(error)), expected)
    })
  }
})

describe("AiClassify.classify: other AiErrors", () => {
  const transportRequest = HttpClientRequest.post("http://127.0.0.1/v1/responses")
  const requestError = (reason: "Transport" | "Encode" | "InvalidUrl", cause?: unknown) =>
    new AiError.HttpRequestError({
      module: "OpenAiClient",
      method: "createResponse",
      reason,
      request,
      ...(cause === undefined ? {} : { cause })
    })

  it("classifies request errors by reason", () => {
    assert.strictEqual(summary(AiClassify.classify(requestError("Transport"))), "Transient Network")
    assert.strictEqual(summary(AiClassify.classify(requestError("Encode"))), "Permanent InvalidRequest")
    assert.strictEqual(summary(AiClassify.classify(requestError("InvalidUrl"))), "Permanent InvalidRequest")
  })

  it("classifies a request error by the HttpClient error it wraps", () => {
    const reset = new HttpClientError.RequestError({
      request: transportRequest,
      reason: "Transport",
      cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
    })
    const badHeader = new HttpClientError.RequestError({
      request: transportRequest,
      reason: "Transport",
      cause: Object.assign(new TypeError("Invalid header value"), { code: "ERR_INVALID_CHAR" })
    })
    assert.strictEqual(summary(AiClassify.classify(requestError("Transport", reset))), "Transient Network")
    assert.strictEqual(summary(AiClassify.classify(requestError("Transport", badHeader))), "Permanent InvalidRequest")
  })

  it("classifies malformed input, malformed output and unknown errors", () => {
    const input = new AiError.MalformedInput({ module: "m", method: "x" })
    const output = new AiError.MalformedOutput({ module: "m", method: "x" })
    const unknown = new AiError.UnknownError({ module: "m", method: "x", cause: new Error("boom") })
    assert.strictEqual(summary(AiClassify.classify(input)), "Permanent InvalidRequest")
    assert.strictEqual(summary(AiClassify.classify(output)), "Permanent Unknown")
    assert.strictEqual(summary(AiClassify.make({ malformedOutput: "transient" })(output)), "Transient ServerError")
    assert.strictEqual(summary(AiClassify.classify(unknown)), "Permanent Unknown")
    assert.instanceOf(unknown.cause, Error) // the original is kept
  })

  it("rule knows AiErrors only", () => {
    const rule = AiClassify.rule()
    assert.isTrue(Option.isNone(rule(new Error("boom"))))
    assert.isTrue(Option.isSome(rule(new AiError.MalformedInput({ module: "m", method: "x" }))))
  })
})

describe("AiClassify.streamError", () => {
  const table: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      "OpenAI Responses error event, rate limit",
      { type: "error", code: "rate_limit_exceeded", message: "slow down", param: null, sequence_number: 3 },
      "Transient RateLimited"
    ],
    [
      "OpenAI Responses error event, quota",
      { type: "error", code: "insufficient_quota", message: "pay" },
      "Permanent QuotaExhausted"
    ],
    [
      "OpenAI Responses error event, server",
      { type: "error", code: "server_error", message: "oops" },
      "Transient ServerError"
    ],
    [
      "Anthropic error payload, overloaded",
      { type: "overloaded_error", message: "Overloaded" },
      "Transient Overloaded"
    ],
    [
      "Anthropic whole event, api_error",
      { type: "error", error: { type: "api_error", message: "x" } },
      "Transient ServerError"
    ],
    [
      "Anthropic prompt too long",
      { type: "invalid_request_error", message: "prompt is too long" },
      "Permanent ContextLengthExceeded"
    ],
    ["unknown payload", { type: "error", message: "something" }, "Permanent Unknown"],
    ["a string", "boom", "Permanent Unknown"],
    ["null", null, "Permanent Unknown"],
    ["a number", 42, "Permanent Unknown"]
  ]
  for (const [name, payload, expected] of table) {
    it(name, () => {
      assert.strictEqual(summary(AiClassify.streamError(payload)), expected)
    })
  }
})

describe("AiClassify.parseRetryDelay", () => {
  it("reads protobuf durations and refuses absurd ones", () => {
    assert.deepStrictEqual(AiClassify.parseRetryDelay("34s"), Option.some(Duration.millis(34_000)))
    assert.deepStrictEqual(AiClassify.parseRetryDelay("1.25s"), Option.some(Duration.millis(1250)))
    assert.deepStrictEqual(AiClassify.parseRetryDelay({ seconds: "3" }), Option.some(Duration.millis(3000)))
    assert.isTrue(Option.isNone(AiClassify.parseRetryDelay("700000s")))
    assert.isTrue(Option.isNone(AiClassify.parseRetryDelay("34")))
    assert.isTrue(Option.isNone(AiClassify.parseRetryDelay({ seconds: Infinity })))
  })
})

describe("AiClassify: the testing kit's provider errors", () => {
  // Every kind of failure ChaosLanguageModel injects, as each provider's client would report it, must lead a
  // failover to the same decision as the kind itself: the kit and the classifier agree on what the bodies mean.
  const kinds: ReadonlyArray<readonly [ProviderError.TransientReason | ProviderError.PermanentReason, number?]> = [
    ["RateLimited", 429],
    ["Overloaded", 529],
    ["ServerError", 500],
    ["Unavailable", 503],
    ["Timeout", 504],
    ["Network"],
    ["Authentication", 401],
    ["QuotaExhausted", 429],
    ["InvalidRequest", 400],
    ["ContextLengthExceeded", 400]
  ]
  for (const provider of ["openai", "anthropic"] as const) {
    for (const [reason, status] of kinds) {
      it(`${provider} ${reason}`, () => {
        const fields = { provider, message: `${reason} (injected)`, ...(status === undefined ? {} : { status }) }
        const injected = Schema.is(ProviderError.TransientReason)(reason)
          ? new ProviderError.TransientError({ ...fields, reason })
          : new ProviderError.PermanentError({ ...fields, reason })
        const verdict = AiClassify.classify(ChaosLanguageModel.toAiError(injected, provider, "generate"))
        assert.strictEqual(verdict._tag, injected._tag === "TransientError" ? "Transient" : "Permanent")
        assert.strictEqual(Fallback.defaultTriggers[verdict.reason], Fallback.defaultTriggers[reason])
      })
    }
  }
})
