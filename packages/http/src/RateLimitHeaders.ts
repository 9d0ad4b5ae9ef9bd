/**
 * RateLimitHeaders: what a provider's response headers say about retrying
 * and about its rate limits, read without ever throwing.
 *
 * - When to retry: `retry-after-ms` (OpenAI; milliseconds, fractions
 *   allowed), then `x-ms-retry-after-ms` (Azure), then `retry-after` (delta
 *   seconds, fractions allowed, or an HTTP-date: IMF-fixdate and the obsolete
 *   RFC 850 and asctime forms, resolved against the current time; a date in
 *   the past means no wait). The first header that can be read wins: one that
 *   is present but unreadable does not hide the next.
 * - Whether to retry: `x-should-retry: true | false`.
 * - Rate limits: OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
 *   (resets as Go durations: `"1s"`, `"6m0s"`, `"12ms"`, `"1h2m3.5s"`) and
 *   Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 *   (resets as RFC 3339 instants, turned into the time left until them).
 *
 * Headers come from the network, so every value is suspect: a value that is
 * empty, negative, not a number, `NaN` or `Infinity`, in an unknown unit,
 * followed by junk, repeated (`"1, 2"`), non-ASCII, or longer than 256
 * characters is no information (`Option.none()` for its field), never an
 * exception. So is any wait longer than 7 days: no provider asks for one
 * (daily quotas reset within a day), and such a value is far more likely a
 * unit error (milliseconds sent as seconds, an epoch timestamp sent as a
 * delta) than a real request. A long but plausible wait ("retry in 10h")
 * comes through; whether it is worth waiting for is the retry policy's
 * `retryAfterCeiling` to decide.
 *
 * The results feed the rest of the library: `retryAfter` becomes a
 * `Classify.Transient` verdict's Retry-After, and `toObservation` turns the
 * limits into a `RateLimiter.Observation` for `RateLimiter.observe`, so that a
 * limiter slows down before the provider starts refusing calls.
 *
 * @since 0.1.0
 */
import type { RateLimiter } from "@effect-resilience/core"
import type * as Headers from "@effect/platform/Headers"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as internal from "./internal/rateLimitHeaders.js"

/**
 * One of a provider's rate limits (requests, or tokens) as its headers
 * describe it: each field is `None` when its header is absent or unreadable.
 *
 * @example
 * ```ts
 * import type { RateLimitHeaders } from "@effect-resilience/http"
 * import { Duration, Option } from "effect"
 *
 * const requests: RateLimitHeaders.Limit = {
 *   limit: Option.some(500),
 *   remaining: Option.some(499),
 *   reset: Option.some(Duration.millis(120))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Limit {
  /** The most the provider allows in its window (`x-ratelimit-limit-*`, `anthropic-ratelimit-*-limit`). */
  readonly limit: Option.Option<number>
  /** What is left of it now (`x-ratelimit-remaining-*`, `anthropic-ratelimit-*-remaining`). */
  readonly remaining: Option.Option<number>
  /** The time until it is replenished (`x-ratelimit-reset-*`, `anthropic-ratelimit-*-reset`); never negative. */
  readonly reset: Option.Option<Duration.Duration>
}

/**
 * Everything a response's headers say about retrying and rate limits; a
 * limit is `None` when none of its headers can be read.
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 * import { Option } from "effect"
 *
 * const info: RateLimitHeaders.Info = RateLimitHeaders.parse(Headers.fromInput({ "x-should-retry": "false" }), 0)
 * const giveUp = Option.contains(info.shouldRetry, false)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  /**
   * How long the provider asks to wait before the next call: `retry-after-ms`,
   * else `x-ms-retry-after-ms`, else `retry-after` (the first that can be
   * read). Zero for a Retry-After date in the past.
   */
  readonly retryAfter: Option.Option<Duration.Duration>
  /** The provider's own word on retrying (`x-should-retry: true | false`), which overrides the status code's. */
  readonly shouldRetry: Option.Option<boolean>
  /**
   * The request limit: OpenAI's `x-ratelimit-{limit,remaining,reset}-requests`
   * when any of them can be read, else Anthropic's
   * `anthropic-ratelimit-requests-{limit,remaining,reset}`.
   */
  readonly requests: Option.Option<Limit>
  /**
   * The token limit: OpenAI's `x-ratelimit-{limit,remaining,reset}-tokens`
   * when any of them can be read, else Anthropic's
   * `anthropic-ratelimit-tokens-{limit,remaining,reset}` (the most
   * restrictive of its token limits).
   */
  readonly tokens: Option.Option<Limit>
  /** Anthropic's input-token limit (`anthropic-ratelimit-input-tokens-{limit,remaining,reset}`). */
  readonly inputTokens: Option.Option<Limit>
  /** Anthropic's output-token limit (`anthropic-ratelimit-output-tokens-{limit,remaining,reset}`). */
  readonly outputTokens: Option.Option<Limit>
}

