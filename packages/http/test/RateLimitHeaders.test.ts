import * as Headers from "@effect/platform/Headers"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"

/** Wednesday 1 January 2025, 12:00:00 UTC: the "now" of every test that does not move it. */
const now = Date.UTC(2025, 0, 1, 12, 0, 0)

const sevenDaysMillis = 7 * 24 * 60 * 60 * 1000

/** A duration as milliseconds, so that expectations read as plain numbers and are exact. */
const millis = (option: Option.Option<Duration.Duration>): Option.Option<number> =>
  Option.map(option, Duration.toMillis)

const parse = (input: Record<string, string>, at: number = now): RateLimitHeaders.Info =>
  RateLimitHeaders.parse(Headers.fromInput(input), at)

const limit = (
  fields: { readonly limit?: number; readonly remaining?: number; readonly resetMillis?: number }
): Option.Option<{ limit: Option.Option<number>; remaining: Option.Option<number>; reset: Option.Option<number> }> =>
  Option.some({
    limit: Option.fromNullable(fields.limit),
    remaining: Option.fromNullable(fields.remaining),
    reset: Option.fromNullable(fields.resetMillis)
  })

const limitMillis = (option: Option.Option<RateLimitHeaders.Limit>) =>
  Option.map(option, (l) => ({ limit: l.limit, remaining: l.remaining, reset: millis(l.reset) }))

// ---------------------------------------------------------------------------
// Valid forms
// ---------------------------------------------------------------------------

describe("RateLimitHeaders.parseRetryAfter", () => {
  it.each([
    { value: "0", expected: 0 },
    { value: "1", expected: 1_000 },
    { value: "120", expected: 120_000 },
    { value: "0001", expected: 1_000 },
    { value: "1.5", expected: 1_500 },
    { value: "0.25", expected: 250 },
    { value: "1.1", expected: 1_100 },
    { value: "2.000", expected: 2_000 },
    { value: "0.0005", expected: 0.5 },
    { value: " 3 ", expected: 3_000 },
    { value: "\t4\t", expected: 4_000 },
    { value: "36000", expected: 36_000_000 },
    { value: "604800", expected: sevenDaysMillis }
  ])("reads delta-seconds $value exactly", ({ expected, value }) => {
    expect(millis(RateLimitHeaders.parseRetryAfter(value, now))).toEqual(Option.some(expected))
  })

  it("rounds a fraction finer than a nanosecond up, so that a wait is never cut short", () => {
    expect(RateLimitHeaders.parseRetryAfter("0.0000000001", now)).toEqual(Option.some(Duration.nanos(1n)))
  })

  it.each([
    { form: "IMF-fixdate", value: "Wed, 01 Jan 2025 12:00:30 GMT", expected: 30_000 },
    { form: "IMF-fixdate, next day", value: "Thu, 02 Jan 2025 12:00:00 GMT", expected: 86_400_000 },
    { form: "IMF-fixdate, lower case", value: "wed, 01 jan 2025 12:01:00 gmt", expected: 60_000 },
    { form: "IMF-fixdate, upper case", value: "WED, 01 JAN 2025 12:01:00 GMT", expected: 60_000 },
    {
      form: "IMF-fixdate, wrong weekday (redundant, ignored)",
      value: "Mon, 01 Jan 2025 12:00:05 GMT",
      expected: 5_000
    },
    { form: "IMF-fixdate, surrounding whitespace", value: "  Wed, 01 Jan 2025 12:00:30 GMT\t", expected: 30_000 },
    { form: "IMF-fixdate, exactly 7 days", value: "Wed, 08 Jan 2025 12:00:00 GMT", expected: sevenDaysMillis },
    { form: "RFC 850", value: "Wednesday, 01-Jan-25 12:00:30 GMT", expected: 30_000 },
    { form: "RFC 850, lower case", value: "wednesday, 01-jan-25 12:02:00 gmt", expected: 120_000 },
    { form: "asctime, space-padded day", value: "Wed Jan  1 12:00:30 2025", expected: 30_000 },
    { form: "asctime, two-digit day", value: "Thu Jan 02 12:00:00 2025", expected: 86_400_000 },
    { form: "asctime, lower case", value: "wed jan  1 12:00:10 2025", expected: 10_000 }
  ])("reads an HTTP-date ($form) as the time from now until it", ({ expected, value }) => {
    expect(millis(RateLimitHeaders.parseRetryAfter(value, now))).toEqual(Option.some(expected))
  })

  it.each([
    "Wed, 01 Jan 2025 11:59:59 GMT",
    "Wed, 01 Jan 2025 12:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "Sat, 01 Jan 0000 00:00:00 GMT"
  ])("reads an HTTP-date in the past or now (%s) as no wait", (value) => {
    expect(RateLimitHeaders.parseRetryAfter(value, now)).toEqual(Option.some(Duration.zero))
  })

  it("accepts a leap day and a leap second", () => {
    const at = Date.UTC(2028, 1, 29, 0, 0, 0)
    expect(millis(RateLimitHeaders.parseRetryAfter("Tue, 29 Feb 2028 00:00:01 GMT", at))).toEqual(Option.some(1_000))
    const beforeLeapSecond = Date.UTC(2016, 11, 31, 23, 59, 59)
    expect(millis(RateLimitHeaders.parseRetryAfter("Sat, 31 Dec 2016 23:59:60 GMT", beforeLeapSecond)))
      .toEqual(Option.some(1_000))
  })

  it("reads an RFC 850 two-digit year more than 50 years ahead as the most recent past such year", () => {
    // From 2099, "00" is 2100 (a day ahead), not 2000.
    const endOf2099 = Date.UTC(2099, 11, 31, 12, 0, 0)
    expect(millis(RateLimitHeaders.parseRetryAfter("Friday, 01-Jan-00 12:00:00 GMT", endOf2099)))
      .toEqual(Option.some(86_400_000))
    // From 2025, "76" is 1976 (past), not 2076.
    expect(RateLimitHeaders.parseRetryAfter("Thursday, 01-Jan-76 00:00:00 GMT", now)).toEqual(
      Option.some(Duration.zero)
    )
    // From 2025, "75" is 2075 (50 years ahead, not more): too far to wait for.
    expect(RateLimitHeaders.parseRetryAfter("Tuesday, 01-Jan-75 00:00:00 GMT", now)).toEqual(Option.none())
    // From 2025, "25" is 2025.
    expect(millis(RateLimitHeaders.parseRetryAfter("Wednesday, 01-Jan-25 12:00:01 GMT", now))).toEqual(
      Option.some(1_000)
    )
  })

  it("agrees with Date#toUTCString on any instant within 7 days of now", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: -sevenDaysMillis * 10, max: sevenDaysMillis }), (offset) => {
        const instant = now + offset
        const expected = Math.max(0, Math.floor(instant / 1000) * 1000 - now)
        expect(millis(RateLimitHeaders.parseRetryAfter(new Date(instant).toUTCString(), now)))
          .toEqual(Option.some(expected))
      })
    )
  })

  it("reads every whole number of seconds up to 7 days exactly", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: 0, max: sevenDaysMillis / 1000 }), (seconds) => {
        expect(millis(RateLimitHeaders.parseRetryAfter(String(seconds), now))).toEqual(Option.some(seconds * 1000))
      })
    )
  })
})

