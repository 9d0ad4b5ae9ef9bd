import { Bulkhead, Classify, type PolicyError, Resilience } from "@effect-resilience/core"
import type * as Cookies from "@effect/platform/Cookies"
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as HttpClassify from "../HttpClassify.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"
import type * as ResilientHttpClient from "../ResilientHttpClient.js"

// ---------------------------------------------------------------------------
// What one attempt fails with inside the pipeline
// ---------------------------------------------------------------------------

/**
 * A response with a failure status (4xx, 5xx), its body read whole so that the
 * connection is released and the body can still be handed to the caller. It
 * carries its verdict, so any pipeline classifies it without configuration.
 */
class FailedStatus implements Classify.Classifiable {
  readonly _tag = "ResponseError"
  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly response: HttpClientResponse.HttpClientResponse,
    readonly body: Uint8Array,
    readonly verdict: Classify.Verdict
  ) {}
  [Classify.symbol](): Classify.Verdict {
    return this.verdict
  }
}

/** An `HttpClientError` of the inner client (transport, URL, encoding, a body lost mid-read), with its verdict. */
class FailedRequest implements Classify.Classifiable {
  constructor(readonly error: HttpClientError.HttpClientError, readonly verdict: Classify.Verdict) {}
  get _tag(): string {
    return this.error._tag
  }
  [Classify.symbol](): Classify.Verdict {
    return this.verdict
  }
}

/** Implements `ResilientHttpClient.isPolicyRejection`, documented there. */
export const isPolicyRejection: (u: unknown) => u is Resilience.PolicyRejection = Resilience.isPolicyRejection

/** Implements `ResilientHttpClient.rejection`, documented there. */
export const rejection = (error: HttpClientError.HttpClientError): Option.Option<Resilience.PolicyRejection> =>
  error._tag === "RequestError" && isPolicyRejection(error.cause) ? Option.some(error.cause) : Option.none()

// ---------------------------------------------------------------------------
// Requests that cannot be sent
// ---------------------------------------------------------------------------

// RFC 9110 token for names; for values Node's own rule (no control character other than tab). Node's
// `http.request` *throws* on these, which would be a defect rather than a typed error.
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const headerValue = /^[\t\u0020-\u007e\u0080-\u00ff]*$/

