// The README's quick start, type-checked with the rest of the workspace (`pnpm check`).
import type { ProviderError } from "@effect-resilience/core"
import { Classify, Resilience, ResilienceEvent, Retry } from "@effect-resilience/core"
import { Console, Effect } from "effect"

// Your provider call: any Effect. Fail with ProviderError (or pass a classifier for your own errors).
declare const callModel: (prompt: string) => Effect.Effect<string, ProviderError.ProviderError>

// 4 calls at most, 500 ms doubling to 30 s with full jitter, Retry-After honoured up to 60 s.
const policy = Retry.policy({ maxAttempts: 4, key: "openai/gpt-4o" })

/** A provider call retried by a policy, its decisions logged. */
export const program = Effect.gen(function*() {
  // Optional: watch every decision the policy takes.
  yield* ResilienceEvent.listen((event) => Console.log(ResilienceEvent.format(event)))
  // Same success and error types as `callModel`: on exhaustion you get the last provider error.
  return yield* callModel("Say hello").pipe(Retry.retry(policy))
}).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer()))

// Errors that are not ProviderErrors: say which ones are worth another call.
/** A classifier for errors that are not `ProviderError`s. */
export const classifyFetchErrors = Classify.make((error: { readonly status: number }) =>
  error.status === 429 || error.status >= 500
    ? Classify.transient(error.status === 429 ? "RateLimited" : "ServerError")
    : Classify.permanent("InvalidRequest")
)

// The whole pipeline: deadline → retry (+ budget) → admission → circuit breaker → bulkhead → attempt timeout.
/** The same call through the whole pipeline. */
export const withPipeline = Effect.gen(function*() {
  const resilience = yield* Resilience.Resilience
  return yield* resilience.run(callModel("Say hello"), { key: "openai/gpt-4o", tokens: 50 })
}).pipe(
  Effect.provide(Resilience.layer({
    rateLimiter: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
    deadline: "2 minutes",
    circuitBreaker: { trip: { kind: "consecutive", threshold: 5 } }
  }))
)
