import { RateLimitHeaders } from "@effect-resilience/http"
import * as Headers from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Random } from "effect"
import * as Provider from "../src/internal/provider.js"

const respond = (model: Provider.Model, now: number, tokens = 0) => Effect.runSync(model.respond(now, tokens))

const headers = (response: Provider.Response): Record<string, string> => ({ ...response.headers })

describe("Provider", () => {
  it("writes resets as Go durations, the format OpenAI sends and RateLimitHeaders reads", () => {
    const cases: ReadonlyArray<readonly [number, string]> = [
      [0, "0s"],
      [0.2, "1ms"],
      [120, "120ms"],
      [1000, "1s"],
      [8570, "8.57s"],
      [8500, "8.5s"],
      [60_000, "1m0s"],
      [360_000, "6m0s"],
      [3_723_500, "1h2m3.5s"]
    ]
    for (const [millis, text] of cases) {
      assert.strictEqual(Provider.goDuration(millis), text)
      assert.deepStrictEqual(
        Option.map(RateLimitHeaders.parseResetDuration(text), Duration.toMillis),
        Option.some(Math.ceil(millis))
      )
    }
  })

  it("sends OpenAI's rate-limit headers on every answer of a limited provider, describing its buckets", () => {
    // 60 RPM: a bucket of 1 request, one back per second; 6,000 TPM: a bucket of 6,000 tokens, 100 a second.
    const model = Provider.make({ requestsPerMinute: 60, tokensPerMinute: 6_000 }, Random.make(1))
    const first = respond(model, 0, 1_000)
    assert.strictEqual(first.status, 200)
    assert.deepStrictEqual(headers(first), {
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-limit-tokens": "6000",
      "x-ratelimit-remaining-tokens": "5000",
      "x-ratelimit-reset-tokens": "10s"
    })
    // Half a second later: half a request back (not a whole one), 50 tokens back.
    const early = respond(model, 500, 1_000)
    assert.strictEqual(early.status, 429)
    assert.deepStrictEqual(headers(early), {
      "retry-after": "1",
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "500ms",
      "x-ratelimit-limit-tokens": "6000",
      "x-ratelimit-remaining-tokens": "5050",
      "x-ratelimit-reset-tokens": "9.5s"
    })
    // A 429 takes nothing: at 1 s the request is back and the call passes.
    const later = respond(model, 1_000, 5_000)
    assert.strictEqual(later.status, 200)
    assert.strictEqual(headers(later)["x-ratelimit-remaining-tokens"], "100")
    assert.strictEqual(headers(later)["x-ratelimit-reset-tokens"], "59s")
    // Short of tokens (200 of 5,000): Retry-After is the time until enough are back, in whole seconds (4,800 at
    // 100/s: 48 s).
    const short = respond(model, 2_000, 5_000)
    assert.strictEqual(short.status, 429)
    assert.strictEqual(headers(short)["retry-after"], "48")
    assert.strictEqual(headers(short)["x-ratelimit-remaining-requests"], "1")
    assert.strictEqual(headers(short)["x-ratelimit-reset-requests"], "0s")
  })

  it("keeps remaining + reset × rate equal to the bucket's size, as RateLimitHeaders reads them", () => {
    const model = Provider.make({ requestsPerMinute: 600, tokensPerMinute: 200_000 }, Random.make(1))
    Effect.runSync(
      Effect.gen(function*() {
        let now = 0
        for (let i = 0; i < 500; i++) {
          now += yield* Random.nextIntBetween(0, 300)
          const cost = yield* Random.nextIntBetween(500, 5_000)
          const response = yield* model.respond(now, cost)
          const info = RateLimitHeaders.parse(response.headers, now)
          const observation = RateLimitHeaders.toObservation(info)
          for (
            const [remaining, reset, perMinute, capacity] of [
              [observation.remainingRequests, observation.resetRequests, 600, 10],
              [observation.remainingTokens, observation.resetTokens, 200_000, 200_000]
            ] as const
          ) {
            assert.isDefined(remaining)
            const refill = Duration.toMillis(Duration.decode(reset!)) * perMinute / 60_000
            // Whole units remaining (rounded down: less than one lost) and a reset rounded up to the millisecond.
            assert.isAbove(remaining! + refill, capacity - 1)
            assert.isAtMost(remaining! + refill, capacity + perMinute / 60_000 + 1e-9)
          }
          if (response.status === 429) assert.isTrue(Option.isSome(info.retryAfter))
        }
      }).pipe(Effect.withRandom(Random.make(7)))
    )
  })

  it("without rate-limit headers answers a 429 with its Retry-After only", () => {
    const model = Provider.make({ requestsPerMinute: 60, rateLimitHeaders: false }, Random.make(1))
    const ok = respond(model, 0)
    assert.strictEqual(ok.status, 200)
    assert.deepStrictEqual(headers(ok), {})
    const limited = respond(model, 100)
    assert.strictEqual(limited.status, 429)
    assert.deepStrictEqual(headers(limited), { "retry-after": "1" })
  })

  it("answers 503 without headers in an outage and for random faults, drawn from its own stream", () => {
    const model = Provider.make(
      { requestsPerMinute: 60, outages: [{ start: 1_000, end: 2_000 }], errorRate: 0.5 },
      Random.make(3)
    )
    const outage = respond(model, 1_500)
    assert.strictEqual(outage.status, 503)
    assert.strictEqual(outage.cause, "outage")
    assert.strictEqual(outage.headers, Headers.empty)
    // The same seed draws the same faults, call by call.
    const again = Provider.make({ errorRate: 0.5 }, Random.make(3))
    const other = Provider.make({ errorRate: 0.5 }, Random.make(3))
    const draws = (m: Provider.Model) => Array.from({ length: 20 }, (_, i) => respond(m, i * 10_000).cause)
    const sequence = draws(again)
    assert.deepStrictEqual(draws(other), sequence)
    assert.includeMembers(sequence, ["random", "success"])
  })
})
