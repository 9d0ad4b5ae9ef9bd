/**
 * The things the benchmark measures: one call that succeeds at once, wrapped
 * (or not) by each retry mechanism under comparison.
 *
 * A variant runs a batch of `batchSize` sequential calls, so the fixed cost of
 * starting a fiber (`Runtime.runPromise`) or of the benchmark's own await is
 * spread over 100 calls instead of dominating the measurement. Every Effect
 * variant runs its batch with the same `Effect.forEach` in one fiber; every
 * Promise variant with the same `for` loop of awaits. Ratios within a family
 * are therefore ratios of per-call costs.
 *
 * @since 0.1.0
 */
import { Resilience, ResilienceEvent, Retry } from "@effect-resilience/core"
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Effect, Exit, Layer, ManagedRuntime, Runtime, Schedule, Scope } from "effect"

/** Calls per benchmark iteration; per-call figures are an iteration's time divided by this. */
export const batchSize = 100

/** Which way of running calls a variant uses: ratios to the bare effect only make sense within `"effect"`. */
export type Family = "effect" | "promise"

/** One measured row. */
export interface Variant {
  readonly name: string
  readonly family: Family
  /** A variant of ours, summarised at the end of the report. */
  readonly ours: boolean
  /** Makes `batchSize` sequential calls. */
  readonly runBatch: () => Promise<void>
  /** The row its summary line compares it with; cockatiel's retry when absent. */
  readonly comparedWith?: string | undefined
}

/**
 * Counts calls of the protected operation, so the benchmark can check that
 * each variant calls it exactly once per call (the happy path) before timing it.
 */
export const counter = { calls: 0 }

/** The protected operation: the cheapest effect that still does something observable. */
const call: Effect.Effect<number> = Effect.sync(() => {
  counter.calls++
  return 1
})

/** The same operation for the Promise world. */
const callPromise = (): Promise<number> => {
  counter.calls++
  return Promise.resolve(1)
}

const indices: ReadonlyArray<number> = Array.from({ length: batchSize }, (_, i) => i)

/** `batchSize` sequential runs of `effect` in one fiber. */
const batch = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, E, R> =>
  Effect.forEach(indices, () => effect, { discard: true })

/**
 * The runtimes every Effect variant runs on. Both are built once, the same way;
 * the second holds an enabled `ResilienceEvents` service, so the events variant
 * pays for publishing but never for building the layer.
 */
export interface Runtimes {
  readonly plain: Runtime.Runtime<never>
  readonly withEvents: Runtime.Runtime<ResilienceEvent.ResilienceEvents>
  /** The full pipeline, built once like an application builds it at start-up. */
  readonly resilience: Resilience.Service
  readonly dispose: () => Promise<void>
}

/** Builds the runtimes (and the pipeline) once, before anything is timed. */
export const makeRuntimes = async (): Promise<Runtimes> => {
  const plain = ManagedRuntime.make(Layer.empty)
  const withEvents = ManagedRuntime.make(ResilienceEvent.layer())
  const scope = Effect.runSync(Scope.make())
  const resilience = await plain.runPromise(
    // retry + budget + breaker + bulkhead (the defaults) and a 30 s attempt timeout, which never fires here
    Scope.extend(Resilience.make({ attemptTimeout: "30 seconds" }), scope)
  )
  return {
    plain: await plain.runtime(),
    withEvents: await withEvents.runtime(),
    resilience,
    dispose: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await plain.dispose()
      await withEvents.dispose()
    }
  }
}

/** Builds every variant, in the order they are reported. */
export const variants = (runtimes: Runtimes): ReadonlyArray<Variant> => {
  const runPlain = Runtime.runPromise(runtimes.plain)
  const runWithEvents = Runtime.runPromise(runtimes.withEvents)

  // Each wrapped effect is built once and run many times, as an effect value can be.
  const effectRetry = Effect.retry(
    call,
    Schedule.exponential("500 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
  )
  const ourRetry = Retry.retry(call, Retry.policy({ maxAttempts: 3 }))
  const ourRetryUntraced = Retry.retry(call, Retry.policy({ maxAttempts: 3, tracing: false }))

  // cockatiel's maxAttempts counts retries: 2 retries is 3 calls, as above.
  const cockatielPolicy = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() })
  // cockatiel's composite, outside in as ours: retry, breaker, timeout (30 s, never fires here).
  const cockatielComposite = wrap(
    cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(5) }),
    cockatielTimeout(30_000, TimeoutStrategy.Aggressive)
  )
  // As an application calls it: the pipeline is built once, `run` per call.
  const pipeline = Effect.suspend(() => runtimes.resilience.run(call, { key: "openai/gpt-4o" }))
  const effectTimeout = Effect.timeout(call, "30 seconds")

  const effectBatch = (name: string, effect: Effect.Effect<number>, ours: boolean): Variant => {
    const program = batch(effect)
    return { name, family: "effect", ours, runBatch: () => runPlain(program) }
  }
  const eventsProgram = batch(ourRetry)
  const pipelineWithEventsProgram = batch(pipeline)

  return [
    effectBatch("bare effect", call, false),
    effectBatch("Effect.retry", effectRetry, false),
    effectBatch("Retry.retry", ourRetry, true),
    effectBatch("Retry.retry tracing: false", ourRetryUntraced, true),
    { name: "Retry.retry + events", family: "effect", ours: true, runBatch: () => runWithEvents(eventsProgram) },
    effectBatch("Effect.timeout", effectTimeout as Effect.Effect<number>, false),
    {
      ...effectBatch("Resilience pipeline", pipeline as Effect.Effect<number>, true),
      comparedWith: baselines.cockatielComposite
    },
    {
      name: "Resilience pipeline + events",
      family: "effect",
      ours: true,
      runBatch: () => runWithEvents(pipelineWithEventsProgram),
      comparedWith: baselines.cockatielComposite
    },
    {
      name: "cockatiel retry",
      family: "promise",
      ours: false,
      runBatch: async () => {
        for (let i = 0; i < batchSize; i++) await cockatielPolicy.execute(callPromise)
      }
    },
    {
      name: baselines.cockatielComposite,
      family: "promise",
      ours: false,
      runBatch: async () => {
        for (let i = 0; i < batchSize; i++) await cockatielComposite.execute(callPromise)
      }
    },
    {
      name: "bare promise",
      family: "promise",
      ours: false,
      runBatch: async () => {
        for (let i = 0; i < batchSize; i++) await callPromise()
      }
    }
  ]
}

/** The names the report compares against. */
export const baselines = {
  effect: "bare effect",
  cockatiel: "cockatiel retry",
  cockatielComposite: "cockatiel wrap(retry, breaker, timeout)"
} as const
