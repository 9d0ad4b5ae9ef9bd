import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Bulkhead from "../src/Bulkhead.js"
import * as Resilience from "../src/Resilience.js"

describe("Bulkhead.holdSlotsUntil", () => {
  it.effect("keeps a successful call's slot until the scope closes; a failed call frees it at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ key: "hold", maxConcurrent: 1 })
      const scope = yield* Scope.make()
      yield* Bulkhead.protect(Effect.succeed("head"), bulkhead).pipe(Bulkhead.holdSlotsUntil(scope))
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0 })
      const refused = yield* Effect.flip(Bulkhead.protect(Effect.succeed(1), bulkhead))
      expect(Bulkhead.isBulkheadRejectedError(refused)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      const other = yield* Scope.make()
      yield* Effect.exit(Bulkhead.protect(Effect.fail("boom"), bulkhead).pipe(Bulkhead.holdSlotsUntil(other)))
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0 })
      yield* Scope.close(other, Exit.void)
    }))

  it.scoped("applies to the pipeline's bulkhead", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.make({
        retry: false,
        bulkhead: { maxConcurrent: 1, maxQueue: 0 },
        circuitBreaker: false
      })
      const scope = yield* Scope.make()
      yield* resilience.run(Effect.succeed("head"), { key: "k" }).pipe(Bulkhead.holdSlotsUntil(scope))
      const refused = yield* Effect.flip(resilience.run(Effect.succeed(1), { key: "k" }))
      expect(Bulkhead.isBulkheadRejectedError(refused)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(yield* resilience.run(Effect.succeed(2), { key: "k" })).toBe(2)
    }))
})
