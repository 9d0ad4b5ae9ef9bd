import type { RateLimiter } from "@effect-resilience/core"
import type * as Headers from "@effect/platform/Headers"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RateLimitHeaders from "../RateLimitHeaders.js"

// Everything here is total: every function returns `None` (or `undefined` internally) for a value it cannot
// read, and none can throw, whatever the strings it is given. Headers come from the network.

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

const nanosPerMilli = 1_000_000n
const nanosPerSecond = 1_000_000_000n

/**
 * The longest wait any header may ask for: 7 days. No provider asks for more (daily quotas reset within 24 h),
 * and a larger value is more likely a unit error (milliseconds sent as seconds, an epoch timestamp sent as a
 * delta) than a real request, so it is no information at all. Whether to wait for a long but plausible value
 * ("retry in 10h") is the retry policy's ceiling to decide, not the parser's.
 */
const maxWaitNanos = 7n * 24n * 60n * 60n * nanosPerSecond
const maxWaitMillis = Number(maxWaitNanos / nanosPerMilli)

/**
 * A longer value is garbage: an HTTP-date is 29 characters, an RFC 3339 instant about 35, a number far fewer.
 * Bounding the length first also bounds the cost of parsing a hostile header.
 */
const maxValueLength = 256

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/** Strips HTTP optional whitespace (space and tab only: any other whitespace, e.g. U+00A0, makes a value invalid). */
const trimOws = (value: string): string => {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

const isOws = (code: number): boolean => code === 0x20 || code === 0x09

/** The trimmed value, or `undefined` when it is not a string, is empty, or is too long to be anything we read. */
const clean = (value: unknown): string | undefined => {
  if (typeof value !== "string" || value.length > maxValueLength) return undefined
  const trimmed = trimOws(value)
  return trimmed.length === 0 ? undefined : trimmed
}

const decimalPattern = /^(\d+)(?:\.(\d+))?$/

/**
 * The decimal `whole.fraction` times `unit`, rounded up to a whole number, so that a wait is never cut short.
 * BigInt keeps it exact: `1.1 * 1000` is `1100.0000000000002` in floating point.
 */
const scaledUp = (whole: string, fraction: string | undefined, unit: bigint): bigint => {
  let scaled = BigInt(whole) * unit
  if (fraction !== undefined) {
    const divisor = 10n ** BigInt(fraction.length)
    const part = BigInt(fraction) * unit
    scaled += part / divisor + (part % divisor === 0n ? 0n : 1n)
  }
  return scaled
}

/** A wait within the cap as a `Duration`, in whole milliseconds when it is a whole number of them. */
const waitFromNanos = (nanos: bigint): Option.Option<Duration.Duration> => {
  if (nanos < 0n || nanos > maxWaitNanos) return Option.none()
  return Option.some(
    nanos % nanosPerMilli === 0n ? Duration.millis(Number(nanos / nanosPerMilli)) : Duration.nanos(nanos)
  )
}

/** The wait until an instant: zero when it is past, nothing when it is further away than the cap. */
const waitUntil = (instantMillis: number, nowMillis: number): Option.Option<Duration.Duration> => {
  const millis = instantMillis - nowMillis
  if (!Number.isFinite(millis) || millis > maxWaitMillis) return Option.none()
  return Option.some(millis <= 0 ? Duration.zero : Duration.millis(millis))
}

/** A non-negative decimal number of `unitNanos`, e.g. Retry-After's delta-seconds or retry-after-ms. */
const parseDecimalWait = (value: string, unitNanos: bigint): Option.Option<Duration.Duration> => {
  const match = decimalPattern.exec(value)
  return match === null ? Option.none() : waitFromNanos(scaledUp(match[1], match[2], unitNanos))
}

const countPattern = /^\d+$/

/** A count (a limit, what remains of it): a non-negative whole number, exactly representable. */
const parseCount = (value: unknown): Option.Option<number> => {
  const text = clean(value)
  if (text === undefined || !countPattern.test(text)) return Option.none()
  const count = Number(text)
  return Number.isSafeInteger(count) ? Option.some(count) : Option.none()
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

const months: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11
}

const millisPer400Years = 146_097 * 86_400_000

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

const daysInMonth = (year: number, month: number): number =>
  month === 1 ? (isLeapYear(year) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]

/**
 * Milliseconds since the epoch of a UTC date and time, or `undefined` when a field is out of range (31 February,
 * 25 o'clock). Second 60 is a leap second and is allowed, as both RFC 5322 and RFC 3339 allow it.
 */
const utcMillis = (
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number
): number | undefined => {
  if (
    month < 0 || month > 11 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 60
  ) return undefined
  // Date.UTC reads years 0-99 as 1900-1999: shift by one 400-year Gregorian cycle, which has a whole number of days.
  return Date.UTC(year + 400, month, day, hour, minute, second) - millisPer400Years
}

// `name` is three ASCII letters (the patterns say so), which no key of Object.prototype is.
const monthOf = (name: string): number => months[name.toLowerCase()] ?? -1

// RFC 9110 §5.6.7: IMF-fixdate, and the two obsolete forms a recipient must still accept. Names are matched
// without regard to case, and the day name is not checked against the date: it is redundant, and a sloppy server's
// wrong weekday should not throw away a correct date.
const imfFixdate = /^(?:mon|tue|wed|thu|fri|sat|sun), (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
const rfc850Date =
  /^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
const asctimeDate = /^(?:mon|tue|wed|thu|fri|sat|sun) ([a-z]{3}) (\d{2}| \d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i

/** An HTTP-date in milliseconds since the epoch; `nowMillis` resolves the two-digit year of an RFC 850 date. */
const parseHttpDate = (value: string, nowMillis: number): number | undefined => {
  let match = imfFixdate.exec(value)
  if (match !== null) {
    return utcMillis(+match[3], monthOf(match[2]), +match[1], +match[4], +match[5], +match[6])
  }
  match = rfc850Date.exec(value)
  if (match !== null) {
    // RFC 9110: a two-digit year that appears more than 50 years in the future is the most recent past year
    // with the same last two digits; so it is the latest year with those digits at most 50 years from now.
    const thisYear = new Date(nowMillis).getUTCFullYear()
    if (!Number.isFinite(thisYear)) return undefined
    let year = thisYear - (thisYear % 100) + Number(match[3])
    if (year > thisYear + 50) year -= 100
    else if (year + 100 <= thisYear + 50) year += 100
    return utcMillis(year, monthOf(match[2]), +match[1], +match[4], +match[5], +match[6])
  }
  match = asctimeDate.exec(value)
  if (match !== null) {
    return utcMillis(+match[6], monthOf(match[1]), +match[2], +match[3], +match[4], +match[5])
  }
  return undefined
}

// RFC 3339 §5.6 date-time; its note allows a lower-case "t" and "z", and a space for "T".
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/** An RFC 3339 instant in milliseconds since the epoch (fractions of a millisecond rounded up). */
const parseRfc3339 = (value: string): number | undefined => {
  const match = rfc3339.exec(value)
  if (match === null) return undefined
  const base = utcMillis(+match[1], +match[2] - 1, +match[3], +match[4], +match[5], +match[6])
  if (base === undefined) return undefined
  const fraction = match[7] === undefined ? 0 : Number(scaledUp("0", match[7], 1_000n))
  if (match[8] !== undefined) return base + fraction
  const offsetHours = +match[10]
  const offsetMinutes = +match[11]
  if (offsetHours > 23 || offsetMinutes > 59) return undefined
  const offset = (offsetHours * 60 + offsetMinutes) * 60_000
  // The local time is `offset` ahead of UTC for "+hh:mm": subtract it to get UTC.
  return base + fraction + (match[9] === "+" ? -offset : offset)
}

// ---------------------------------------------------------------------------
// Public parsers
// ---------------------------------------------------------------------------

/** Implements `RateLimitHeaders.parseRetryAfter`, documented there. */
export const parseRetryAfter = (value: string, nowMillis: number): Option.Option<Duration.Duration> => {
  const text = clean(value)
  if (text === undefined) return Option.none()
  const delta = parseDecimalWait(text, nanosPerSecond)
  if (Option.isSome(delta)) return delta
  const instant = parseHttpDate(text, nowMillis)
  return instant === undefined ? Option.none() : waitUntil(instant, nowMillis)
}

/** Retry-After-Ms and x-ms-retry-after-ms: milliseconds, fractions allowed. */
const parseRetryAfterMillis = (value: unknown): Option.Option<Duration.Duration> => {
  const text = clean(value)
  return text === undefined ? Option.none() : parseDecimalWait(text, nanosPerMilli)
}

/** Nanoseconds per unit of a Go duration (`time.ParseDuration`); Go writes microseconds with a micro sign. */
const goUnits: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "µs": 1_000n, // U+00B5 MICRO SIGN
  "μs": 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: nanosPerMilli,
  s: nanosPerSecond,
  m: 60n * nanosPerSecond,
  h: 3_600n * nanosPerSecond
}

const goDuration = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/
const goComponent = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g

/** Implements `RateLimitHeaders.parseResetDuration`, documented there. */
export const parseResetDuration = (value: string): Option.Option<Duration.Duration> => {
  const text = clean(value)
  if (text === undefined) return Option.none()
  // A bare number is seconds: some OpenAI-compatible servers send "60" where OpenAI sends "1m0s".
  const seconds = parseDecimalWait(text, nanosPerSecond)
  if (Option.isSome(seconds) || !goDuration.test(text)) return seconds
  let nanos = 0n
  for (const [, whole, fraction, unit] of text.matchAll(goComponent)) {
    nanos += scaledUp(whole === "" ? "0" : whole, fraction === "" ? undefined : fraction, goUnits[unit])
  }
  return waitFromNanos(nanos)
}

const parseResetInstant = (value: unknown, nowMillis: number): Option.Option<Duration.Duration> => {
  const text = clean(value)
  if (text === undefined) return Option.none()
  const instant = parseRfc3339(text)
  return instant === undefined ? Option.none() : waitUntil(instant, nowMillis)
}

const parseBoolean = (value: unknown): Option.Option<boolean> => {
  const text = clean(value)
  if (text === undefined) return Option.none()
  const lower = text.toLowerCase()
  return lower === "true" ? Option.some(true) : lower === "false" ? Option.some(false) : Option.none()
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

type Lookup = (name: string) => unknown

const hasUpperCase = /[A-Z]/

/**
 * Reads headers by lower-case name. `Headers.fromInput` lower-cases names already; a `Headers` built otherwise
 * (`Headers.unsafeFromRecord`) may not have, and is read through a lower-cased copy, same-named values joined
 * with ", " as `fromInput` joins repeated headers (so that two values read as "multiple values", i.e. nothing).
 */
const lookupOf = (headers: Headers.Headers): Lookup => {
  if (typeof headers !== "object" || headers === null) return () => undefined
  const record = headers as unknown as Record<string, unknown>
  if (!Object.keys(record).some((name) => hasUpperCase.test(name))) {
    return (name) => Object.hasOwn(record, name) ? record[name] : undefined
  }
  const joined: Record<string, unknown> = Object.create(null)
  for (const name of Object.keys(record)) {
    const value = record[name]
    if (typeof value !== "string") continue
    const lower = name.toLowerCase()
    const previous = joined[lower]
    joined[lower] = typeof previous === "string" ? `${previous}, ${value}` : value
  }
  return (name) => Object.hasOwn(joined, name) ? joined[name] : undefined
}

const retryAfterOf = (get: Lookup, nowMillis: number): Option.Option<Duration.Duration> => {
  // A header that is present but unreadable is no information: the next one may still say something.
  const millis = parseRetryAfterMillis(get("retry-after-ms"))
  if (Option.isSome(millis)) return millis
  const azure = parseRetryAfterMillis(get("x-ms-retry-after-ms"))
  if (Option.isSome(azure)) return azure
  const value = get("retry-after")
  return typeof value === "string" ? parseRetryAfter(value, nowMillis) : Option.none()
}

const limitOf = (
  limit: Option.Option<number>,
  remaining: Option.Option<number>,
  reset: Option.Option<Duration.Duration>
): Option.Option<RateLimitHeaders.Limit> =>
  Option.isNone(limit) && Option.isNone(remaining) && Option.isNone(reset)
    ? Option.none()
    : Option.some({ limit, remaining, reset })

/** OpenAI: `x-ratelimit-limit-requests`, ... with Go durations for resets. */
const openAiLimit = (get: Lookup, resource: string): Option.Option<RateLimitHeaders.Limit> => {
  const reset = get(`x-ratelimit-reset-${resource}`)
  return limitOf(
    parseCount(get(`x-ratelimit-limit-${resource}`)),
    parseCount(get(`x-ratelimit-remaining-${resource}`)),
    typeof reset === "string" ? parseResetDuration(reset) : Option.none()
  )
}

/** Anthropic: `anthropic-ratelimit-requests-limit`, ... with RFC 3339 instants for resets. */
const anthropicLimit = (get: Lookup, resource: string, nowMillis: number): Option.Option<RateLimitHeaders.Limit> =>
  limitOf(
    parseCount(get(`anthropic-ratelimit-${resource}-limit`)),
    parseCount(get(`anthropic-ratelimit-${resource}-remaining`)),
    parseResetInstant(get(`anthropic-ratelimit-${resource}-reset`), nowMillis)
  )

/** Implements `RateLimitHeaders.retryAfter`, documented there. */
export const retryAfter = (headers: Headers.Headers, nowMillis: number): Option.Option<Duration.Duration> =>
  retryAfterOf(lookupOf(headers), nowMillis)

/** Implements `RateLimitHeaders.parse`, documented there. */
export const parse = (headers: Headers.Headers, nowMillis: number): RateLimitHeaders.Info => {
  const get = lookupOf(headers)
  return {
    retryAfter: retryAfterOf(get, nowMillis),
    shouldRetry: parseBoolean(get("x-should-retry")),
    // One provider's headers per group: OpenAI's when they say anything, else Anthropic's (never a mix).
    requests: Option.orElse(openAiLimit(get, "requests"), () => anthropicLimit(get, "requests", nowMillis)),
    tokens: Option.orElse(openAiLimit(get, "tokens"), () => anthropicLimit(get, "tokens", nowMillis)),
    inputTokens: anthropicLimit(get, "input-tokens", nowMillis),
    outputTokens: anthropicLimit(get, "output-tokens", nowMillis)
  }
}

/** Implements `RateLimitHeaders.parseEffect`, documented there. */
export const parseEffect = (headers: Headers.Headers): Effect.Effect<RateLimitHeaders.Info> =>
  Effect.map(Clock.currentTimeMillis, (now) => parse(headers, now))

/** Implements `RateLimitHeaders.toObservation`, documented there. */
export const toObservation = (info: RateLimitHeaders.Info): RateLimiter.Observation => {
  const observation: {
    limitRequests?: number
    limitTokens?: number
    remainingRequests?: number
    remainingTokens?: number
    resetRequests?: Duration.Duration
    resetTokens?: Duration.Duration
    retryAfter?: Duration.Duration
  } = {}
  if (Option.isSome(info.requests)) {
    const { limit, remaining, reset } = info.requests.value
    if (Option.isSome(limit)) observation.limitRequests = limit.value
    if (Option.isSome(remaining)) observation.remainingRequests = remaining.value
    if (Option.isSome(reset)) observation.resetRequests = reset.value
  }
  if (Option.isSome(info.tokens)) {
    const { limit, remaining, reset } = info.tokens.value
    if (Option.isSome(limit)) observation.limitTokens = limit.value
    if (Option.isSome(remaining)) observation.remainingTokens = remaining.value
    if (Option.isSome(reset)) observation.resetTokens = reset.value
  }
  if (Option.isSome(info.retryAfter)) observation.retryAfter = info.retryAfter.value
  return observation
}
