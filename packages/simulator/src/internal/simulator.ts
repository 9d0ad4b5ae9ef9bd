import { Fallback, ProviderError, Resilience, ResilienceEvent, SeededRandom } from "@effect-resilience/core"
import * as RateLimitHeaders from "@effect-resilience/http/RateLimitHeaders"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Simulator from "../Simulator.js"
import * as Charts from "./charts.js"
import * as Provider from "./provider.js"
import { standardNormal } from "./random.js"
import * as Svg from "./svg.js"
import { markdown } from "./table.js"
import * as VirtualRuntime from "./virtualRuntime.js"

/** The key of the only provider of a scenario; with failover, `"primary"` and `"secondary"`. */
const KEY = "provider"

/** Draws one request's token cost from the scenario's distribution through `Random` (no draw when fixed). */
export const drawTokens = (cost: Simulator.TokenCost): Effect.Effect<number> => {
  if (typeof cost === "number") return Effect.succeed(cost)
  if (cost.distribution === "uniform") return Random.nextIntBetween(cost.min, cost.max + 1)
  // Log-normal: exp(ln(median) + sigma · z) for a standard normal z.
  return Effect.map(standardNormal, (z) => {
    const tokens = Math.ceil(cost.median * Math.exp(cost.sigma * z))
    return Math.max(1, cost.max === undefined ? tokens : Math.min(cost.max, tokens))
  })
}

/** Every request's token cost, in arrival order, drawn before the run from the scenario's seed. */
export const tokenCosts = (scenario: Simulator.Scenario): ReadonlyArray<number> | undefined =>
  scenario.tokens === undefined
    ? undefined
    : Effect.runSync(
      Effect.replicateEffect(drawTokens(scenario.tokens), scenario.requests).pipe(
        SeededRandom.withSeed(scenario.seed ?? 1)
      )
    )

const limited = (provider: Simulator.Provider): boolean =>
  provider.requestsPerMinute !== undefined || provider.tokensPerMinute !== undefined

/** When a request arrives (open loop; a closed loop has no schedule). */
const arrival = (scenario: Simulator.Scenario, index: number): number =>
  scenario.arrivalsPerSecond === undefined ? 0 : Math.floor(index * 1000 / scenario.arrivalsPerSecond)

/**
 * The completion of a perfect client: each request, in arrival order, sent at the first instant the provider's
 * buckets hold enough for it, answered after the latency. `undefined` without limits, with failover or in a closed
 * loop (whose arrivals depend on completions).
 */
export const idealCompletion = (
  scenario: Simulator.Scenario,
  costs: ReadonlyArray<number> | undefined
): number | undefined => {
  const provider = scenario.provider
  if (!limited(provider) || scenario.closedLoop !== undefined || scenario.failover !== undefined) return undefined
  const rpm = provider.requestsPerMinute
  const tpm = provider.tokensPerMinute
  const requests = rpm === undefined ? undefined : Provider.makeBucket(rpm, Math.max(1, rpm / 60))
  const tokens = tpm === undefined ? undefined : Provider.makeBucket(tpm, tpm)
  let t = 0
  for (let i = 0; i < scenario.requests; i++) {
    const cost = costs?.[i] ?? 0
    t = Math.max(t, arrival(scenario, i))
    // Floating-point refills may fall short by a hair: a few rounds settle it.
    for (let round = 0; round < 4; round++) {
      const wait = Math.max(requests?.wait(t, 1) ?? 0, tokens?.wait(t, cost) ?? 0)
      if (wait <= 1e-9) break
      t += wait
    }
    requests?.take(1)
    tokens?.take(cost)
  }
  return Math.ceil(t - 1e-6) + (provider.latency ?? 0)
}

/** The oracle's configuration: the policy's, with the rate limiter set to the provider's limits. */
const toldTheLimits = (config: Resilience.Config, provider: Simulator.Provider): Resilience.Config => {
  if (!limited(provider)) return config
  return {
    ...config,
    rateLimiter: {
      ...(provider.requestsPerMinute === undefined ? {} : { requestsPerMinute: provider.requestsPerMinute }),
      ...(provider.tokensPerMinute === undefined ? {} : { tokensPerMinute: provider.tokensPerMinute })
    }
  }
}