describe("RateLimitHeaders.parseResetDuration", () => {
  it.each([
    { value: "1s", expected: 1_000 },
    { value: "6m0s", expected: 360_000 },
    { value: "12ms", expected: 12 },
    { value: "1h2m3.5s", expected: 3_723_500 },
    { value: "0s", expected: 0 },
    { value: "0", expected: 0 },
    { value: "59.999s", expected: 59_999 },
    { value: "2m59.56s", expected: 179_560 },
    { value: "1.5h", expected: 5_400_000 },
    { value: "1.5m", expected: 90_000 },
    { value: ".5s", expected: 500 },
    { value: "1.s", expected: 1_000 },
    { value: "500us", expected: 0.5 },
    { value: "500µs", expected: 0.5 },
    { value: "500μs", expected: 0.5 },
    { value: "1500000ns", expected: 1.5 },
    { value: "1m30s", expected: 90_000 },
    { value: "10h", expected: 36_000_000 },
    { value: "24h0m0s", expected: 86_400_000 },
    { value: "168h", expected: sevenDaysMillis },
    { value: "60", expected: 60_000 },
    { value: "1.5", expected: 1_500 },
    { value: " 6m0s ", expected: 360_000 }
  ])("reads $value exactly", ({ expected, value }) => {
    expect(millis(RateLimitHeaders.parseResetDuration(value))).toEqual(Option.some(expected))
  })

  it("keeps whole milliseconds as milliseconds and finer values as nanoseconds", () => {
    expect(RateLimitHeaders.parseResetDuration("6m0s")).toEqual(Option.some(Duration.minutes(6)))
    expect(RateLimitHeaders.parseResetDuration("1.5ms")).toEqual(Option.some(Duration.nanos(1_500_000n)))
  })
})

