/**
 * The demo: a scripted, flaky LLM provider called through `Retry.retry`, then
 * a provider outage met by the whole `Resilience` pipeline.
 *
 * Each retry scenario gives the provider a script (what call 1, call 2, ...
 * answer), runs one request through the same retry policy, and prints the
 * policy's decisions as a timeline of `ResilienceEvent`s. The outage sends a
 * request every 100 ms to a provider that is down for its first 1.5 s, and
 * shows the circuit breaker open, refuse calls without sending them, probe,
 * and close. Waiting is real (about four seconds in all) and goes through
 * effect's `Clock`; the jitter is seeded, so every run makes the same decisions.
 *
 * Run it with `npx pnpm@10 demo`.
 */
import { ProviderError, Resilience, ResilienceEvent, Retry, SeededRandom } from "@effect-resilience/core"
import { Clock, Console, Duration, Effect, Either, Queue, Ref } from "effect"

// ---------------------------------------------------------------------------
// A scripted provider: call n answers with the n-th outcome of its script
// ---------------------------------------------------------------------------

type Outcome = string | ProviderError.ProviderError

// A real provider takes time to answer; without it, all the events of a call would show the same time.
const latency = Duration.millis(40)

const scriptedProvider = (script: ReadonlyArray<Outcome>) =>
  Effect.map(Ref.make(0), (calls) => ({
    calls: Ref.get(calls),
    complete: (_prompt: string): Effect.Effect<string, ProviderError.ProviderError> =>
      Ref.getAndUpdate(calls, (n) => n + 1).pipe(
        Effect.delay(latency),
        Effect.flatMap((n) => {
          if (n >= script.length) return Effect.dieMessage(`the script has no outcome for call ${n + 1}`)
          const outcome = script[n]
          return typeof outcome === "string" ? Effect.succeed(outcome) : Effect.fail(outcome)
        })
      )
  }))

// ---------------------------------------------------------------------------
// The scenarios, and the one policy they all run through
// ---------------------------------------------------------------------------

interface Scenario {
  readonly title: string
  readonly script: ReadonlyArray<Outcome>
  /** How many calls the policy should make; the demo fails if it makes another number. */
  readonly expectedCalls: number
}

const scenarios: ReadonlyArray<Scenario> = [
  {
    title: "Rate limited, then overloaded, then recovers",
    script: [
      new ProviderError.TransientError({
        provider: "demo",
        reason: "RateLimited",
        status: 429,
        retryAfter: Duration.millis(1200),
        message: "Rate limit reached for requests; please try again in 1.2s"
      }),
      new ProviderError.TransientError({
        provider: "demo",
        reason: "Overloaded",
        status: 503,
        message: "The model is overloaded"
      }),
      "Hello from the model"
    ],
    expectedCalls: 3
  },
  {
    title: "Bad API key: permanent, tried once",
    script: [
      new ProviderError.PermanentError({
        provider: "demo",
        reason: "Authentication",
        status: 401,
        message: "Invalid API key; check DEMO_API_KEY"
      })
    ],
    expectedCalls: 1
  },
  {
    title: "Retry-After beyond the ceiling: fails at once",
    script: [
      new ProviderError.TransientError({
        provider: "demo",
        reason: "RateLimited",
        status: 429,
        retryAfter: Duration.minutes(10),
        message: "Daily request limit reached; please try again in 10m"
      })
    ],
    expectedCalls: 1
  }
]

// At most 4 calls; 200 ms doubling to 2 s between them, full jitter; Retry-After honoured up to 60 s (the default).
const policy = Retry.policy({
  maxAttempts: 4,
  backoff: { base: "200 millis", max: "2 seconds", jitter: "full" },
  key: "demo-provider"
})

// ---------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------

interface Report {
  readonly scenario: Scenario
  readonly calls: number
  readonly elapsedMillis: number
  readonly result: Either.Either<string, ProviderError.ProviderError>
}

const formatElapsed = (millis: number): string => `+${String(millis).padStart(5)} ms`

const formatResult = Either.match({
  onRight: (text: string) => `✓ ${JSON.stringify(text)}`,
  onLeft: (error: ProviderError.ProviderError) => `✗ ${error._tag} (${error.reason})`
})

const runScenario = (scenario: Scenario, index: number): Effect.Effect<Report> =>
  Effect.gen(function*() {
    yield* Console.log(`\n${index + 1}. ${scenario.title}`)
    const provider = yield* scriptedProvider(scenario.script)

    // Subscribe before the call so that no event is missed; the queue keeps them until we read it.
    const events = yield* ResilienceEvent.subscribe
    const start = yield* Clock.currentTimeMillis
    const result = yield* provider.complete("Say hello").pipe(Retry.retry(policy), Effect.either)
    const elapsedMillis = (yield* Clock.currentTimeMillis) - start

    for (const event of yield* Queue.takeAll(events)) {
      yield* Console.log(`   ${formatElapsed(event.at - start)}  ${ResilienceEvent.format(event)}`)
    }
    const message = Either.isLeft(result) ? `: ${result.left.message}` : ""
    yield* Console.log(`   outcome: ${formatResult(result)}${message}`)
    return { scenario, calls: yield* provider.calls, elapsedMillis, result }
  }).pipe(Effect.scoped)