/** The simulator builds its errors from known-good fields: no need to validate them (a third of a run's time). */
const unchecked = { disableValidation: true } as const

interface Counters {
  calls: number
  successes: number
  rateLimited: number
  errors: number
  /** Send times of the calls made while the provider was down. */
  readonly down: Array<number>
  firstSuccessAfterOutage: number | undefined
}

/** Implements `Simulator.run`, documented there. */
export const run = (scenario: Simulator.Scenario, policy: Simulator.Policy): Simulator.Metrics => {
  const seed = scenario.seed ?? 1
  const models = scenario.failover === undefined ? [scenario.provider] : [scenario.provider, scenario.failover]
  const keys = models.length === 1 ? [KEY] : ["primary", "secondary"]
  // Each provider draws its faults from a stream of its own, so every policy meets the same faults call by call.
  const providers = models.map((model, i) => Provider.make(model, Random.make(`${seed}/${keys[i]}`)))
  const counters: Array<Counters> = models.map(() => ({
    calls: 0,
    successes: 0,
    rateLimited: 0,
    errors: 0,
    down: [],
    firstSuccessAfterOutage: undefined
  }))
  const lastOutageEnd = models.map((model) => (model.outages ?? []).reduce((end, o) => Math.max(end, o.end), -Infinity))
  const trace: Array<Simulator.CallRecord> = []
  let earlyRetries = 0
  const costs = tokenCosts(scenario)
  /** The configuration of provider `i`'s pipeline: the oracle is told that provider's own limits. */
  const configFor = (i: number): Resilience.Config | undefined =>
    policy.config === "none"
      ? undefined
      : policy.oracle === true
      ? toldTheLimits(policy.config, models[i]!)
      : policy.config
  const config = configFor(0)

  /** One call to provider `i`, sent now: the modelled answer, read by the client as `ResilientHttpClient` does. */
  const call = (
    i: number,
    key: string,
    tokens: number,
    pipeline: Resilience.Service | undefined,
    retryAfterUntil: Array<number>
  ): Effect.Effect<number, ProviderError.TransientError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const provider = providers[i]!
      const count = counters[i]!
      count.calls++
      if (now < retryAfterUntil[i]!) earlyRetries++
      if (provider.down(now)) count.down.push(now)
      return Effect.flatMap(provider.respond(now, tokens), (response) =>
        Effect.zipRight(
          Effect.sleep(Duration.millis(provider.latency)),
          Effect.suspend(() => {
            const arrived = now + provider.latency
            // A pipeline whose rate limiter is turned off has nothing to learn, and is not fed (as
            // `ResilientHttpClient` does not).
            const observe = pipeline !== undefined && models[i]!.rateLimitHeaders !== false &&
                pipeline.config.rateLimiter !== false
              ? pipeline.observe(
                key,
                RateLimitHeaders.toObservation(RateLimitHeaders.parse(response.headers, arrived))
              )
              : Effect.void
            const record = (outcome: Simulator.CallRecord["outcome"]) =>
              trace.push(keys.length === 1 ? { at: now, outcome } : { at: now, outcome, provider: keys[i]! })
            if (response.status === 200) {
              count.successes++
              record("success")
              if (now >= lastOutageEnd[i]! && count.firstSuccessAfterOutage === undefined) {
                count.firstSuccessAfterOutage = now
              }
              return Effect.as(observe, i)
            }
            let error: ProviderError.TransientError
            if (response.status === 429) {
              count.rateLimited++
              record("rateLimited")
              const retryAfter = Option.getOrUndefined(RateLimitHeaders.retryAfter(response.headers, arrived))
              if (retryAfter !== undefined) retryAfterUntil[i] = now + Duration.toMillis(retryAfter)
              error = new ProviderError.TransientError({
                provider: keys[i]!,
                reason: "RateLimited",
                status: 429,
                ...(retryAfter === undefined ? {} : { retryAfter }),
                message: "rate limited"
              }, unchecked)
            } else {
              count.errors++
              record("error")
              error = new ProviderError.TransientError({
                provider: keys[i]!,
                reason: "Unavailable",
                status: 503,
                message: response.cause === "outage" ? "provider outage" : "random 503"
              }, unchecked)
            }
            return Effect.zipRight(observe, Effect.fail(error))
          })
        ))
    })

  const latencies: Array<number> = []
  const succeeded: Array<number> = []
  const rejections: Array<number> = []
  let rejectedLocally = 0
  let failedOver = 0
  let completedAt = 0
  const perRequest = policy.shared !== true

  const workload = Effect.gen(function*() {
    // One pipeline per provider, as `FailoverLanguageModel` builds one per step. A per-request policy runs each
    // request under a key of its own (`provider#17`): every policy keeps its state per key, so that is a fresh
    // pipeline per request, without validating the configuration again for each (the cost of `make`).
    const own = config === undefined
      ? undefined
      : yield* Effect.forEach(keys, (_, i) => Resilience.make(configFor(i)))
    const request = (index: number) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const tokens = costs?.[index]
        const retryAfterUntil = keys.map(() => -Infinity)
        const keyOf = (i: number) => perRequest ? `${keys[i]!}#${index}` : keys[i]!
        const attempt = (i: number) => call(i, keyOf(i), tokens ?? 0, own?.[i], retryAfterUntil)
        let served: Effect.Effect<number, unknown>
        if (keys.length === 1) {
          served = own === undefined
            ? attempt(0)
            : own[0]!.run(attempt(0), tokens === undefined ? { key: keyOf(0) } : { key: keyOf(0), tokens })
        } else {
          const steps = keys.map((key, i): Fallback.Step<unknown, number, unknown, never> =>
            own === undefined
              ? Fallback.step(key, attempt(i), { key })
              : Fallback.step(key, attempt(i), { resilience: own[i]!, key: keyOf(i), tokens })
          )
          served = Fallback.make([steps[0]!, ...steps.slice(1)]).run()
        }
        const outcome = yield* served.pipe(
          Effect.map((i) => i === 0 ? "success" as const : "failedOver" as const),
          Effect.catchAll((error) =>
            Effect.succeed(Resilience.isPolicyRejection(error) ? "rejected" as const : "failed" as const)
          )
        )
        const end = yield* Clock.currentTimeMillis
        latencies.push(end - start)
        completedAt = Math.max(completedAt, end)
        if (outcome === "success" || outcome === "failedOver") succeeded.push(end - start)
        if (outcome === "failedOver") failedOver++
        if (outcome === "rejected") {
          rejectedLocally++
          rejections.push(end)
        }
      })
    const closed = scenario.closedLoop
    if (closed !== undefined) {
      // Closed loop: each client issues its next request when the previous one completes (after a think time).
      let next = 0
      const client = Effect.whileLoop({
        while: () => next < scenario.requests,
        body: () =>
          request(next++).pipe(
            Effect.zipRight(
              closed.thinkTime === undefined ? Effect.void : Effect.sleep(Duration.millis(closed.thinkTime))
            )
          ),
        step: () => undefined
      })
      yield* Effect.all(Array.from({ length: Math.min(closed.clients, scenario.requests) }, () => client), {
        concurrency: "unbounded",
        discard: true
      })
    } else {
      // Open loop: requests arrive on their own schedule, whatever happened to the earlier ones.
      yield* Effect.forEach(
        Array.from({ length: scenario.requests }, (_, i) => i),
        (i) =>
          scenario.arrivalsPerSecond === undefined
            ? request(i)
            : Effect.zipRight(Effect.sleep(Duration.millis(arrival(scenario, i))), request(i)),
        { concurrency: "unbounded", discard: true }
      )
    }
  })

  // Breaker openings are read from the library's own events, where a provider goes down.
  const opened: Array<{ readonly key: string; readonly at: number }> = []
  const outages = models.some((model) => (model.outages ?? []).length > 0)
  const sink: ResilienceEvent.Sink = {
    enabled: true,
    publish: (event) => {
      if (event._tag === "BreakerOpened") opened.push({ key: event.key, at: event.at })
      return Effect.void
    },
    subscribe: Effect.dieMessage("the simulator's event sink only records breaker openings")
  }
  VirtualRuntime.runWorkload(
    `the policy "${policy.name}" in "${scenario.name}"`,
    workload.pipe(
      Effect.scoped,
      outages ? Effect.provideService(ResilienceEvent.ResilienceEvents, sink) : (effect) => effect,
      SeededRandom.withSeed(seed),
      Effect.orDie
    ),
    { horizon: scenario.horizon ?? "1 hour" }
  )
  latencies.sort((a, b) => a - b)
  succeeded.sort((a, b) => a - b)

  // The provider that goes down (the primary with failover): its breaks, the calls in each, its recovery.
  const downIndex = models.findIndex((model) => (model.outages ?? []).length > 0)
  const windows = downIndex === -1 ? [] : models[downIndex]!.outages!
  const within = (at: number) => windows.find((o) => at >= o.start && at < o.end)
  const openings = downIndex === -1
    ? []
    : opened.filter((o) => o.key.split("#")[0] === keys[downIndex] && within(o.at) !== undefined).map((o) => o.at).sort(
      (a, b) => a - b
    )
  let callsPerBreak: number | undefined
  openings.forEach((from, j) => {
    // A call sent at the very instant of an opening was sent before it (the breaker refuses calls once open): it
    // belongs to what tripped the breaker, not to the break.
    const until = Math.min(openings[j + 1] ?? Infinity, within(from)!.end)
    const calls = counters[downIndex]!.down.filter((at) => at > from && at < until).length
    callsPerBreak = Math.max(callsPerBreak ?? 0, calls)
  })
  const callsBeforeBreak = openings.length === 0
    ? undefined
    : counters[downIndex]!.down.filter((at) => at <= openings[0]!).length
  const total = (f: (c: Counters) => number) => counters.reduce((sum, c) => sum + f(c), 0)
  const calls = total((c) => c.calls)
  const rateLimited = total((c) => c.rateLimited)
  const successes = succeeded.length
  const ideal = idealCompletion(scenario, costs)
  const firstAfter = downIndex === -1 ? undefined : counters[downIndex]!.firstSuccessAfterOutage
  return {
    scenario: scenario.name,
    policy: policy.name,
    pipeline: config === undefined ? "none" : policy.shared === true ? "shared" : "per request",
    requests: scenario.requests,
    successRate: successes / scenario.requests,
    rejectedLocally,
    amplification: calls / scenario.requests,
    calls,
    wastedCalls: rateLimited + total((c) => c.errors),
    rateLimitedPerSuccess: successes === 0 ? NaN : rateLimited / successes,
    p50: Duration.millis(Charts.percentile(latencies, 0.5)),
    p95: Duration.millis(Charts.percentile(latencies, 0.95)),
    p99: Duration.millis(Charts.percentile(latencies, 0.99)),
    completion: Duration.millis(completedAt),
    ideal: ideal === undefined ? undefined : Duration.millis(ideal),
    outageCalls: downIndex === -1 ? undefined : total((c) => c.down.length),
    breaks: downIndex === -1 ? undefined : openings.length,
    callsPerBreak,
    callsBeforeBreak,
    recovery: downIndex === -1 || firstAfter === undefined
      ? undefined
      : Duration.millis(firstAfter - lastOutageEnd[downIndex]!),
    failedOver: keys.length === 1 ? undefined : failedOver,
    earlyRetries: models.some(limited) ? earlyRetries : undefined,
    trace: { calls: trace, latencies, succeeded, rejections }
  }
}

