// The README's "Each policy alone" example, type-checked with the rest of the workspace (`pnpm check`).
import type { ProviderError } from "@effect-resilience/core"
import { Bulkhead, CircuitBreaker, Deadline, RateLimiter, Retry, RetryBudget, Timeout } from "@effect-resilience/core"
import { Effect } from "effect"

declare const callModel: Effect.Effect<string, ProviderError.ProviderError>

/** Every policy alone, composed by hand in the pipeline's order. */
export const program = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({ trip: CircuitBreaker.consecutive(5), breakDuration: "10 seconds" })
  const bulkhead = yield* Bulkhead.make({ maxConcurrent: 8, maxQueue: 32 })
  const limiter = yield* RateLimiter.make({ requestsPerMinute: 600, tokensPerMinute: 150_000 })
  const timeout = yield* Timeout.make({ after: "30 seconds" })
  const budget = yield* RetryBudget.tokenBucket()

  return yield* callModel.pipe(
    Timeout.protect(timeout),
    Bulkhead.protect(bulkhead),
    CircuitBreaker.protect(breaker),
    Retry.retry(Retry.policy({ budget })),
    Deadline.within({ after: "1 minute" }),
    RateLimiter.protect(limiter, { tokens: 1_200 })
  )
}).pipe(Effect.scoped)