// ---------------------------------------------------------------------------
// An outage, met by the whole pipeline
// ---------------------------------------------------------------------------

const outage = Effect.gen(function*() {
  yield* Console.log(
    "\n4. Provider down for 1.5 s, one request every 100 ms, through Resilience.make(...)\n" +
      "   (breaker opens after 3 failures in a row, breaks 500 ms; 2 calls per request; retry budget)"
  )
  const resilience = yield* Resilience.make({
    circuitBreaker: {
      trip: { kind: "consecutive", threshold: 3 },
      breakDuration: { base: "500 millis", max: "500 millis", jitter: "none" }
    },
    retry: { maxAttempts: 2, backoff: { base: "50 millis", max: "50 millis", jitter: "none" } }
  })
  const start = yield* Clock.currentTimeMillis
  const providerCalls = yield* Ref.make(0)
  const provider = Effect.gen(function*() {
    yield* Ref.update(providerCalls, (n) => n + 1)
    yield* Effect.sleep(latency)
    const now = yield* Clock.currentTimeMillis
    if (now - start < 1500) {
      return yield* new ProviderError.TransientError({
        provider: "demo",
        reason: "Unavailable",
        status: 503,
        message: "Service Unavailable"
      })
    }
    return "ok"
  })
  const events = yield* ResilienceEvent.subscribe
  const requests = 25
  const results = yield* Effect.forEach(
    Array.from({ length: requests }, (_, i) => i),
    (i) =>
      resilience.run(provider, { key: "demo/model" }).pipe(
        Effect.either,
        Effect.delay(Duration.millis(i * 100))
      ),
    { concurrency: "unbounded" }
  )
  for (const event of yield* Queue.takeAll(events)) {
    // The breaker's story; every attempt's own events are in scenarios 1 to 3.
    if (event._tag.startsWith("Breaker")) {
      yield* Console.log(`   ${formatElapsed(event.at - start)}  ${ResilienceEvent.format(event)}`)
    }
  }
  const succeeded = results.filter(Either.isRight).length
  const refused = results.filter((r) => Either.isLeft(r) && r.left._tag === "CircuitOpenError").length
  const calls = yield* Ref.get(providerCalls)
  yield* Console.log(
    `   ${requests} requests: ${succeeded} succeeded, ${refused} refused by the open circuit without a call, ` +
      `${requests - succeeded - refused} failed; ${calls} provider calls (${
        (calls / requests).toFixed(2)
      } per request; ` +
      `a plain 2-call retry would send up to ${requests * 2})`
  )
  return { calls, succeeded }
}).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  yield* Console.log(
    "effect-resilience demo: a flaky LLM provider called through Retry.retry, with every decision the policy takes,\n" +
      "then an outage met by the whole pipeline.\n" +
      "Policy: at most 4 calls, backoff 200 ms doubling to 2 s with full jitter, Retry-After honoured up to 60 s."
  )
  const reports = yield* Effect.forEach(scenarios, runScenario)
  const outageReport = yield* outage

  yield* Console.log("\nSummary")
  const width = Math.max(...scenarios.map((scenario) => scenario.title.length))
  for (const [index, { calls, elapsedMillis, result, scenario }] of reports.entries()) {
    const unexpected = calls === scenario.expectedCalls ? "" : `  (expected ${scenario.expectedCalls} calls!)`
    yield* Console.log(
      `  ${index + 1}. ${scenario.title.padEnd(width)}  ${calls} call${calls === 1 ? " " : "s"}` +
        `  ${String(elapsedMillis).padStart(5)} ms  ${formatResult(result)}${unexpected}`
    )
  }
  yield* Console.log(
    `  4. Outage through the pipeline${
      " ".repeat(Math.max(0, width - 29))
    }  ${outageReport.calls} calls for 25 requests, ` +
      `${outageReport.succeeded} succeeded once the provider was back`
  )
  if (reports.some((report) => report.calls !== report.scenario.expectedCalls)) {
    return yield* Effect.dieMessage("a scenario did not make the expected number of calls")
  }
}).pipe(
  Effect.provide(ResilienceEvent.layer()),
  // Seeded jitter: the same delays on every run.
  Effect.provide(SeededRandom.layer("effect-resilience demo"))
)

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
