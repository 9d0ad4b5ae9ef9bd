import { Classify, type ProviderError } from "@effect-resilience/core"
import { HttpClassify, RateLimitHeaders } from "@effect-resilience/http"
import * as AiError from "@effect/ai/AiError"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as AiClassify from "../AiClassify.js"

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/** The options of a classifier, decoded once, defaults filled in. */
export interface Resolved {
  readonly retryDelayCeilingMillis: number
  readonly malformedOutput: Classify.Verdict
  readonly maxBodyLength: number
}

/** The default ceiling of a body's RetryInfo delay: the core retry policy's default Retry-After ceiling. */
export const defaultRetryDelayCeiling: Duration.Duration = Duration.seconds(60)

/** The default longest error body that is parsed: provider error bodies are a few hundred bytes. */
export const defaultMaxBodyLength = 64 * 1024

/** A RetryInfo delay longer than this is a unit error, not a request: ignored, like `RateLimitHeaders` does. */
const absurdDelayMillis = 7 * 24 * 60 * 60 * 1000

/** Fills in the defaults of `AiClassify.Options`. */
export const resolve = (options?: AiClassify.Options): Resolved => {
  let ceiling = Duration.toMillis(defaultRetryDelayCeiling)
  if (options?.retryDelayCeiling !== undefined) {
    const decoded = Duration.decodeUnknown(options.retryDelayCeiling)
    if (Option.isSome(decoded)) ceiling = Duration.toMillis(decoded.value)
  }
  const maxBodyLength = options?.maxBodyLength !== undefined && Number.isFinite(options.maxBodyLength) &&
      options.maxBodyLength >= 0
    ? options.maxBodyLength
    : defaultMaxBodyLength
  return {
    retryDelayCeilingMillis: ceiling,
    malformedOutput: options?.malformedOutput === "transient"
      ? Classify.transient("ServerError")
      : Classify.permanent("Unknown"),
    maxBodyLength
  }
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

const isRecord = Predicate.isRecord

/** Implements `AiClassify.parseBody`, documented there. */
export const parseBody = (
  body: string | undefined,
  maxLength: number = defaultMaxBodyLength
): Option.Option<unknown> => {
  if (body === undefined || body.length === 0 || body.length > maxLength) return Option.none()
  let value: unknown
  try {
    value = JSON.parse(body)
    // `HttpResponseError.fromResponseError` JSON-encodes a body it read as text (`text/plain`,
    // `text/html`): the JSON a provider sent is then inside a JSON string.
    if (typeof value === "string" && value.length <= maxLength) {
      const trimmed = value.trimStart()
      if (trimmed.startsWith("{") || trimmed.startsWith("[")) value = JSON.parse(value)
    }
  } catch {
    return Option.none()
  }
  // Google's REST streams answer `[{ "error": ... }]`.
  if (Array.isArray(value) && value.length > 0) value = value[0]
  return isRecord(value) ? Option.some(value) : Option.none()
}

/** What an error body says, read field by field, each one optional. */
interface Described {
  readonly code: string | undefined
  readonly type: string | undefined
  readonly status: string | undefined
  readonly message: string | undefined
  readonly details: ReadonlyArray<unknown>
}

const str = (u: unknown): string | undefined =>
  typeof u === "string" ? u.slice(0, 1024) : typeof u === "number" && Number.isFinite(u) ? String(u) : undefined

/**
 * Reads an error body or an in-stream error payload of any of the known shapes:
 * `{ error: { code, type, message } }` (OpenAI), `{ type: "error", error: { type, message } }`
 * (Anthropic), `{ error: { code, status, message, details } }` (Google), and the bare inner objects
 * (OpenAI's Responses `error` event `{ type: "error", code, message }`, Anthropic's `{ type, message }`).
 */
const describe = (body: unknown): Described | undefined => {
  if (!isRecord(body)) return undefined
  const inner = isRecord(body.error) ? body.error : body
  const type = str(inner.type)
  return {
    code: str(inner.code),
    // The outer `{ type: "error" }` of an event says nothing about the kind of error.
    type: type === "error" ? undefined : type,
    status: str(inner.status),
    message: str(inner.message),
    details: Array.isArray(inner.details) ? inner.details : []
  }
}

/** Reads a protobuf `Duration` in its JSON form (`"34s"`, `"1.5s"`) or as `{ seconds, nanos }`; `None` if absurd. */
export const parseRetryDelay = (u: unknown): Option.Option<Duration.Duration> => {
  let millis: number | undefined
  if (typeof u === "string") {
    const match = /^\s*(\d{1,12}(?:\.\d{1,9})?)s\s*$/.exec(u)
    if (match !== null) millis = Number(match[1]) * 1000
  } else if (isRecord(u)) {
    const seconds = typeof u.seconds === "string" ? Number(u.seconds) : u.seconds
    const nanos = u.nanos === undefined ? 0 : u.nanos
    if (typeof seconds === "number" && typeof nanos === "number") millis = seconds * 1000 + nanos / 1e6
  }
  if (millis === undefined || !Number.isFinite(millis) || millis < 0 || millis > absurdDelayMillis) {
    return Option.none()
  }
  return Option.some(Duration.millis(Math.ceil(millis)))
}

const retryInfoType = "type.googleapis.com/google.rpc.RetryInfo"
const quotaFailureType = "type.googleapis.com/google.rpc.QuotaFailure"

const googleRetryDelay = (details: ReadonlyArray<unknown>): Option.Option<Duration.Duration> => {
  for (const detail of details) {
    if (isRecord(detail) && detail["@type"] === retryInfoType) return parseRetryDelay(detail.retryDelay)
  }
  return Option.none()
}

/** A Google QuotaFailure naming a daily quota (`...PerDay...`): it resets tomorrow, not in a minute. */
const isDailyQuota = (details: ReadonlyArray<unknown>): boolean =>
  details.some((detail) =>
    isRecord(detail) && detail["@type"] === quotaFailureType && Array.isArray(detail.violations) &&
    detail.violations.some((violation) =>
      isRecord(violation) && typeof violation.quotaId === "string" && /perday/i.test(violation.quotaId)
    )
  )

const quotaExhausted = Classify.permanent("QuotaExhausted")
const contextLengthExceeded = Classify.permanent("ContextLengthExceeded")
const invalidRequest = Classify.permanent("InvalidRequest")
const unknown = Classify.permanent("Unknown")

const transientWith = (
  reason: ProviderError.TransientReason,
  retryAfter: Option.Option<Duration.Duration>
): Classify.Transient => ({ _tag: "Transient", reason, retryAfter })

/** Provider codes (OpenAI `code`/`type`, Anthropic `type`) with a fixed verdict kind. */
const permanentCodes: ReadonlyMap<string, ProviderError.PermanentReason> = new Map([
  ["insufficient_quota", "QuotaExhausted"],
  ["billing_hard_limit_reached", "QuotaExhausted"],
  ["context_length_exceeded", "ContextLengthExceeded"],
  ["string_above_max_length", "ContextLengthExceeded"],
  ["content_policy_violation", "ContentFiltered"],
  ["content_filter", "ContentFiltered"],
  ["invalid_api_key", "Authentication"],
  ["authentication_error", "Authentication"],
  ["permission_error", "PermissionDenied"],
  ["not_found_error", "NotFound"],
  ["model_not_found", "NotFound"],
  ["request_too_large", "InvalidRequest"],
  ["invalid_request_error", "InvalidRequest"]
])

const transientCodes: ReadonlyMap<string, ProviderError.TransientReason> = new Map([
  ["rate_limit_exceeded", "RateLimited"],
  ["rate_limit_error", "RateLimited"],
  ["overloaded_error", "Overloaded"],
  ["server_error", "ServerError"],
  ["api_error", "ServerError"],
  ["timeout_error", "Timeout"]
])

/** Google's canonical codes (`error.status`, AIP-193). */
const googleTransient: ReadonlyMap<string, ProviderError.TransientReason> = new Map([
  ["UNAVAILABLE", "Unavailable"],
  ["INTERNAL", "ServerError"],
  ["DEADLINE_EXCEEDED", "Timeout"]
])

const googlePermanent: ReadonlyMap<string, ProviderError.PermanentReason> = new Map([
  ["INVALID_ARGUMENT", "InvalidRequest"],
  ["FAILED_PRECONDITION", "InvalidRequest"],
  ["UNAUTHENTICATED", "Authentication"],
  ["PERMISSION_DENIED", "PermissionDenied"],
  ["NOT_FOUND", "NotFound"]
])

/** What providers say when a prompt is too long but give no code for it (Anthropic, Gemini). */
const contextLengthMessage =
  /prompt is too long|maximum context length|context window|too many tokens|exceeds the maximum number of tokens/i

/** Anthropic's answer to an empty credit balance: a 400 `invalid_request_error` that no retry or wait fixes. */
const creditMessage = /credit balance is too low/i

/** Implements `AiClassify.body`, documented there. */
export const body = (
  parsed: unknown,
  retryAfter: Option.Option<Duration.Duration>,
  resolved: Resolved
): Option.Option<Classify.Verdict> => {
  const described = describe(parsed)
  if (described === undefined) return Option.none()
  const { code, details, message, status, type } = described
  // The most specific first: a quota or an oversized prompt hides behind a 429 or a generic 400 type.
  for (const key of [code, type]) {
    if (key === undefined) continue
    const reason = permanentCodes.get(key)
    if (reason !== undefined && reason !== "InvalidRequest") return Option.some(Classify.permanent(reason))
  }
  // Messages are read only when the codes say nothing more specific: a transient error that mentions a
  // context window is still transient.
  const transientCode = [code, type].some((key) => key !== undefined && transientCodes.has(key)) ||
    (status !== undefined && googleTransient.has(status))
  if (message !== undefined && !transientCode) {
    if (contextLengthMessage.test(message)) return Option.some(contextLengthExceeded)
    if (creditMessage.test(message)) return Option.some(quotaExhausted)
  }
  if (status === "RESOURCE_EXHAUSTED") {
    if (isDailyQuota(details)) return Option.some(quotaExhausted)
    const delay = googleRetryDelay(details)
    if (Option.isSome(delay)) {
      return Option.some(
        Duration.toMillis(delay.value) > resolved.retryDelayCeilingMillis
          ? quotaExhausted
          : transientWith("RateLimited", Option.some(maxDuration(delay.value, retryAfter)))
      )
    }
    return Option.some(transientWith("RateLimited", retryAfter))
  }
  for (const key of [code, type]) {
    if (key === undefined) continue
    const transientReason = transientCodes.get(key)
    if (transientReason !== undefined) return Option.some(transientWith(transientReason, retryAfter))
    const permanentReason = permanentCodes.get(key)
    if (permanentReason !== undefined) return Option.some(Classify.permanent(permanentReason))
  }
  if (status !== undefined) {
    const transientReason = googleTransient.get(status)
    if (transientReason !== undefined) return Option.some(transientWith(transientReason, retryAfter))
    const permanentReason = googlePermanent.get(status)
    if (permanentReason !== undefined) return Option.some(Classify.permanent(permanentReason))
  }
  return Option.none()
}

const maxDuration = (a: Duration.Duration, b: Option.Option<Duration.Duration>): Duration.Duration =>
  Option.isSome(b) && Duration.greaterThan(b.value, a) ? b.value : a

/**
 * Whether a `Decode` / `EmptyBody` response error is a connection that broke while its body was read (the
 * clients report a dropped SSE body as `Decode` with the 200 already received): a network failure, not a
 * malformed answer. The clients keep no `cause` on an `HttpResponseError`; they JSON-encode the platform's
 * `ResponseError` (its `cause` the socket error) into `body`, which is read back and walked like the platform
 * error itself (`HttpClassify.isBrokenConnection`: the same codes).
 */
export const isBrokenConnection = (error: AiError.HttpResponseError): boolean => {
  if (error.reason === "StatusCode" || error.body === undefined) return false
  let platformError: unknown
  try {
    platformError = JSON.parse(error.body)
  } catch {
    return false
  }
  return HttpClassify.isBrokenConnection(platformError)
}

/** Implements `AiClassify.response`, documented there. */
export const response = (error: AiError.HttpResponseError, resolved: Resolved): Classify.Verdict => {
  if (error.reason !== "StatusCode") {
    return isBrokenConnection(error) ? Classify.transient("Network") : resolved.malformedOutput
  }
  const status = error.response.status
  let info: RateLimitHeaders.Info
  try {
    info = RateLimitHeaders.parse(Headers.fromInput(error.response.headers), Date.now())
  } catch {
    info = RateLimitHeaders.parse(Headers.empty, 0)
  }
  const fromBody = Option.flatMap(
    parseBody(error.body, resolved.maxBodyLength),
    (parsed) => body(parsed, info.retryAfter, resolved)
  )
  if (Option.isNone(fromBody)) return HttpClassify.status(status, info)
  // `x-should-retry` wins over what the body says, as it does over the status.
  return HttpClassify.withShouldRetry(fromBody.value, status, info)
}

/** Implements `AiClassify.streamError`, documented there. */
export const streamError = (payload: unknown, resolved: Resolved): Classify.Verdict =>
  Option.getOrElse(body(payload, Option.none(), resolved), () => unknown)

/** Implements `AiClassify.make`, documented there. */
export const make = (options?: AiClassify.Options): Classify.Classifier<AiError.AiError> => {
  const resolved = resolve(options)
  return (error) => {
    switch (error._tag) {
      case "HttpResponseError":
        return response(error, resolved)
      case "HttpRequestError": {
        if (HttpClientError.isHttpClientError(error.cause)) return HttpClassify.error(error.cause)
        return error.reason === "Transport" ? Classify.transient("Network") : invalidRequest
      }
      case "MalformedInput":
        return invalidRequest
      case "MalformedOutput":
        return resolved.malformedOutput
      case "UnknownError":
        // A failure this library wrapped (an open circuit, a deadline, an error part) keeps its own verdict.
        if (isStreamErrorPart(error.cause)) return streamError(error.cause.error, resolved)
        return Classify.isClassifiable(error.cause) ? error.cause[Classify.symbol]() : unknown
      default:
        return unknown
    }
  }
}

/** Implements `AiClassify.rule`, documented there. */
export const rule = (options?: AiClassify.Options): Classify.Rule<unknown> => {
  const classify = make(options)
  const resolved = resolve(options)
  return (error) =>
    AiError.isAiError(error)
      ? Option.some(classify(error))
      : isStreamErrorPart(error)
      ? Option.some(streamError(error.error, resolved))
      : Option.none()
}

/** A `StreamGuard.StreamErrorPart`, known by its tag (this module must not import `StreamGuard`'s runtime). */
const isStreamErrorPart = (u: unknown): u is { readonly _tag: "StreamErrorPart"; readonly error: unknown } =>
  Predicate.isTagged(u, "StreamErrorPart") && Predicate.hasProperty(u, "error")
