import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ProviderError } from "../src/index.js"

describe("ProviderError", () => {
  const transient = new ProviderError.TransientError({
    provider: "openai",
    reason: "RateLimited",
    status: 429,
    retryAfter: Duration.seconds(2),
    message: "Rate limit reached"
  })
  const permanent = new ProviderError.PermanentError({
    provider: "openai",
    reason: "ContextLengthExceeded",
    status: 400,
    message: "maximum context length is 128000 tokens"
  })

  it("are tagged errors with namespaced identifiers", () => {
    expect(transient._tag).toBe("TransientError")
    expect(permanent._tag).toBe("PermanentError")
    expect(transient).toBeInstanceOf(Error)
    expect(transient.message).toBe("Rate limit reached")
    expect(ProviderError.TransientError.identifier).toBe("@effect-resilience/core/TransientError")
    expect(ProviderError.PermanentError.identifier).toBe("@effect-resilience/core/PermanentError")
  })

  it("are told apart by the guards", () => {
    expect(ProviderError.isTransientError(transient)).toBe(true)
    expect(ProviderError.isPermanentError(transient)).toBe(false)
    expect(ProviderError.isProviderError(permanent)).toBe(true)
    expect(ProviderError.isProviderError(new Error("x"))).toBe(false)
    expect(Schema.is(ProviderError.ProviderError)(permanent)).toBe(true)
  })

  it("keep the original error as cause", () => {
    const original = new Error("socket hang up")
    const error = new ProviderError.TransientError({ provider: "p", reason: "Network", message: "x", cause: original })
    expect(error.cause).toBe(original)
  })

  it("reject an unknown reason", () => {
    expect(() => new ProviderError.TransientError({ provider: "p", reason: "Teapot" as "Network", message: "x" }))
      .toThrow()
  })

  it("expose their Retry-After", () => {
    expect(ProviderError.retryAfter(transient)).toEqual(Option.some(Duration.seconds(2)))
    expect(ProviderError.retryAfter(permanent)).toEqual(Option.none())
  })

  it.effect("can be caught by tag", () =>
    Effect.gen(function*() {
      const reason = yield* Effect.fail(transient).pipe(
        Effect.catchTag("TransientError", (error) => Effect.succeed(error.reason))
      )
      expect(reason).toBe("RateLimited")
    }))
})