/** Milliseconds of a duration. */
export const millis = (d: Duration.Duration): number => Duration.toMillis(d)

/** Seconds with one decimal, or a dash when not applicable. */
const seconds = (d: Duration.Duration | undefined): string => {
  if (d === undefined) return "–"
  const ms = Duration.toMillis(d)
  return Number.isNaN(ms) ? "–" : `${(ms / 1000).toFixed(1)} s`
}

const count = (n: number | undefined): string => n === undefined ? "–" : String(n)

/** Implements `Simulator.table`, documented there: the columns that apply to the rows' scenario. */
export const table = (rows: ReadonlyArray<Simulator.Metrics>): string => {
  const isLimited = rows.some((m) => m.earlyRetries !== undefined)
  const hasOutage = rows.some((m) => m.outageCalls !== undefined)
  const hasFailover = rows.some((m) => m.failedOver !== undefined)
  const columns: Array<readonly [string, (m: Simulator.Metrics) => string]> = [
    ["policy", (m) => m.policy],
    ["success", (m) => `${(m.successRate * 100).toFixed(1)} %`],
    ["rejected locally", (m) => String(m.rejectedLocally)],
    ["calls/request", (m) => m.amplification.toFixed(3)],
    ["wasted calls", (m) => String(m.wastedCalls)],
    ...(isLimited
      ? [
        [
          "429s/success",
          (m: Simulator.Metrics) => Number.isNaN(m.rateLimitedPerSuccess) ? "–" : m.rateLimitedPerSuccess.toFixed(3)
        ] as const
      ]
      : []),
    ["p50", (m) => seconds(m.p50)],
    ["p95", (m) => seconds(m.p95)],
    ["p99", (m) => seconds(m.p99)],
    ["completion", (m) => seconds(m.completion)],
    ...(hasOutage
      ? [
        [hasFailover ? "calls to the down primary" : "calls in outage", (m: Simulator.Metrics) => count(m.outageCalls)],
        ["breaks", (m: Simulator.Metrics) => count(m.breaks)],
        ["most calls in a break", (m: Simulator.Metrics) => count(m.callsPerBreak)],
        [hasFailover ? "back on the primary" : "recovery", (m: Simulator.Metrics) => seconds(m.recovery)]
      ] as const
      : []),
    ...(hasFailover ? [["served by the secondary", (m: Simulator.Metrics) => count(m.failedOver)] as const] : []),
    ...(isLimited ? [["early retries", (m: Simulator.Metrics) => count(m.earlyRetries)] as const] : [])
  ]
  return markdown(columns.map(([name]) => name), rows.map((m) => columns.map(([, cell]) => cell(m))))
}

