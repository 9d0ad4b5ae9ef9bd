/**
 * Runs the JSDoc examples of `ResilienceMetrics` as they are written (Examples.test.ts only type-checks them)
 * and checks that they read the numbers `Retry` writes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect"
import * as Duration from "effect/Duration"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import type * as MetricState from "effect/MetricState"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import * as Core from "../src/index.js"

const source = fs.readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/ResilienceMetrics.ts"),
  "utf8"
)

/** The ```ts example in the JSDoc right before `export const <name>`, compiled and run as a CommonJS module. */
const runExample = <Exports>(name: string): Exports => {
  const declaration = source.indexOf(`export const ${name}:`)
  const comment = source.slice(source.lastIndexOf("/**", declaration), declaration)
  const fenced = /```ts\n([\s\S]*?)```/.exec(comment)
  if (fenced === null) throw new Error(`no example for ${name}`)
  const code = fenced[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.CommonJS } }).outputText
  const modules: Record<string, unknown> = { "@effect-resilience/core": Core, "effect": Effect }
  const exports = {}
  new Function("exports", "require", js)(exports, (id: string) => modules[id])
  return exports as Exports
}

type Histogram = MetricState.MetricState.Histogram
type Counter = MetricState.MetricState.Counter<number>

const { Effect: E } = Effect

describe("ResilienceMetrics examples", () => {
  // Each call fails with a 429 asking for 2 s, then with 503s until the policy's 3 calls are made; a second
  // call asks for 10 minutes, beyond the 60 s ceiling.
  const scenario = (key: string) =>
    E.gen(function*() {
      let calls = 0
      const flaky = E.suspend(() =>
        E.fail(
          ++calls === 1
            ? new Core.ProviderError.TransientError({
              provider: "openai",
              reason: "RateLimited",
              retryAfter: Duration.seconds(2),
              message: "429"
            })
            : new Core.ProviderError.TransientError({ provider: "openai", reason: "ServerError", message: "503" })
        )
      )
      const policy = Core.Retry.policy({ key, maxAttempts: 3, backoff: Schedule.spaced("1 second") })
      const fiber = yield* E.fork(E.either(Core.Retry.retry(flaky, policy)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      const tooLong = new Core.ProviderError.TransientError({
        provider: "openai",
        reason: "RateLimited",
        retryAfter: Duration.minutes(10),
        message: "429"
      })
      yield* E.either(Core.Retry.retry(E.fail(tooLong), policy))
    })

  it.effect("retryDelay: reads each basis and both together", () =>
    E.gen(function*() {
      const key = "examples/retryDelay"
      yield* scenario(key)
      const example = runExample<{
        delays: (key: string, basis: string) => Effect.Effect.Effect<Histogram>
        allDelays: (key: string) => Effect.Effect.Effect<{ count: number; sum: number }>
      }>("retryDelay")
      const retryAfter = yield* example.delays(key, "RetryAfter")
      const backoff = yield* example.delays(key, "Backoff")
      expect([retryAfter.count, retryAfter.sum]).toEqual([1, 2000])
      expect([backoff.count, backoff.sum]).toEqual([1, 1000])
      expect(yield* example.allDelays(key)).toEqual({ count: 2, sum: 3000 })
      // What the examples used to read: a series tagged with the key alone, which nothing writes.
      const keyOnly = yield* Metric.value(Core.ResilienceMetrics.retryDelay.pipe(Metric.tagged("resilience.key", key)))
      expect(keyOnly.count).toBe(0)
    }))

  it.effect("retriesExhausted: reads one reason and every reason together", () =>
    E.gen(function*() {
      const key = "examples/retriesExhausted"
      yield* scenario(key)
      const example = runExample<{
        exhausted: (key: string, why: string) => Effect.Effect.Effect<Counter>
        exhaustedForAnyReason: (key: string) => Effect.Effect.Effect<number>
      }>("retriesExhausted")
      expect((yield* example.exhausted(key, "MaxAttempts")).count).toBe(1)
      expect((yield* example.exhausted(key, "RetryAfterBeyondCeiling")).count).toBe(1)
      expect(yield* example.exhaustedForAnyReason(key)).toBe(2)
      const keyOnly = yield* Metric.value(
        Core.ResilienceMetrics.retriesExhausted.pipe(Metric.tagged("resilience.key", key))
      )
      expect(keyOnly.count).toBe(0)
    }))

  it.effect("attempts: reads the successes of a key", () =>
    E.gen(function*() {
      yield* Core.Retry.retry(E.succeed("ok"), Core.Retry.policy({ key: "openai" }))
      const successes = runExample<{ successes: Effect.Effect.Effect<Counter> }>("attempts").successes
      expect((yield* successes).count).toBe(1)
    }))
})