/**
 * Reads every retry and rate-limit header of a response, resolving dates
 * against `nowMillis` (milliseconds since the epoch); never throws.
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 *
 * const info = RateLimitHeaders.parse(
 *   Headers.fromInput({
 *     "Retry-After": "2",
 *     "x-ratelimit-remaining-requests": "0",
 *     "x-ratelimit-reset-requests": "6m0s"
 *   }),
 *   Date.now()
 * )
 * // info.retryAfter: Some(2 seconds); info.requests: Some({ remaining: Some(0), reset: Some(6 minutes), ... })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (headers: Headers.Headers, nowMillis: number) => Info = internal.parse

/**
 * Reads every retry and rate-limit header of a response, resolving dates
 * against effect's `Clock` (so `TestClock` controls them).
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 * import { HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const onResponse = (response: HttpClientResponse.HttpClientResponse) =>
 *   Effect.map(RateLimitHeaders.parseEffect(response.headers), (info) => info.retryAfter)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEffect: (headers: Headers.Headers) => Effect.Effect<Info> = internal.parseEffect

/**
 * How long a response asks to wait before the next call: `retry-after-ms`,
 * else `x-ms-retry-after-ms`, else `retry-after`, the first that can be read.
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 * import { Headers } from "@effect/platform"
 *
 * // Some(1500 millis): retry-after-ms is more precise than retry-after
 * RateLimitHeaders.retryAfter(Headers.fromInput({ "retry-after-ms": "1500", "retry-after": "2" }), Date.now())
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfter: (headers: Headers.Headers, nowMillis: number) => Option.Option<Duration.Duration> =
  internal.retryAfter

/**
 * Reads a `Retry-After` value, delta seconds (fractions allowed) or an
 * HTTP-date resolved against `nowMillis` (a past date is zero); `None` when
 * it is unreadable or longer than 7 days.
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 *
 * const now = Date.UTC(2025, 0, 1, 12, 0, 0)
 * RateLimitHeaders.parseRetryAfter("2.5", now) // Some(2500 millis)
 * RateLimitHeaders.parseRetryAfter("Wed, 01 Jan 2025 12:00:30 GMT", now) // Some(30 seconds)
 * RateLimitHeaders.parseRetryAfter("Wednesday, 01-Jan-25 12:00:30 GMT", now) // Some(30 seconds), RFC 850
 * RateLimitHeaders.parseRetryAfter("Wed Jan  1 12:00:30 2025", now) // Some(30 seconds), asctime
 * RateLimitHeaders.parseRetryAfter("soon", now) // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter: (value: string, nowMillis: number) => Option.Option<Duration.Duration> =
  internal.parseRetryAfter

/**
 * Reads an OpenAI rate-limit reset, a Go duration such as `"1s"`, `"6m0s"`,
 * `"12ms"` or `"1h2m3.5s"` (a bare number is seconds); `None` when it is
 * unreadable or longer than 7 days.
 *
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@effect-resilience/http"
 *
 * RateLimitHeaders.parseResetDuration("1h2m3.5s") // Some(3723500 millis)
 * RateLimitHeaders.parseResetDuration("12ms") // Some(12 millis)
 * RateLimitHeaders.parseResetDuration("5 fortnights") // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseResetDuration: (value: string) => Option.Option<Duration.Duration> = internal.parseResetDuration

/**
 * Turns what the headers say into a `RateLimiter.Observation`: the limits
 * per minute (`limitRequests`, `limitTokens`, from which a pipeline learns
 * its admission rate), what remains of them, their resets, the
 * Retry-After. Feed it to `Resilience.Service.observe` (a pipeline's learned
 * admission for a key) or `RateLimiter.observe` (a configured limiter).
 * `ResilientHttpClient` does it for every response.
 *
 * @example
 * ```ts
 * import { Resilience } from "@effect-resilience/core"
 * import { RateLimitHeaders } from "@effect-resilience/http"
 * import { HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const learn = (resilience: Resilience.Service, response: HttpClientResponse.HttpClientResponse) =>
 *   RateLimitHeaders.parseEffect(response.headers).pipe(
 *     Effect.flatMap((info) => resilience.observe("openai/gpt-4o", RateLimitHeaders.toObservation(info)))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toObservation: (info: Info) => RateLimiter.Observation = internal.toObservation
