/**
 * The demo: a small weather agent built with `@effect/ai` (one tool,
 * `GetWeather`), served by the real OpenAI and Anthropic clients against a
 * fake server on 127.0.0.1, with OpenAI → Anthropic failover, while the
 * server misbehaves in five acts. Like the real services, the fake server
 * sends rate-limit headers with every answer, from which the pipelines learn
 * each provider's limits (`LimitLearned` events):
 *
 * 1. OpenAI answers a bare 429 (Retry-After 1 s, no rate-limit headers) once:
 *    the key is held for exactly 1 s and slowed (a limit learned from
 *    throttling), the retry works, and its headers say the real limits;
 * 2. OpenAI's quota is exhausted (`insufficient_quota`): no retry, immediate failover;
 * 3. OpenAI goes down (503s): retries, its breaker opens, Anthropic serves;
 * 4. OpenAI is skipped without a request while its breaker is open; Anthropic's
 *    stream fails with `overloaded_error` before its first token, is retried, and
 *    the user sees one clean stream, token by token;
 * 5. OpenAI is back: after the break a probe succeeds and the breaker closes.
 *
 * Every decision of the policies is printed as it is taken (`ResilienceEvent`s),
 * then a table per act: provider calls (as the server recorded them), tool
 * executions against the tool calls the model asked for, who served, the
 * outcome; then the limits learned. The demo checks its own numbers and exits
 * with 1 when one is off.
 * Waiting is real (about 8.5 seconds in all) and goes through effect's `Clock`;
 * no API key, no network beyond loopback.
 *
 * Run it with `npx pnpm@10 demo`.
 */
import { ResilienceEvent } from "@effect-resilience/core"
import { FakeLlmServer } from "@effect-resilience/testing"
import { Clock, Console, Duration, Effect, Either, Ref } from "effect"
import * as Agent from "./agent.js"

// ---------------------------------------------------------------------------
// Live progress: one line per decision, with the time since the demo started
// ---------------------------------------------------------------------------

const seconds = (millis: number): string => `${(millis / 1000).toFixed(1)} s`

const stamp = (millis: number): string => `+${(millis / 1000).toFixed(3).padStart(6)} s`

// Events name a step ("openai/gpt-4o") or the failover ("agent"): a column as wide as the longest.
const keyWidth = Math.max(Agent.primaryKey.length, Agent.secondaryKey.length)

/**
 * One readable line per event: its key (the step, or the failover), then the decision; the events this demo
 * does not narrate in its own words (a limit learned among them) are in the library's words
 * (`ResilienceEvent.format`), their `[key]` moved to the key column.
 */
const describe = (event: ResilienceEvent.ResilienceEvent): string => {
  if (!("key" in event)) return ResilienceEvent.format(event)
  const said = decision(event) ?? withoutKey(event.key, ResilienceEvent.format(event))
  return `${event.key.padEnd(keyWidth)}  ${said}`
}

/** A formatted event without its leading `[key] `. */
const withoutKey = (key: string, formatted: string): string =>
  formatted.startsWith(`[${key}] `) ? formatted.slice(key.length + 3) : formatted

/** What an event says, without its key, for the events the demo narrates. */
const decision = (event: ResilienceEvent.ResilienceEvent): string | undefined => {
  switch (event._tag) {
    case "AttemptStarted":
      return `attempt ${event.attempt}`
    case "Succeeded":
      return `attempt ${event.attempt} succeeded`
    case "AttemptFailed": {
      const verdict = event.verdict
      const retryAfter = verdict.kind === "Transient" && verdict.retryAfter !== undefined
        ? `, Retry-After ${seconds(Duration.toMillis(verdict.retryAfter))}`
        : ""
      return `attempt ${event.attempt} failed: ${verdict.reason} (${verdict.kind.toLowerCase()}${retryAfter})${
        event.willRetry ? "" : verdict.kind === "Permanent" ? ", not retried" : ", no more retries"
      }`
    }
    case "RetryScheduled":
      return `waiting ${seconds(Duration.toMillis(event.delay))} (${
        event.basis === "RetryAfter" ? "Retry-After" : "Backoff"
      }) before attempt ${event.attempt + 1}: ${event.reason}`
    case "BreakerOpened":
      return `breaker OPEN for ${seconds(Duration.toMillis(event.openFor))} (was ${event.from})`
    case "BreakerHalfOpened":
      return `breaker HALF-OPEN: the next call is a probe`
    case "BreakerClosed":
      return `breaker CLOSED: calls flow again`
    case "StepSkipped":
      return event.why === "BreakerOpen"
        ? `skipped ${event.step}: breaker open (no request sent)`
        : `skipped ${event.step}: failed with ${event.why}, failing over`
    case "FallbackUsed":
      return `served by ${event.servedBy} (failover)`
    case "RetriesExhausted":
      return `gave up after ${event.attempts} attempts (${event.why})`
    case "RateLimited":
      return `admission held this attempt ${Duration.toMillis(event.wait)} ms (the key's learned rate)`
    default:
      // `LimitLearned` in the library's words; the others (budget, bulkhead, timeouts, ...) do not happen here.
      return undefined
  }
}

