// The README's testing example, type-checked with the rest of the workspace (`pnpm check`).
import { Backoff, Retry } from "@effect-resilience/core"
import { FaultInjection, ScriptedProvider, VirtualTime } from "@effect-resilience/testing"
import { Effect } from "effect"

/** A provider that answers 429 (retry in 2 s), then 200: the retry waits exactly what it was told. */
export const honoursRetryAfter = Effect.gen(function*() {
  const provider = yield* ScriptedProvider.make<string, string>([
    ScriptedProvider.rateLimited({ retryAfter: "2 seconds" }),
    ScriptedProvider.succeed("hello")
  ])
  const { exit } = yield* VirtualTime.run(provider.call("hi").pipe(Retry.retry(Retry.standard)))
  const calls = yield* provider.calls
  return { exit, instants: calls.map((call) => call.at) } // instants: [0, 2000]
})

/** The same code under chaos: 10 % overloads and a 60 s outage, the same faults for the same seed. */
export const underChaos = Effect.gen(function*() {
  const chaos = yield* FaultInjection.make({
    errors: { overloaded: 0.1 },
    outages: [{ from: "10 seconds", to: "70 seconds" }],
    seed: 42
  })
  return yield* Effect.succeed("answer").pipe(FaultInjection.inject(chaos), Retry.retry(Retry.standard))
})

/** A backoff's delays, asserted in one line. */
export const delays = VirtualTime.expectDelays(Backoff.make({ base: 100, max: 400, jitter: "none" }), [
  100,
  200,
  400,
  400
])