/** The first header that cannot be sent, described without its value (it may be an API key). */
const invalidHeader = (headers: Headers.Headers): string | undefined => {
  for (const name of Object.keys(headers)) {
    if (!headerName.test(name)) return `header name ${JSON.stringify(name)} is not a valid HTTP token`
    const value = headers[name]
    if (typeof value === "string" && !headerValue.test(value)) {
      return `the value of header "${name}" contains a character that cannot be sent (a trailing newline?)`
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------
// The middleware
// ---------------------------------------------------------------------------

/** Keys a request by its host (`api.openai.com`, `127.0.0.1:8080`). */
export const hostKey = (request: HttpClientRequest.HttpClientRequest): string => {
  try {
    return new URL(request.url).host || "default"
  } catch {
    return "default"
  }
}

const decoder = new TextDecoder()

/** The response as the caller would have received it, re-made from the buffered body: readable again. */
const rebuild = (failed: FailedStatus): HttpClientResponse.HttpClientResponse => {
  const headers = new globalThis.Headers()
  for (const [name, value] of Object.entries(failed.response.headers)) {
    if (typeof value !== "string") continue
    try {
      headers.append(name, value)
    } catch {
      // A header a web `Headers` refuses (Node accepts a few more); the status and body are what matter.
    }
  }
  return HttpClientResponse.fromWeb(
    failed.request,
    new Response(failed.body, { status: failed.response.status, headers })
  )
}

const isFailureStatus = (status: number): boolean => status >= 400 && status <= 599

// ---------------------------------------------------------------------------
// A response that holds its bulkhead slot until its body is read
// ---------------------------------------------------------------------------

/** The content types of a streamed body (`WrapOptions.holdsSlot`'s default). */
const streamedTypes = new Set([
  "text/event-stream",
  "application/x-ndjson",
  "application/jsonl",
  "application/json-seq",
  "application/stream+json",
  "application/vnd.amazon.eventstream"
])

/** Tells whether a response's body is a stream, by its content type. */
export const isStreamed = (response: HttpClientResponse.HttpClientResponse): boolean => {
  const type = response.headers["content-type"]
  return type !== undefined && streamedTypes.has(type.split(";")[0].trim().toLowerCase())
}

/** A response with no body to wait for: its slot is freed when its headers arrive. */
const isBodiless = (request: HttpClientRequest.HttpClientRequest, response: HttpClientResponse.HttpClientResponse) =>
  request.method === "HEAD" || response.status < 200 || response.status === 204 || response.status === 205 ||
  response.status === 304 || response.headers["content-length"] === "0"

/**
 * Frees the slot of a response dropped unread, with no scope around its request: the inner client aborts such a
 * request when it is garbage-collected, and its slot goes with it.
 */
const unread: FinalizationRegistry<Scope.CloseableScope> | undefined = typeof FinalizationRegistry === "undefined"
  ? undefined
  : new FinalizationRegistry((scope) => {
    Effect.runFork(Scope.close(scope, Exit.void))
  })

/**
 * A response whose bulkhead slot is held in `scope` (`Bulkhead.holdSlotsUntil`): closed once its body has been
 * read (whole, to its end, or until the reading failed or was interrupted), or by the scope it was requested in.
 */
class HeldResponse implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  private readonly release: Effect.Effect<void>

  constructor(readonly original: HttpClientResponse.HttpClientResponse, scope: Scope.CloseableScope) {
    this.release = Effect.suspend(() => {
      unread?.unregister(this)
      return Scope.close(scope, Exit.void)
    })
    unread?.register(this, scope, this)
  }

  private read<A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.ensuring(body, this.release)
  }

  get request(): HttpClientRequest.HttpClientRequest {
    return this.original.request
  }
  get status(): number {
    return this.original.status
  }
  get headers(): Headers.Headers {
    return this.original.headers
  }
  get cookies(): Cookies.Cookies {
    return this.original.cookies
  }
  get remoteAddress(): Option.Option<string> {
    return this.original.remoteAddress
  }
  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return this.read(this.original.formData)
  }
  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return this.read(this.original.text)
  }
  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return this.read(this.original.json)
  }
  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return this.read(this.original.urlParamsBody)
  }
  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return this.read(this.original.arrayBuffer)
  }
  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.ensuring(this.original.stream, this.release)
  }
  toJSON(): unknown {
    return this.original.toJSON()
  }
  toString(): string {
    return this.original.toString()
  }
  [Inspectable.NodeInspectSymbol](): unknown {
    return this.original[Inspectable.NodeInspectSymbol]()
  }
}