// ---------------------------------------------------------------------------
// The acts
// ---------------------------------------------------------------------------

interface Expected {
  readonly openai: number
  readonly anthropic: number
  readonly servedBy: string
  /** The limits learned during the act, as `ResilienceEvent.format` says them, in order. */
  readonly learned: ReadonlyArray<string>
}

/** A `LimitLearned` event's line, as `ResilienceEvent.format` writes it. */
const learnedLine = (
  key: string,
  perMinute: number,
  resource: "requests" | "tokens",
  source: "headers" | "throttling"
): string => ResilienceEvent.format(ResilienceEvent.LimitLearned({ key, at: 0, resource, perMinute, source }))

const openai = Agent.statedLimits.openai
const anthropic = Agent.statedLimits.anthropic

interface Act {
  readonly title: string
  readonly question: string
  readonly stream: boolean
  /** The chaos: replies queued at the fake server before the question. */
  readonly chaos: (agent: Agent.Agent) => Effect.Effect<void>
  readonly expected: Expected
}

const acts: ReadonlyArray<Act> = [
  {
    title: "OpenAI rate-limits once (a bare 429: Retry-After 1 s, no rate-limit headers)",
    question: "What is the weather in Paris?",
    stream: false,
    chaos: ({ server }) => server.enqueue("responses", Agent.bareRateLimited("1 second")),
    // Throttled with nothing measured yet: the slowest rate, 1 request a second; then the retry's headers.
    expected: {
      openai: 3,
      anthropic: 0,
      servedBy: "openai",
      learned: [
        learnedLine(Agent.primaryKey, 60, "requests", "throttling"),
        learnedLine(Agent.primaryKey, openai.requestsPerMinute, "requests", "headers"),
        learnedLine(Agent.primaryKey, openai.tokensPerMinute, "tokens", "headers")
      ]
    }
  },
  {
    title: "OpenAI quota exhausted (429 insufficient_quota)",
    question: "What is the weather in Oslo?",
    stream: false,
    chaos: ({ server }) =>
      server.enqueue(
        "responses",
        FakeLlmServer.openAiError.insufficientQuota(),
        FakeLlmServer.openAiError.insufficientQuota()
      ),
    // Anthropic's first answer states its limits.
    expected: {
      openai: 2,
      anthropic: 2,
      servedBy: "anthropic",
      learned: [
        learnedLine(Agent.secondaryKey, anthropic.requestsPerMinute, "requests", "headers"),
        learnedLine(Agent.secondaryKey, anthropic.tokensPerMinute, "tokens", "headers")
      ]
    }
  },
  {
    title: "OpenAI goes down (503s)",
    question: "What is the weather in Lisbon?",
    stream: false,
    chaos: ({ server }) =>
      server.enqueue(
        "responses",
        FakeLlmServer.openAiError.unavailable(),
        FakeLlmServer.openAiError.unavailable(),
        FakeLlmServer.openAiError.unavailable()
      ),
    expected: { openai: 3, anthropic: 2, servedBy: "anthropic", learned: [] }
  },
  {
    title: "OpenAI's breaker open; Anthropic overloaded before its first token (streamed answer)",
    question: "What is the weather in Tokyo?",
    stream: true,
    // Anthropic's first reply is the tool call as usual; the answer's first stream then fails with
    // `overloaded_error` before any content.
    chaos: ({ server }) =>
      server.enqueue(
        "messages",
        FakeLlmServer.toolCall("GetWeather", { city: "Tokyo" }, { delay: Agent.modelLatency }),
        FakeLlmServer.stream(["Sorry"], {
          delay: Agent.modelLatency,
          interruption: FakeLlmServer.errorEventAfter(0, { code: "overloaded_error", message: "Overloaded" })
        })
      ),
    expected: { openai: 0, anthropic: 3, servedBy: "anthropic", learned: [] }
  },
  {
    title: "OpenAI recovers: after the break a probe succeeds",
    question: "What is the weather in Nairobi?",
    stream: false,
    chaos: () => Effect.void,
    expected: { openai: 2, anthropic: 0, servedBy: "openai", learned: [] }
  }
]

