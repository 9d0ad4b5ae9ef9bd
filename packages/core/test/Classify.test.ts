import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { Classify, ProviderError } from "../src/index.js"

describe("Classify", () => {
  it("classifies provider errors by the verdict they carry, Retry-After included", () => {
    const transient = new ProviderError.TransientError({
      provider: "anthropic",
      reason: "Overloaded",
      status: 529,
      retryAfter: Duration.seconds(4),
      message: "Overloaded"
    })
    expect(Classify.providerError(transient)).toEqual(
      Classify.transient("Overloaded", { retryAfter: Duration.seconds(4) })
    )
    expect(Classify.standard(transient)).toEqual(Classify.transient("Overloaded", { retryAfter: "4 seconds" }))
    const permanent = new ProviderError.PermanentError({
      provider: "openai",
      reason: "QuotaExhausted",
      status: 429,
      message: "You exceeded your current quota"
    })
    expect(Classify.standard(permanent)).toEqual(Classify.permanent("QuotaExhausted"))
  })

  it("treats what it does not know as permanent Unknown", () => {
    for (const error of [new Error("boom"), "a string", 42, null, undefined, { _tag: "TransientError" }]) {
      expect(Classify.standard(error)).toEqual(Classify.permanent("Unknown"))
    }
  })

  it("builds classifiers for foreign errors from rules, first match wins", () => {
    type AppError =
      | { readonly _tag: "Busy"; readonly waitMs: number }
      | { readonly _tag: "Gone" }
      | { readonly _tag: "BadInput" }
    const classify = Classify.firstOf<AppError>([
      Classify.tagged("Busy", (error) => Classify.transient("Overloaded", { retryAfter: error.waitMs })),
      Classify.tagged("Gone", Classify.transient("Unavailable")),
      Classify.when((error: AppError) => error._tag !== "BadInput", Classify.permanent("Unknown"))
    ], Classify.always(Classify.permanent("InvalidRequest")))
    expect(classify({ _tag: "Busy", waitMs: 250 })).toEqual(Classify.transient("Overloaded", { retryAfter: 250 }))
    expect(classify({ _tag: "Gone" })).toEqual(Classify.transient("Unavailable"))
    expect(classify({ _tag: "BadInput" })).toEqual(Classify.permanent("InvalidRequest"))
  })

  it("completes a rule with orElse, data-first and data-last", () => {
    const rule = Classify.when((error: unknown) => error instanceof TypeError, Classify.permanent("InvalidRequest"))
    const first = Classify.orElse(rule, Classify.always(Classify.transient("Network")))
    const last = Classify.orElse(Classify.always(Classify.transient("Network")))(rule)
    for (const classify of [first, last]) {
      expect(classify(new TypeError("x"))).toEqual(Classify.permanent("InvalidRequest"))
      expect(classify(new Error("x"))).toEqual(Classify.transient("Network"))
    }
  })

  it("classifies a wrapper by its inner error with mapInput", () => {
    const classify = Classify.mapInput(
      Classify.providerError,
      (wrapper: { readonly inner: ProviderError.ProviderError }) => wrapper.inner
    )
    const inner = new ProviderError.TransientError({ provider: "p", reason: "Network", message: "reset" })
    expect(classify({ inner })).toEqual(Classify.transient("Network"))
  })

  it("reads the Retry-After of a verdict", () => {
    expect(Classify.retryAfter(Classify.transient("RateLimited", { retryAfter: "2 seconds" }))).toEqual(
      Option.some(Duration.seconds(2))
    )
    expect(Classify.retryAfter(Classify.transient("RateLimited"))).toEqual(Option.none())
    expect(Classify.retryAfter(Classify.permanent("NotFound"))).toEqual(Option.none())
    expect(Classify.isTransient(Classify.transient("Timeout"))).toBe(true)
    expect(Classify.isPermanent(Classify.transient("Timeout"))).toBe(false)
  })

  it("lets any value carry its own verdict", () => {
    class CustomTimeout {
      [Classify.symbol]() {
        return Classify.transient("Timeout")
      }
    }
    expect(Classify.isClassifiable(new CustomTimeout())).toBe(true)
    expect(Classify.standard(new CustomTimeout())).toEqual(Classify.transient("Timeout"))
  })
})