/** Implements `ResilientHttpClient.wrap`, documented there. */
export const wrap = (
  client: HttpClient.HttpClient,
  resilience: Resilience.Service,
  options?: ResilientHttpClient.WrapOptions
): HttpClient.HttpClient => {
  const keyOf = options?.key ?? hostKey
  const classifyResponse = options?.classifyResponse
  // Admission on (learned, configured or both): every response's headers, success or failure, feed it.
  const limited = resilience.config.rateLimiter !== false && resilience.config.rateLimiter !== undefined
  const bulkheaded = resilience.config.bulkhead !== false && resilience.config.bulkhead !== undefined
  const holdsSlot = options?.holdsSlot ?? isStreamed
  const observe = (key: string, info: RateLimitHeaders.Info) =>
    resilience.observe(key, RateLimitHeaders.toObservation(info))

  return HttpClient.transform(client, (send, request) => {
    const invalid = invalidHeader(request.headers)
    if (invalid !== undefined) {
      return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", description: invalid }))
    }
    const key = keyOf(request)
    const replayable = request.body._tag !== "Stream"

    return Effect.suspend(() => {
      // Per call: the last failure response (returned if a policy ends the call), and whether a one-shot body was sent.
      let last: FailedStatus | undefined
      let sent = false

      const failedStatus = (response: HttpClientResponse.HttpClientResponse) =>
        Effect.flatMap(
          Effect.zip(Effect.either(response.arrayBuffer), RateLimitHeaders.parseEffect(response.headers)),
          ([body, info]): Effect.Effect<never, FailedStatus | FailedRequest> => {
            if (Either.isLeft(body)) {
              // The body was lost mid-read: the status still says whether another request may pass.
              const verdict = HttpClassify.status(response.status, info)
              return Effect.fail(new FailedRequest(body.left, verdict))
            }
            const bytes = new Uint8Array(body.right)
            const verdict = classifyResponse === undefined
              ? HttpClassify.status(response.status, info)
              : HttpClassify.response(
                { status: response.status, headers: response.headers, body: decoder.decode(bytes) },
                info,
                classifyResponse
              )
            last = new FailedStatus(request, response, bytes, verdict)
            const failed = Effect.fail(last)
            return limited ? Effect.zipRight(observe(key, info), failed) : failed
          }
        )

      const attempt: Effect.Effect<HttpClientResponse.HttpClientResponse, FailedStatus | FailedRequest> = Effect
        .suspend(() => {
          if (!replayable) {
            if (sent) {
              // Only reached when a policy (an attempt timeout) asked for another try after the body was sent.
              return Effect.fail(
                new FailedRequest(
                  new HttpClientError.RequestError({
                    request,
                    reason: "Transport",
                    description: "the request body is a stream that was already sent once; it is not sent again"
                  }),
                  Classify.permanent("Unknown")
                )
              )
            }
            sent = true
          }
          return Effect.matchEffect(send, {
            onFailure: (error) => {
              const verdict = HttpClassify.error(error)
              return Effect.fail(new FailedRequest(error, verdict))
            },
            onSuccess: (response) => {
              if (isFailureStatus(response.status)) return failedStatus(response)
              if (!limited) return Effect.succeed(response)
              return RateLimitHeaders.parseEffect(response.headers).pipe(
                Effect.flatMap((info) => observe(key, info)),
                Effect.as(response)
              )
            }
          })
        })

      const ended = (
        failure: FailedStatus | FailedRequest | Resilience.PolicyRejection
      ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
        if (failure instanceof FailedStatus) return Effect.succeed(rebuild(failure))
        if (failure instanceof FailedRequest) return Effect.fail(failure.error)
        // A policy ended the call: if the provider had answered before, its last answer is the result.
        if (last !== undefined) return Effect.succeed(rebuild(last))
        return Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: failure,
            description: failure.message
          })
        )
      }
      // A request whose body is a stream can be sent once only: every policy but the retry applies.
      const call = resilience.run(attempt, { key, retry: replayable })
      if (!bulkheaded) return Effect.catchAll(call, ended)

      // A successful streamed response keeps its bulkhead slot until its body has been read (a provider counts an
      // open stream as a request in flight), or the scope it was requested in closes; any other frees it at once.
      return Effect.flatMap(
        Effect.flatMap(
          Effect.serviceOption(Scope.Scope),
          (outer) => Option.isSome(outer) ? Scope.fork(outer.value, ExecutionStrategy.sequential) : Scope.make()
        ),
        (scope) =>
          Effect.uninterruptibleMask((restore) =>
            Effect.matchCauseEffect(restore(Bulkhead.holdSlotsUntil(call, scope)), {
              onSuccess: (response) =>
                isBodiless(request, response) || !holdsSlot(response)
                  ? Effect.as(Scope.close(scope, Exit.void), response)
                  : Effect.succeed(new HeldResponse(response, scope)),
              onFailure: (cause) =>
                Effect.zipRight(Scope.close(scope, Exit.void), Effect.catchAll(Effect.failCause(cause), ended))
            })
          )
      )
    })
  })
}

/** Implements `ResilientHttpClient.make`, documented there. */
export const make = (
  client: HttpClient.HttpClient,
  options?: ResilientHttpClient.Options
): Effect.Effect<HttpClient.HttpClient, PolicyError.InvalidPolicyError, Scope.Scope> =>
  Effect.map(
    Resilience.make(options?.resilience, { classify: HttpClassify.errorOrTimeout }),
    (resilience) => wrap(client, resilience, options)
  )

/** Tells whether a value is an `HttpClient` (to tell `wrap`'s two call shapes apart). */
export const isHttpClient = (u: unknown): u is HttpClient.HttpClient => Predicate.hasProperty(u, HttpClient.TypeId)