describe("RateLimitHeaders.retryAfter", () => {
  it("prefers retry-after-ms to retry-after", () => {
    const headers = Headers.fromInput({ "retry-after": "2", "retry-after-ms": "1500" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(1_500))
  })

  it("prefers x-ms-retry-after-ms to retry-after", () => {
    const headers = Headers.fromInput({ "retry-after": "2", "x-ms-retry-after-ms": "250" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(250))
  })

  it("prefers retry-after-ms to x-ms-retry-after-ms", () => {
    const headers = Headers.fromInput({ "x-ms-retry-after-ms": "250", "retry-after-ms": "100" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(100))
  })

  it("prefers retry-after-ms to a retry-after HTTP-date", () => {
    const headers = Headers.fromInput({ "retry-after": "Wed, 01 Jan 2025 12:00:30 GMT", "retry-after-ms": "10" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(10))
  })

  it("reads retry-after-ms with a fraction exactly", () => {
    const headers = Headers.fromInput({ "retry-after-ms": "1500.25" })
    expect(RateLimitHeaders.retryAfter(headers, now)).toEqual(Option.some(Duration.nanos(1_500_250_000n)))
  })

  it("falls through a malformed retry-after-ms to x-ms-retry-after-ms", () => {
    const headers = Headers.fromInput({ "retry-after-ms": "soon", "x-ms-retry-after-ms": "300", "retry-after": "9" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(300))
  })

  it("falls through malformed millisecond headers to retry-after", () => {
    const headers = Headers.fromInput({ "retry-after-ms": "-1", "x-ms-retry-after-ms": "NaN", "retry-after": "9" })
    expect(millis(RateLimitHeaders.retryAfter(headers, now))).toEqual(Option.some(9_000))
  })

  it("says nothing when every header is malformed", () => {
    const headers = Headers.fromInput({ "retry-after-ms": "x", "x-ms-retry-after-ms": "y", "retry-after": "z" })
    expect(RateLimitHeaders.retryAfter(headers, now)).toEqual(Option.none())
  })

  it("says nothing without a header", () => {
    expect(RateLimitHeaders.retryAfter(Headers.empty, now)).toEqual(Option.none())
  })

  it("matches header names without regard to case, from a plain record or an unnormalised Headers", () => {
    expect(millis(RateLimitHeaders.retryAfter(Headers.fromInput({ "Retry-After": "2" }), now))).toEqual(
      Option.some(2_000)
    )
    expect(millis(RateLimitHeaders.retryAfter(Headers.fromInput({ "RETRY-AFTER-MS": "7" }), now))).toEqual(
      Option.some(7)
    )
    const raw = Headers.unsafeFromRecord({ "Retry-After": "3", "X-Ms-Retry-After-Ms": "40" })
    expect(millis(RateLimitHeaders.retryAfter(raw, now))).toEqual(Option.some(40))
  })

  it("reads a header repeated under names differing in case as multiple values: nothing", () => {
    const raw = Headers.unsafeFromRecord({ "Retry-After": "3", "retry-after": "4" })
    expect(RateLimitHeaders.retryAfter(raw, now)).toEqual(Option.none())
  })

  it("reads a header repeated in the input as multiple values: nothing", () => {
    expect(RateLimitHeaders.retryAfter(Headers.fromInput({ "retry-after": ["1", "2"] }), now)).toEqual(Option.none())
  })
})

describe("RateLimitHeaders.parse", () => {
  it("reads OpenAI's request and token limits", () => {
    const info = parse({
      "x-ratelimit-limit-requests": "10000",
      "x-ratelimit-remaining-requests": "9999",
      "x-ratelimit-reset-requests": "6ms",
      "x-ratelimit-limit-tokens": "2000000",
      "x-ratelimit-remaining-tokens": "1999520",
      "x-ratelimit-reset-tokens": "1h2m3.5s"
    })
    expect(limitMillis(info.requests)).toEqual(limit({ limit: 10_000, remaining: 9_999, resetMillis: 6 }))
    expect(limitMillis(info.tokens)).toEqual(limit({ limit: 2_000_000, remaining: 1_999_520, resetMillis: 3_723_500 }))
    expect(info.inputTokens).toEqual(Option.none())
    expect(info.outputTokens).toEqual(Option.none())
    expect(info.retryAfter).toEqual(Option.none())
    expect(info.shouldRetry).toEqual(Option.none())
  })

  it("reads Anthropic's four limits, resets as the time until an RFC 3339 instant", () => {
    const info = parse({
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2025-01-01T12:00:30Z",
      "anthropic-ratelimit-tokens-limit": "90000",
      "anthropic-ratelimit-tokens-remaining": "80000",
      "anthropic-ratelimit-tokens-reset": "2025-01-01T12:00:01.5Z",
      "anthropic-ratelimit-input-tokens-limit": "80000",
      "anthropic-ratelimit-input-tokens-remaining": "79000",
      "anthropic-ratelimit-input-tokens-reset": "2025-01-01T14:00:10+02:00",
      "anthropic-ratelimit-output-tokens-limit": "10000",
      "anthropic-ratelimit-output-tokens-remaining": "1000",
      "anthropic-ratelimit-output-tokens-reset": "2025-01-01T06:30:00-05:30",
      "retry-after": "30"
    })
    expect(limitMillis(info.requests)).toEqual(limit({ limit: 50, remaining: 0, resetMillis: 30_000 }))
    expect(limitMillis(info.tokens)).toEqual(limit({ limit: 90_000, remaining: 80_000, resetMillis: 1_500 }))
    expect(limitMillis(info.inputTokens)).toEqual(limit({ limit: 80_000, remaining: 79_000, resetMillis: 10_000 }))
    expect(limitMillis(info.outputTokens)).toEqual(limit({ limit: 10_000, remaining: 1_000, resetMillis: 0 }))
    expect(millis(info.retryAfter)).toEqual(Option.some(30_000))
  })

  it.each([
    { form: "lower-case t and z", value: "2025-01-01t12:00:05z", expected: 5_000 },
    { form: "space for T", value: "2025-01-01 12:00:05Z", expected: 5_000 },
    { form: "a fraction finer than a millisecond, rounded up", value: "2025-01-01T12:00:05.0001Z", expected: 5_001 },
    { form: "nine-digit fraction", value: "2025-01-01T12:00:05.123000000Z", expected: 5_123 },
    { form: "zero offset", value: "2025-01-01T12:00:05+00:00", expected: 5_000 },
    { form: "in the past", value: "2024-12-31T12:00:00Z", expected: 0 },
    { form: "now", value: "2025-01-01T12:00:00Z", expected: 0 },
    { form: "exactly 7 days ahead", value: "2025-01-08T12:00:00Z", expected: sevenDaysMillis }
  ])("reads an Anthropic reset with $form", ({ expected, value }) => {
    const info = parse({ "anthropic-ratelimit-tokens-reset": value })
    expect(limitMillis(info.tokens)).toEqual(limit({ resetMillis: expected }))
  })

  it("keeps a limit whose other headers are missing or malformed, field by field", () => {
    const info = parse({ "x-ratelimit-remaining-tokens": "12", "x-ratelimit-reset-tokens": "soon" })
    expect(limitMillis(info.tokens)).toEqual(limit({ remaining: 12 }))
    expect(info.requests).toEqual(Option.none())
  })

  it("reads OpenAI's limits, not Anthropic's, when a response carries both", () => {
    const info = parse({
      "x-ratelimit-remaining-requests": "7",
      "anthropic-ratelimit-requests-remaining": "3",
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-tokens-remaining": "100"
    })
    expect(limitMillis(info.requests)).toEqual(limit({ remaining: 7 }))
    expect(limitMillis(info.tokens)).toEqual(limit({ remaining: 100 }))
  })

  it("falls back to Anthropic's limits when OpenAI's are all malformed", () => {
    const info = parse({ "x-ratelimit-remaining-requests": "-1", "anthropic-ratelimit-requests-remaining": "3" })
    expect(limitMillis(info.requests)).toEqual(limit({ remaining: 3 }))
  })

  it.each([
    { value: "true", expected: true },
    { value: "false", expected: false },
    { value: "TRUE", expected: true },
    { value: "False", expected: false },
    { value: " true ", expected: true },
    { value: "\tfalse", expected: false }
  ])("reads x-should-retry: $value", ({ expected, value }) => {
    expect(parse({ "x-should-retry": value }).shouldRetry).toEqual(Option.some(expected))
  })

  it("matches header names without regard to case", () => {
    const info = parse({
      "X-RateLimit-Remaining-Requests": "5",
      "X-Should-Retry": "false",
      "Anthropic-RateLimit-Output-Tokens-Limit": "10"
    })
    expect(limitMillis(info.requests)).toEqual(limit({ remaining: 5 }))
    expect(info.shouldRetry).toEqual(Option.some(false))
    expect(limitMillis(info.outputTokens)).toEqual(limit({ limit: 10 }))
  })

  it("says nothing of headers it does not know", () => {
    expect(parse({ "content-type": "application/json", "x-request-id": "req_123" })).toEqual({
      retryAfter: Option.none(),
      shouldRetry: Option.none(),
      requests: Option.none(),
      tokens: Option.none(),
      inputTokens: Option.none(),
      outputTokens: Option.none()
    })
  })

  it("resolves dates against the given now, and says nothing of them when now is not a time", () => {
    const headers = {
      "retry-after": "Wed, 01 Jan 2025 12:00:30 GMT",
      "anthropic-ratelimit-tokens-reset": "2025-01-01T12:00:30Z"
    }
    expect(millis(parse(headers, now + 10_000).retryAfter)).toEqual(Option.some(20_000))
    const info = parse(headers, Number.NaN)
    expect(info.retryAfter).toEqual(Option.none())
    expect(info.tokens).toEqual(Option.none())
    expect(millis(parse({ "retry-after": "5" }, Number.NaN).retryAfter)).toEqual(Option.some(5_000))
  })
})

// ---------------------------------------------------------------------------
// Malformed values
// ---------------------------------------------------------------------------

interface Malformed {
  readonly name: string
  readonly read: () => Option.Option<unknown>
}

const malformed = (
  header: string,
  read: (value: string) => Option.Option<unknown>,
  cases: ReadonlyArray<readonly [why: string, value: string]>
): Array<Malformed> =>
  cases.map(([why, value]) => ({ name: `${header} ${JSON.stringify(value)} (${why})`, read: () => read(value) }))

/** Garbage that no numeric header may read as a number. */
const notANumber: ReadonlyArray<readonly [string, string]> = [
  ["empty", ""],
  ["whitespace only", "   "],
  ["negative", "-1"],
  ["negative fraction", "-0.5"],
  ["negative zero", "-0"],
  ["explicit plus sign", "+1"],
  ["NaN", "NaN"],
  ["nan", "nan"],
  ["Infinity", "Infinity"],
  ["-Infinity", "-Infinity"],
  ["exponent", "1e3"],
  ["hexadecimal", "0x10"],
  ["thousands separator", "1,000"],
  ["multiple values", "1, 2"],
  ["two numbers", "1 2"],
  ["semicolon list", "1;2"],
  ["a word", "soon"],
  ["number then junk", "1abc"],
  ["junk then number", "abc1"],
  ["two decimal points", "1.2.3"],
  ["lone dot", "."],
  ["fullwidth digits", "１２"],
  ["Arabic-Indic digits", "١٢"],
  ["superscript digit", "²"],
  ["no-break space", "1\u00a0"],
  ["em space", "\u20031"],
  ["zero-width space", "1\u200b"],
  ["null character", "1\u0000"],
  ["newline inside", "1\n2"],
  ["quoted", "\"1\""],
  ["null", "null"],
  ["absurdly large", "99999999999999999999999999"],
  ["absurdly long", "1".repeat(300)],
  ["emoji", "⏳"]
]

const retryAfterCases: Array<Malformed> = malformed(
  "retry-after",
  (value) => RateLimitHeaders.parseRetryAfter(value, now),
  [
    ...notANumber,
    ["trailing dot", "1."],
    ["leading dot", ".5"],
    ["unit suffix", "5s"],
    ["spelled-out unit", "5 seconds"],
    ["more than 7 days", "604801"],
    ["an epoch timestamp sent as a delta", "1735732830"],
    ["an epoch timestamp in milliseconds", "1735732830000"],
    ["UTC instead of GMT", "Wed, 01 Jan 2025 12:00:30 UTC"],
    ["no zone", "Wed, 01 Jan 2025 12:00:30"],
    ["numeric zone", "Wed, 01 Jan 2025 12:00:30 +0000"],
    ["single-digit day", "Wed, 1 Jan 2025 12:00:30 GMT"],
    ["two-digit year in IMF-fixdate", "Wed, 01 Jan 25 12:00:30 GMT"],
    ["no space after comma", "Wed,01 Jan 2025 12:00:30 GMT"],
    ["no day name", "01 Jan 2025 12:00:30 GMT"],
    ["unknown day name", "Xyz, 01 Jan 2025 12:00:30 GMT"],
    ["long day name in IMF-fixdate", "Wednesday, 01 Jan 2025 12:00:30 GMT"],
    ["unknown month", "Wed, 01 Foo 2025 12:00:30 GMT"],
    ["day 32", "Fri, 32 Jan 2025 12:00:30 GMT"],
    ["day 0", "Tue, 00 Jan 2025 12:00:30 GMT"],
    ["29 February of a common year", "Sat, 29 Feb 2025 12:00:30 GMT"],
    ["31 April", "Thu, 31 Apr 2025 12:00:30 GMT"],
    ["hour 24", "Wed, 01 Jan 2025 24:00:00 GMT"],
    ["minute 60", "Wed, 01 Jan 2025 12:60:00 GMT"],
    ["second 61", "Wed, 01 Jan 2025 12:00:61 GMT"],
    ["junk after the date", "Wed, 01 Jan 2025 12:00:30 GMT junk"],
    ["two dates", "Wed, 01 Jan 2025 12:00:30 GMT, Wed, 01 Jan 2025 12:00:31 GMT"],
    ["a date more than 7 days ahead", "Fri, 10 Jan 2025 12:00:00 GMT"],
    ["a date far in the future", "Fri, 31 Dec 9999 23:59:59 GMT"],
    ["RFC 850 with a short day name", "Wed, 01-Jan-25 12:00:30 GMT"],
    ["RFC 850 with a four-digit year", "Wednesday, 01-Jan-2025 12:00:30 GMT"],
    ["asctime with an unpadded day", "Wed Jan 1 12:00:30 2025"],
    ["asctime with a zone", "Wed Jan  1 12:00:30 2025 GMT"],
    ["an RFC 3339 instant", "2025-01-01T12:00:30Z"],
    ["a Go duration", "1m0s"],
    ["fullwidth letters in a date", "Ｗed, 01 Jan 2025 12:00:30 GMT"]
  ]
)

const retryAfterHeaderCases: Array<Malformed> = ["retry-after-ms", "x-ms-retry-after-ms"].flatMap((header) =>
  malformed(
    header,
    (value) => RateLimitHeaders.retryAfter(Headers.fromInput({ [header]: value }), now),
    [
      ...notANumber,
      ["unit suffix", "100ms"],
      ["more than 7 days", "604800001"],
      ["an HTTP-date", "Wed, 01 Jan 2025 12:00:30 GMT"]
    ]
  )
)

const resetDurationCases: Array<Malformed> = malformed(
  "x-ratelimit-reset-tokens",
  (value) => RateLimitHeaders.parseResetDuration(value),
  [
    ...notANumber,
    ["unit alone", "s"],
    ["milliseconds unit alone", "ms"],
    ["days are not a Go unit", "1d"],
    ["weeks are not a Go unit", "1w"],
    ["upper-case unit", "1S"],
    ["spelled-out unit", "1sec"],
    ["words", "5 fortnights"],
    ["space before unit", "1 s"],
    ["space between components", "1m 30s"],
    ["negative component", "1h-2m"],
    ["negative duration", "-1s"],
    ["two decimal points", "1.5.5s"],
    ["exponent with unit", "1e3s"],
    ["Infinity with unit", "Infinitys"],
    ["NaN with unit", "NaNs"],
    ["micro sign without s", "1µ"],
    ["unknown unit", "1x"],
    ["multiple values", "1s, 2s"],
    ["trailing comma", "1s,"],
    ["more than 7 days in hours", "169h"],
    ["more than 7 days in minutes", "10081m"],
    ["more than 7 days by a nanosecond", "168h1ns"],
    ["more than 7 days in bare seconds", "604801"],
    ["an RFC 3339 instant", "2025-01-01T12:00:30Z"],
    ["an HTTP-date", "Wed, 01 Jan 2025 12:00:30 GMT"],
    ["fullwidth unit", "1ｓ"]
  ]
)

const countCases: Array<Malformed> = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-tokens",
  "anthropic-ratelimit-requests-remaining",
  "anthropic-ratelimit-output-tokens-limit"
].flatMap((header) =>
  malformed(
    header,
    (value) => {
      const info = parse({ [header]: value })
      return Option.orElse(info.requests, () => Option.orElse(info.tokens, () => info.outputTokens))
    },
    [
      ...notANumber,
      ["fraction", "1.5"],
      ["beyond exact integers", "9007199254740993"],
      ["SI suffix", "10k"]
    ]
  )
)

const anthropicResetCases: Array<Malformed> = malformed(
  "anthropic-ratelimit-tokens-reset",
  (value) => parse({ "anthropic-ratelimit-tokens-reset": value }).tokens,
  [
    ...notANumber,
    ["no offset", "2025-01-01T12:00:30"],
    ["date only", "2025-01-01"],
    ["month 13", "2025-13-01T00:00:00Z"],
    ["30 February", "2025-02-30T00:00:00Z"],
    ["hour 25", "2025-01-01T25:00:00Z"],
    ["offset hour 24", "2025-01-01T12:00:30+24:00"],
    ["offset without colon", "2025-01-01T12:00:30+0000"],
    ["empty fraction", "2025-01-01T12:00:30.Z"],
    ["more than 7 days ahead", "2025-01-09T12:00:00Z"],
    ["far future", "9999-12-31T23:59:59Z"],
    ["an epoch timestamp", "1735732830"],
    ["junk after the instant", "2025-01-01T12:00:30Z junk"],
    ["two instants", "2025-01-01T12:00:30Z, 2025-01-01T12:00:31Z"],
    ["an HTTP-date", "Wed, 01 Jan 2025 12:00:30 GMT"],
    ["a Go duration", "30s"],
    ["expanded year", "+002025-01-01T12:00:30Z"],
    ["fullwidth digits", "２０２５-01-01T12:00:30Z"]
  ]
)

const shouldRetryCases: Array<Malformed> = malformed(
  "x-should-retry",
  (value) => parse({ "x-should-retry": value }).shouldRetry,
  [
    ["empty", ""],
    ["yes", "yes"],
    ["no", "no"],
    ["one", "1"],
    ["zero", "0"],
    ["prefix", "tru"],
    ["extra letter", "truee"],
    ["single letter", "t"],
    ["multiple values", "true, false"],
    ["repeated", "true,true"],
    ["quoted", "\"true\""],
    ["no-break space", "true\u00a0"],
    ["fullwidth", "ｔｒｕｅ"],
    ["dotless i trick", "truİ"],
    ["null", "null"]
  ]
)

const malformedCases: ReadonlyArray<Malformed> = [
  ...retryAfterCases,
  ...retryAfterHeaderCases,
  ...resetDurationCases,
  ...countCases,
  ...anthropicResetCases,
  ...shouldRetryCases
]

describe("malformed values are no information, never an exception", () => {
  it("covers at least 100 cases", () => {
    expect(malformedCases.length).toBeGreaterThanOrEqual(100)
  })

  it.each(malformedCases)("$name", ({ read }) => {
    expect(read).not.toThrow()
    expect(read()).toEqual(Option.none())
  })
})

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

const knownNames = [
  "retry-after",
  "retry-after-ms",
  "x-ms-retry-after-ms",
  "x-should-retry",
  ...["requests", "tokens"].flatMap((resource) =>
    ["limit", "remaining", "reset"].map((field) => `x-ratelimit-${field}-${resource}`)
  ),
  ...["requests", "tokens", "input-tokens", "output-tokens"].flatMap((resource) =>
    ["limit", "remaining", "reset"].map((field) => `anthropic-ratelimit-${resource}-${field}`)
  )
]

const headerName = FastCheck.oneof(
  FastCheck.constantFrom(...knownNames),
  FastCheck.constantFrom(...knownNames).map((name) => name.toUpperCase()),
  FastCheck.string({ unit: "binary" })
)

/** Values of every shape a header may carry: random code points, numbers, dates, durations and near-misses. */
const headerValue = FastCheck.oneof(
  FastCheck.string({ unit: "binary" }),
  FastCheck.string({ unit: "grapheme" }),
  FastCheck.string({ unit: FastCheck.constantFrom("0", "1", "9", ".", "-", "+", "e", " ", ",", "h", "m", "s", "µ") }),
  FastCheck.double().map(String),
  FastCheck.integer().map(String),
  FastCheck.bigInt().map(String),
  FastCheck.date({ noInvalidDate: true }).map((date) => date.toUTCString()),
  FastCheck.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  FastCheck.tuple(FastCheck.nat(), FastCheck.nat(), FastCheck.double({ min: 0, max: 1e6, noNaN: true }))
    .map(([h, m, s]) => `${h}h${m}m${s}s`),
  FastCheck.constantFrom("true", "false", "TRUE", "Infinity", "NaN", "-0", "1e309")
)

const nowArb = FastCheck.oneof(
  FastCheck.integer({ min: -8.64e15, max: 8.64e15 }),
  FastCheck.double(),
  FastCheck.constant(now)
)

/** Holds when the option is `None` or its value satisfies the predicate. */
const allOf = <A>(option: Option.Option<A>, predicate: (a: A) => boolean): boolean =>
  Option.isNone(option) || predicate(option.value)

const isSaneWait = (duration: Duration.Duration): boolean => {
  const ms = Duration.toMillis(duration)
  return Number.isFinite(ms) && ms >= 0 && ms <= sevenDaysMillis
}

const isSaneCount = (count: number): boolean => Number.isSafeInteger(count) && count >= 0

const isSaneLimit = (limit: RateLimitHeaders.Limit): boolean =>
  allOf(limit.limit, isSaneCount) && allOf(limit.remaining, isSaneCount) &&
  allOf(limit.reset, isSaneWait)

describe("laws", () => {
  it.prop(
    "parse never throws, and never gives a negative, non-finite or over-long wait, or a bad count",
    {
      entries: FastCheck.array(FastCheck.tuple(headerName, headerValue), { maxLength: 12 }),
      normalised: FastCheck.boolean(),
      at: nowArb
    },
    ({ at, entries, normalised }) => {
      const record = Object.fromEntries(entries)
      const headers = normalised ? Headers.fromInput(record) : Headers.unsafeFromRecord(record)
      const info = RateLimitHeaders.parse(headers, at)
      expect(allOf(info.retryAfter, isSaneWait)).toBe(true)
      for (const limit of [info.requests, info.tokens, info.inputTokens, info.outputTokens]) {
        expect(allOf(limit, isSaneLimit)).toBe(true)
      }
      const observation = RateLimitHeaders.toObservation(info)
      for (
        const count of [
          observation.limitRequests,
          observation.limitTokens,
          observation.remainingRequests,
          observation.remainingTokens
        ]
      ) {
        expect(count === undefined || isSaneCount(count)).toBe(true)
      }
    },
    { fastCheck: { numRuns: 2_000 } }
  )

  it.prop(
    "parseRetryAfter and parseResetDuration never throw and give only waits within 0..7 days",
    { value: headerValue, at: nowArb },
    ({ at, value }) => {
      expect(allOf(RateLimitHeaders.parseRetryAfter(value, at), isSaneWait)).toBe(true)
      expect(allOf(RateLimitHeaders.parseResetDuration(value), isSaneWait)).toBe(true)
    },
    { fastCheck: { numRuns: 2_000 } }
  )
})

// ---------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------

describe("RateLimitHeaders.parseEffect", () => {
  const headers = Headers.fromInput({
    "retry-after": "Wed, 01 Jan 2025 12:00:30 GMT",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2025-01-01T12:01:00Z"
  })

  it.effect("resolves dates against the Clock, which TestClock moves", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const first = yield* RateLimitHeaders.parseEffect(headers)
      expect(millis(first.retryAfter)).toEqual(Option.some(30_000))
      expect(limitMillis(first.requests)).toEqual(limit({ remaining: 0, resetMillis: 60_000 }))

      yield* TestClock.adjust("10 seconds")
      const later = yield* RateLimitHeaders.parseEffect(headers)
      expect(millis(later.retryAfter)).toEqual(Option.some(20_000))
      expect(limitMillis(later.requests)).toEqual(limit({ remaining: 0, resetMillis: 50_000 }))

      yield* TestClock.adjust("1 minute")
      const past = yield* RateLimitHeaders.parseEffect(headers)
      expect(past.retryAfter).toEqual(Option.some(Duration.zero))
      expect(limitMillis(past.requests)).toEqual(limit({ remaining: 0, resetMillis: 0 }))
    }))

  it.effect("reads delta-seconds the same whatever the time", () =>
    Effect.gen(function*() {
      const delta = Headers.fromInput({ "retry-after": "7" })
      const atEpoch = yield* RateLimitHeaders.parseEffect(delta)
      yield* TestClock.setTime(now)
      const atNow = yield* RateLimitHeaders.parseEffect(delta)
      expect(millis(atEpoch.retryAfter)).toEqual(Option.some(7_000))
      expect(millis(atNow.retryAfter)).toEqual(Option.some(7_000))
    }))
})

// ---------------------------------------------------------------------------
// Observation
// ---------------------------------------------------------------------------

describe("RateLimitHeaders.toObservation", () => {
  it("maps the limits, what remains of them, their resets, and the Retry-After", () => {
    const info = parse({
      "x-ratelimit-limit-requests": "100",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "10s",
      "x-ratelimit-limit-tokens": "30000",
      "x-ratelimit-remaining-tokens": "12000",
      "x-ratelimit-reset-tokens": "6s",
      "retry-after-ms": "1500"
    })
    expect(RateLimitHeaders.toObservation(info)).toEqual({
      limitRequests: 100,
      limitTokens: 30_000,
      remainingRequests: 0,
      resetRequests: Duration.seconds(10),
      remainingTokens: 12_000,
      resetTokens: Duration.seconds(6),
      retryAfter: Duration.millis(1500)
    })
  })

  it("leaves out what the headers do not say", () => {
    expect(RateLimitHeaders.toObservation(parse({}))).toStrictEqual({})
    expect(RateLimitHeaders.toObservation(parse({ "anthropic-ratelimit-tokens-remaining": "5" })))
      .toStrictEqual({ remainingTokens: 5 })
  })

  it("maps Anthropic's request and token limits, not its input and output token limits", () => {
    const info = parse({
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "3",
      "anthropic-ratelimit-requests-reset": "2025-01-01T12:00:20Z",
      "anthropic-ratelimit-input-tokens-remaining": "0",
      "anthropic-ratelimit-input-tokens-reset": "2025-01-01T12:00:40Z"
    })
    expect(RateLimitHeaders.toObservation(info)).toEqual({
      limitRequests: 50,
      remainingRequests: 3,
      resetRequests: Duration.seconds(20)
    })
  })
})
