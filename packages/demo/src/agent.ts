/**
 * The demo's agent: a weather assistant built with `@effect/ai`, served by the
 * real OpenAI and Anthropic clients pointed at a `FakeLlmServer` on loopback,
 * through `FailoverLanguageModel` (openai/gpt-4o first, then
 * anthropic/claude-sonnet-4-5), each provider under its own pipeline.
 *
 * One question is one agent run of two model calls: the first asks for the
 * `GetWeather` tool (run here, exactly once per tool call the model asked
 * for), the second sees the tool's result and answers, as a whole text or as
 * a stream printed token by token. The fake server answers like a model:
 * a tool call to a prompt without a tool result, the answer to one with it;
 * each act of the demo adds its chaos to the server's queues.
 */
import { FailoverLanguageModel } from "@effect-resilience/ai"
import type { Resilience } from "@effect-resilience/core"
import { FakeLlmServer } from "@effect-resilience/testing"
import { type AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { type Duration, Effect, Layer, Redacted, Ref, Schema, Stream } from "effect"

/** The primary step: OpenAI's gpt-4o (Responses API). */
export const primaryKey = "openai/gpt-4o"

/** The secondary step: Anthropic's Claude (Messages API). */
export const secondaryKey = "anthropic/claude-sonnet-4-5"

/** Names the failover in events. */
export const failoverName = "agent"

/** Not a real key: the clients send it to the fake server only, and it must never be printed. */
const apiKey = Redacted.make("sk-demo-not-a-real-key")

/** How long the fake models take to start answering: enough for a readable timeline, short enough for a quick demo. */
export const modelLatency = "120 millis"

// ---------------------------------------------------------------------------
// The tool
// ---------------------------------------------------------------------------

/** The agent's one tool: the weather in a city. */
export const GetWeather = Tool.make("GetWeather", {
  description: "The current weather in a city",
  parameters: { city: Schema.String },
  success: Schema.String
})

/** The agent's toolkit. */
export const WeatherToolkit = Toolkit.make(GetWeather)

/** The weather the tool reports, per city (anything else is "cloudy, 15 °C"). */
const weather: Readonly<Record<string, string>> = {
  Paris: "sunny, 21 °C",
  Oslo: "snow, -3 °C",
  Lisbon: "clear, 24 °C",
  Tokyo: "rain, 17 °C",
  Nairobi: "warm, 26 °C"
}

/** The tool's handler, counting every execution in `executions`. */
export const weatherHandlers = (executions: Ref.Ref<number>) =>
  WeatherToolkit.toLayer({
    GetWeather: ({ city }) => Effect.as(Ref.update(executions, (n) => n + 1), weather[city] ?? "cloudy, 15 °C")
  })

// ---------------------------------------------------------------------------
// The fake providers' behaviour
// ---------------------------------------------------------------------------

/** Whether a prompt (a request's body as JSON) already holds a tool result (OpenAI `function_call_output`, Anthropic `tool_result`). */
const hasToolResult = (prompt: string): boolean => /"(function_call_output|tool_result)"/.test(prompt)

/** The city the user asked about, read from the prompt. */
const cityOf = (prompt: string): string => /weather in ([A-Z][a-z]+)/.exec(prompt)?.[1] ?? "Paris"

/** The tool's result as the model received it in the prompt. */
const toolResultOf = (prompt: string): string =>
  Object.values(weather).find((forecast) => prompt.includes(forecast)) ?? "cloudy, 15 °C"

/** The limits the fake providers state in their headers (OpenAI's gpt-4o at tier 1, Anthropic's at tier 2). */
export const statedLimits = {
  openai: { requestsPerMinute: 500, tokensPerMinute: 30_000 },
  anthropic: { requestsPerMinute: 1_000, tokensPerMinute: 90_000 }
} as const

/** An instant as Anthropic writes its resets: RFC 3339, whole seconds (rounded up). */
const rfc3339 = (millis: number): string =>
  new Date(Math.ceil(millis / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

/**
 * The rate-limit headers the real services send with every response, successes included: OpenAI's
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (resets as Go durations), Anthropic's
 * `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` (resets as instants). The fake does not count:
 * each answer says one request (and a few hundred tokens) of the minute's allowance is used.
 */
export const rateLimitHeaders = (request: FakeLlmServer.Request): Record<string, string> => {
  if (request.provider === "anthropic") {
    const { requestsPerMinute, tokensPerMinute } = statedLimits.anthropic
    return {
      "anthropic-ratelimit-requests-limit": String(requestsPerMinute),
      "anthropic-ratelimit-requests-remaining": String(requestsPerMinute - 1),
      "anthropic-ratelimit-requests-reset": rfc3339(request.at + 60_000 / requestsPerMinute),
      "anthropic-ratelimit-tokens-limit": String(tokensPerMinute),
      "anthropic-ratelimit-tokens-remaining": String(tokensPerMinute - 300),
      "anthropic-ratelimit-tokens-reset": rfc3339(request.at + 300 * 60_000 / tokensPerMinute)
    }
  }
  const { requestsPerMinute, tokensPerMinute } = statedLimits.openai
  return {
    "x-ratelimit-limit-requests": String(requestsPerMinute),
    "x-ratelimit-remaining-requests": String(requestsPerMinute - 1),
    "x-ratelimit-reset-requests": `${60_000 / requestsPerMinute}ms`,
    "x-ratelimit-limit-tokens": String(tokensPerMinute),
    "x-ratelimit-remaining-tokens": String(tokensPerMinute - 300),
    "x-ratelimit-reset-tokens": `${300 * 60_000 / tokensPerMinute}ms`
  }
}

/**
 * OpenAI's 429 with its Retry-After (`retry-after: 1`, `retry-after-ms: 1000`) but without any rate-limit header,
 * as a gateway or an OpenAI-compatible server may send it: all the pipeline learns is that it was throttled.
 */
export const bareRateLimited = (retryAfter: Duration.DurationInput): FakeLlmServer.ErrorReply => {
  const reply = FakeLlmServer.openAiError.rateLimited({ retryAfter })
  return {
    ...reply,
    headers: Object.fromEntries(Object.entries(reply.headers).filter(([name]) => !name.startsWith("x-ratelimit-")))
  }
}

/**
 * How both fake providers answer: a `GetWeather` call to a prompt without a tool
 * result; the answer, built from the tool's result, to a prompt with one (as one
 * text, or streamed word by word when the request asks for a stream); each with
 * the provider's rate-limit headers.
 */
export const decide = (request: FakeLlmServer.Request): FakeLlmServer.Reply => {
  const prompt = JSON.stringify(request.body ?? null)
  const city = cityOf(prompt)
  const headers = rateLimitHeaders(request)
  if (!hasToolResult(prompt)) return FakeLlmServer.toolCall("GetWeather", { city }, { delay: modelLatency, headers })
  const answer = `In ${city} it is ${toolResultOf(prompt)} right now (answered by ${request.provider}).`
  return request.stream
    ? FakeLlmServer.stream(answer.split(/(?<= )/), { delay: modelLatency, interval: "45 millis", headers })
    : FakeLlmServer.text(answer, { delay: modelLatency, headers })
}

/** The fake server: both providers answer through `decide` unless an act queued chaos for them. */
export const startServer = FakeLlmServer.make({
  responses: { decide },
  messages: { decide }
})

// ---------------------------------------------------------------------------
// The model: failover over the real clients
// ---------------------------------------------------------------------------

/**
 * Each provider's pipeline: the library's defaults (learned admission, a ratio
 * retry budget, the provider's Retry-After honoured, breaks with a single
 * probe, waiting for an open breaker) with four changes for a short run that
 * is the same every time:
 *
 * - 3 calls at most, 200 ms doubling backoff, no jitter (the default: 4 calls
 *   from 250 ms with full jitter); with 4, act 3 would wait another backoff for
 *   a fourth attempt that the breaker, opened by the third failure, refuses
 *   without a request (the last attempt: nothing left to wait for) before
 *   failing over;
 * - the breaker opens after 3 failures in a row (the default: half the calls of
 *   the last 30 s, once 10 were made, which one question never reaches);
 * - its breaks last 5 s (the default: 1 s), so that it is still open for act 4;
 * - an attempt times out after 10 s (the default: 2 minutes), so that a demo
 *   that goes wrong ends soon.
 */
export const pipeline: Resilience.Config = {
  retry: { maxAttempts: 3, backoff: { base: "200 millis", factor: 2, max: "2 seconds", jitter: "none" } },
  circuitBreaker: {
    trip: { kind: "consecutive", threshold: 3 },
    breakDuration: { base: "5 seconds", max: "5 seconds", jitter: "none" }
  },
  attemptTimeout: "10 seconds"
}

/**
 * The agent's `LanguageModel`: OpenAI then Anthropic, the real clients with a
 * dummy key, pointed at `server`, over Node's HTTP client.
 */
export const modelLayer = (server: FakeLlmServer.Service) => {
  const gpt4o = OpenAiLanguageModel.layer({ model: "gpt-4o" }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey, apiUrl: server.openAiUrl }))
  )
  const claude = AnthropicLanguageModel.layer({ model: "claude-sonnet-4-5" }).pipe(
    Layer.provide(AnthropicClient.layer({ apiKey, apiUrl: server.anthropicUrl }))
  )
  return FailoverLanguageModel.layer({
    name: failoverName,
    steps: [
      { key: primaryKey, model: gpt4o, contextWindow: 128_000, resilience: pipeline },
      { key: secondaryKey, model: claude, contextWindow: 200_000, resilience: pipeline }
    ]
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
}

// ---------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------

/** What one agent run did. */
export interface Run {
  /** The answer, as the user saw it. */
  readonly answer: string
  /** Model calls made by the agent (`generateText` / `streamText`). */
  readonly modelCalls: number
  /** Tool calls the model's responses asked for. */
  readonly toolCallsAsked: number
}

/** Where the agent writes what the user sees: whole lines, and tokens as they arrive. */
export interface Output {
  readonly line: (text: string) => Effect.Effect<void>
  readonly token: (text: string) => Effect.Effect<void>
}

/**
 * Asks the agent a question: a first model call with the toolkit (the model asks
 * for the tool; its handler runs once per call asked for), then, with the tool's
 * result in the prompt, a second call for the answer (streamed when `stream`).
 */
export const ask = (question: string, options: { readonly stream: boolean; readonly output: Output }) =>
  Effect.gen(function*() {
    const { output } = options
    const first = yield* LanguageModel.generateText({ prompt: question, toolkit: WeatherToolkit })
    const toolCallsAsked = first.toolCalls.length
    for (const call of first.toolCalls) {
      yield* output.line(`model asked for ${call.name}(${JSON.stringify(call.params)})`)
    }
    for (const result of first.toolResults) {
      yield* output.line(`tool ${result.name} ran once → ${JSON.stringify(result.result)}`)
    }
    if (toolCallsAsked === 0) return { answer: first.text, modelCalls: 1, toolCallsAsked } satisfies Run
    const prompt = Prompt.merge(Prompt.make(question), Prompt.fromResponseParts(first.content))
    if (!options.stream) {
      const second = yield* LanguageModel.generateText({ prompt, toolkit: WeatherToolkit })
      yield* output.line(`answer: ${second.text}`)
      return { answer: second.text, modelCalls: 2, toolCallsAsked: toolCallsAsked + second.toolCalls.length }
    }
    const answer = yield* Ref.make("")
    yield* LanguageModel.streamText({ prompt, toolkit: WeatherToolkit }).pipe(
      Stream.runForEach((part) =>
        part.type === "text-delta"
          ? Effect.zipRight(Ref.update(answer, (text) => text + part.delta), output.token(part.delta))
          : Effect.void
      )
    )
    return { answer: yield* Ref.get(answer), modelCalls: 2, toolCallsAsked } satisfies Run
  })

/** The running agent: the fake server, the tool's execution count, and `ask` with everything it needs. */
export interface Agent {
  readonly server: FakeLlmServer.Service
  readonly toolExecutions: Effect.Effect<number>
  readonly ask: (
    question: string,
    options: { readonly stream: boolean; readonly output: Output }
  ) => Effect.Effect<Run, AiError.AiError>
}

/**
 * Starts the fake server and builds the agent's model and tool once, in the
 * scope, so that breaker state carries over from one question to the next.
 */
export const make = Effect.gen(function*() {
  const server = yield* startServer
  const executions = yield* Ref.make(0)
  const context = yield* Layer.build(Layer.merge(modelLayer(server), weatherHandlers(executions)))
  const agent: Agent = {
    server,
    toolExecutions: Ref.get(executions),
    ask: (question, options) => Effect.provide(ask(question, options), context)
  }
  return agent
})