/** A bucket width as text: `"50 ms"`, `"5 s"`. */
const width = (ms: number): string => ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`

/** Implements the report's timeline: one panel per policy, each with its own time scale and buckets. */
export const timelineChart = (rows: ReadonlyArray<Simulator.Metrics>): string => {
  const failover = rows.some((m) => m.failedOver !== undefined)
  const panels = rows.map((m) => {
    // At least a second, so that a run over in 100 ms is not cut into 2 ms buckets.
    const end = Math.max(
      1000,
      Duration.toMillis(m.completion),
      m.trace.calls.at(-1)?.at ?? 0,
      m.trace.rejections.at(-1) ?? 0
    )
    const buckets = Charts.buckets(end)
    const times = (outcome: Simulator.CallRecord["outcome"], provider?: string) =>
      m.trace.calls.filter((call) => call.outcome === outcome && call.provider === provider).map((call) => call.at)
    const perSecond = (name: string, at: ReadonlyArray<number>) =>
      Charts.rateSeries(name, at, buckets, { unit: "s", y: "perSecond" })
    return {
      title: `${m.policy} (${width(buckets.width)} buckets)`,
      series: failover
        ? [
          perSecond("primary: successes", times("success", "primary")),
          perSecond("primary: errors (5xx)", times("error", "primary")),
          perSecond("secondary: successes", times("success", "secondary")),
          perSecond("secondary: errors (5xx)", times("error", "secondary")),
          perSecond("rejected locally", m.trace.rejections)
        ]
        : [
          perSecond("successes", times("success")),
          perSecond("429s", times("rateLimited")),
          perSecond("errors (5xx)", times("error")),
          perSecond("rejected locally", m.trace.rejections)
        ]
    }
  })
  return Svg.lineChart({
    title: `${rows[0]?.scenario ?? ""}: provider calls and local rejections over time`,
    xLabel: "virtual time (s); each panel has its own time scale and bucket width, so every retry wave shows",
    yLabel: "per second",
    step: true,
    independentY: true,
    independentX: true,
    dashed: true,
    panels
  })
}

/** Implements the report's latency chart: the share of all requests that had succeeded by time t. */
export const latencyChart = (rows: ReadonlyArray<Simulator.Metrics>): string =>
  Svg.lineChart({
    title: `${rows[0]?.scenario ?? ""}: share of requests succeeded by time t`,
    xLabel: "time from a request's arrival to its success (s); a failed request never counts",
    yLabel: "share succeeded",
    yMax: 1,
    step: true,
    dashed: true,
    panels: [{
      title: "all policies (one line style each)",
      series: rows.map((m) =>
        Charts.cdfSeries(m.policy, m.trace.succeeded, { unit: "s", quantiles: 200, total: m.requests })
      )
    }]
  })