interface Row {
  readonly act: number
  readonly title: string
  readonly modelCalls: number
  readonly openai: number
  readonly anthropic: number
  readonly toolCallReplies: number
  readonly toolExecutions: number
  readonly servedBy: string
  readonly outcome: string
  readonly millis: number
  readonly learned: ReadonlyArray<string>
  readonly problems: ReadonlyArray<string>
}

/** Whether the server answered a request with success (not an error, a drop or a broken stream). */
const succeeded = (request: FakeLlmServer.RecordedRequest): boolean =>
  request.reply !== undefined &&
  (request.reply._tag === "Text" || request.reply._tag === "ToolCall" ||
    (request.reply._tag === "Stream" && request.reply.interruption === undefined))

const program = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const now = Effect.map(Clock.currentTimeMillis, (millis) => millis - start)
  // Events are printed by the listener's fiber: before a line of its own, the demo lets it print those already
  // published (it runs first, the scheduler being first in, first out), so that the lines keep their order.
  const settle = Effect.repeatN(Effect.yieldNow(), 3)
  const line = (text: string) =>
    Effect.zipRight(settle, Effect.flatMap(now, (millis) => Console.log(`${stamp(millis)}  ${text}`)))
  // Tokens of a stream are written as they come; a progress line that arrives meanwhile starts a new line.
  const midLine = yield* Ref.make(false)
  const endLine = Effect.flatMap(Ref.getAndSet(midLine, false), (open) => open ? Console.log("") : Effect.void)
  const output: Agent.Output = {
    line: (text) => Effect.zipRight(endLine, line(`agent: ${text}`)),
    token: (text) =>
      Effect.gen(function*() {
        yield* settle
        const open = yield* Ref.getAndSet(midLine, true)
        const prefix = open ? "" : `${stamp(yield* now)}  agent (streaming): `
        yield* Effect.sync(() => process.stdout.write(prefix + text))
      })
  }

  // When OpenAI's breaker opened and for how long: act 5 waits for the break to end.
  const openedUntil = yield* Ref.make(0)
  // The limits learned (`LimitLearned`), in the library's words, in order.
  const learned = yield* Ref.make<ReadonlyArray<string>>([])
  yield* ResilienceEvent.listen((event) =>
    Effect.gen(function*() {
      if (event._tag === "BreakerOpened" && event.key === Agent.primaryKey) {
        yield* Ref.set(openedUntil, event.at + Duration.toMillis(event.openFor))
      }
      if (event._tag === "LimitLearned") {
        yield* Ref.update(learned, (lines) => [...lines, ResilienceEvent.format(event)])
      }
      yield* endLine
      yield* Console.log(`${stamp(event.at - start)}    ${describe(event)}`)
    })
  )

  yield* Console.log(
    "effect-resilience demo: a weather agent (@effect/ai, one tool) on the real OpenAI and Anthropic clients,\n" +
      "against a fake server on 127.0.0.1 that sends the providers' rate-limit headers, with injected chaos.\n" +
      `Failover ${Agent.primaryKey} → ${Agent.secondaryKey}, each under the default pipeline (limits learned\n` +
      "from headers and 429s, ratio retry budget, Retry-After honoured, single-probe breaks) except: at most\n" +
      "3 calls, 200 ms doubling, no jitter (default 4 from 250 ms, jittered); breaker opens after 3 failures\n" +
      "in a row (default: half the calls of 30 s, at least 10) for 5 s (default 1 s); attempt timeout 10 s."
  )
  const agent = yield* Agent.make

  const rows: Array<Row> = []
  for (const [index, act] of acts.entries()) {
    yield* settle
    yield* Console.log(`\nAct ${index + 1}. ${act.title}`)
    if (index === 4) {
      const wait = (yield* Ref.get(openedUntil)) - (yield* Clock.currentTimeMillis)
      if (wait > 0) {
        yield* line(`(the demo waits ${seconds(wait)} for the end of OpenAI's break)`)
        yield* Effect.sleep(Duration.millis(wait + 50))
      }
    }
    yield* act.chaos(agent)
    const before = (yield* agent.server.requests).length
    const executionsBefore = yield* agent.toolExecutions
    const learnedBefore = (yield* Ref.get(learned)).length
    const actStart = yield* Clock.currentTimeMillis
    yield* line(`user: ${act.question}`)
    const result = yield* Effect.either(agent.ask(act.question, { stream: act.stream, output }))
    yield* endLine
    const millis = (yield* Clock.currentTimeMillis) - actStart
    yield* settle
    const learnedInAct = (yield* Ref.get(learned)).slice(learnedBefore)
    const requests = (yield* agent.server.requests).slice(before)
    const count = (provider: FakeLlmServer.Provider) => requests.filter((r) => r.provider === provider).length
    const servedBy = Array.from(new Set(requests.filter(succeeded).map((r) => r.provider))).join(" + ") || "-"
    const toolExecutions = (yield* agent.toolExecutions) - executionsBefore
    const toolCallsAsked = Either.isRight(result) ? result.right.toolCallsAsked : 0
    // The model responses that asked for the tool, as the server sent them: each must have run the tool once.
    const toolCallReplies = requests.filter((r) => r.reply?._tag === "ToolCall").length
    const problems: Array<string> = []
    const check = (what: string, actual: unknown, expected: unknown) => {
      if (actual !== expected) problems.push(`${what}: ${String(actual)}, expected ${String(expected)}`)
    }
    check("outcome", Either.isRight(result) ? "ok" : result.left._tag, "ok")
    check("openai calls", count("openai"), act.expected.openai)
    check("anthropic calls", count("anthropic"), act.expected.anthropic)
    check("served by", servedBy, act.expected.servedBy)
    check("tool calls sent by the server", toolCallReplies, 1)
    check("tool calls the agent saw", toolCallsAsked, toolCallReplies)
    check("tool executions", toolExecutions, toolCallReplies)
    check("limits learned", learnedInAct.join("; ") || "none", act.expected.learned.join("; ") || "none")
    rows.push({
      act: index + 1,
      title: act.title,
      modelCalls: Either.isRight(result) ? result.right.modelCalls : 0,
      openai: count("openai"),
      anthropic: count("anthropic"),
      toolCallReplies,
      toolExecutions,
      servedBy,
      // Only the error's tag: an error's fields may hold request details.
      outcome: Either.isRight(result) ? "answered" : `failed (${result.left._tag})`,
      millis,
      learned: learnedInAct,
      problems
    })
  }

  yield* settle
  yield* Console.log("\nSummary (provider calls as the fake server recorded them)")
  const header = [
    "act",
    "model calls",
    "openai calls",
    "anthropic calls",
    "tool-call responses",
    "tool runs",
    "served by"
  ]
  const table = [
    [...header, "outcome", "time"],
    ...rows.map((row) => [
      String(row.act),
      String(row.modelCalls),
      String(row.openai),
      String(row.anthropic),
      String(row.toolCallReplies),
      String(row.toolExecutions),
      row.servedBy,
      row.outcome,
      seconds(row.millis)
    ])
  ]
  const widths = table[0].map((_, column) => Math.max(...table.map((cells) => cells[column].length)))
  for (const [i, cells] of table.entries()) {
    yield* Console.log(`  ${cells.map((cell, column) => cell.padEnd(widths[column])).join("  ")}`.trimEnd())
    if (i === 0) yield* Console.log(`  ${widths.map((width) => "-".repeat(width)).join("  ")}`)
  }
  yield* Console.log("\nLimits learned (LimitLearned events; the providers' limits were never configured)")
  for (const row of rows) {
    for (const text of row.learned) yield* Console.log(`  act ${row.act}  ${text}`)
  }
  const total = yield* now
  const allRequests = yield* agent.server.requests
  yield* Console.log(
    `\n${allRequests.length} provider requests in ${seconds(total)}; ` +
      `every tool call the model asked for ran exactly once (${rows.reduce((n, row) => n + row.toolExecutions, 0)} ` +
      `in all), no retry ever re-ran a tool.`
  )
  const problems = rows.flatMap((row) => row.problems.map((problem) => `act ${row.act}: ${problem}`))
  if (problems.length > 0) {
    yield* Console.error(`\nthe demo did not go as expected:\n  ${problems.join("\n  ")}`)
    yield* Effect.sync(() => {
      process.exitCode = 1
    })
  }
}).pipe(
  Effect.scoped,
  Effect.provide(ResilienceEvent.layer())
)

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
