/**
 * FakeLlmServer's wire formats as a plain `fetch` sees them: Chat Completions
 * (JSON and SSE), the order of the Responses and Messages SSE events, and
 * seeded fault injection.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FakeLlmServer } from "../src/index.js"

/** POSTs a JSON body and gives the status, headers and text of the answer. */
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

/** The `event:` names and parsed `data:` payloads of an SSE body, in order. */
const sse = (text: string) =>
  text.split("\n\n").filter((frame) => frame.trim() !== "").map((frame) => {
    const lines = frame.split("\n")
    const event = lines.find((line) => line.startsWith("event: "))?.slice("event: ".length)
    const data = lines.find((line) => line.startsWith("data: "))!.slice("data: ".length)
    return { event, data: data === "[DONE]" ? data : JSON.parse(data) }
  })

describe("FakeLlmServer wire formats", () => {
  it.scoped("Chat Completions answers a plain fetch with JSON", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make()
      const response = yield* post(`${server.openAiUrl}/chat/completions`, {
        model: "local-llama",
        messages: [{ role: "user", content: "hi" }]
      }, { authorization: "Bearer sk-local" })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("application/json")
      const body = JSON.parse(response.text)
      expect(body).toMatchObject({
        object: "chat.completion",
        model: "local-llama",
        choices: [{ index: 0, message: { role: "assistant", content: "Hello from fake" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 }
      })
      const [request] = yield* server.requests
      expect([request.endpoint, request.provider, request.headers["authorization"]]).toEqual([
        "chatCompletions",
        "openai",
        "<redacted>"
      ])
    }))

  it.scoped("Chat Completions streams data chunks ending with [DONE], usage when asked", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        chatCompletions: { default: FakeLlmServer.stream(["Hi", " there"]) }
      })
      const response = yield* post(`${server.openAiUrl}/chat/completions`, {
        model: "local-llama",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
        stream_options: { include_usage: true }
      })
      expect(response.headers.get("content-type")).toBe("text/event-stream")
      const events = sse(response.text)
      expect(events.every((event) => event.event === undefined)).toBe(true)
      expect(events.at(-1)?.data).toBe("[DONE]")
      const chunks = events.slice(0, -1).map((event) => event.data)
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? null)).toEqual(["", "Hi", " there", null, null])
      expect(chunks.map((chunk) => chunk.choices.length === 0 ? "none" : chunk.choices[0].finish_reason)).toEqual([
        null,
        null,
        null,
        "stop",
        "none"
      ])
      expect(chunks.at(-1).usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 4 })
    }))

  it.scoped("Chat Completions sends OpenAI's error body", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        chatCompletions: {
          replies: [FakeLlmServer.openAiError.rateLimited({ retryAfter: "20 seconds", limit: "tokens" })]
        }
      })
      const response = yield* post(`${server.openAiUrl}/chat/completions`, { model: "m", messages: [] })
      expect(response.status).toBe(429)
      expect(response.headers.get("retry-after")).toBe("20")
      expect(response.headers.get("retry-after-ms")).toBe("20000")
      expect(response.headers.get("x-ratelimit-reset-tokens")).toBe("20s")
      expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("200")
      expect(JSON.parse(response.text).error).toMatchObject({
        type: "tokens",
        code: "rate_limit_exceeded",
        param: null
      })
    }))

  it.scoped("Responses streams the events of the real API, numbered in order", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ responses: { default: FakeLlmServer.stream(["a", "b"]) } })
      const response = yield* post(`${server.openAiUrl}/responses`, { model: "gpt-4o", input: "hi", stream: true })
      const events = sse(response.text)
      expect(events.map((event) => event.event)).toEqual([
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed"
      ])
      expect(events.map((event) => event.data.type)).toEqual(events.map((event) => event.event))
      expect(events.map((event) => event.data.sequence_number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(events.at(-1)?.data.response.usage).toEqual({
        input_tokens: 12,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 4,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 16
      })
    }))

  it.scoped("Responses ends a failed stream with error then response.failed", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        responses: { default: FakeLlmServer.stream(["a", "b"], { interruption: FakeLlmServer.errorEventAfter(1) }) }
      })
      const events = sse(
        (yield* post(`${server.openAiUrl}/responses`, { model: "gpt-4o", input: "hi", stream: true })).text
      )
      expect(events.slice(-3).map((event) => [event.event, event.data.sequence_number])).toEqual([
        ["response.output_text.delta", 4],
        ["error", 5],
        ["response.failed", 6]
      ])
      expect(events.at(-2)?.data).toMatchObject({ type: "error", code: "server_error", param: null })
      expect(events.at(-1)?.data.response).toMatchObject({ status: "failed", error: { code: "server_error" } })
    }))

  it.scoped("Messages streams the events of the real API", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({ messages: { default: FakeLlmServer.stream(["a", "b"]) } })
      const response = yield* post(`${server.anthropicUrl}/v1/messages`, {
        model: "claude-sonnet-4-5",
        max_tokens: 100,
        messages: [{ role: "user", content: "hi" }],
        stream: true
      })
      expect(response.headers.get("request-id")).toBe("req_fake_1")
      const events = sse(response.text)
      expect(events.map((event) => event.event)).toEqual([
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      expect(events[6].data).toEqual({
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: 4 }
      })
    }))

  it.scoped("a stream reply to a non-streaming request with an error event is the provider's HTTP error", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make({
        messages: { default: FakeLlmServer.stream(["a"], { interruption: FakeLlmServer.errorEventAfter(0) }) }
      })
      const response = yield* post(`${server.anthropicUrl}/v1/messages`, { model: "claude", messages: [] })
      expect(response.status).toBe(529)
      expect(JSON.parse(response.text)).toEqual({
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" }
      })
    }))

  it.scoped("seeded faults give the same answers on every run", () =>
    Effect.gen(function*() {
      const statuses = Effect.gen(function*() {
        const server = yield* FakeLlmServer.make({ faults: { errors: { unavailable: 0.2 }, seed: 42 } })
        const out: Array<number> = []
        for (let i = 0; i < 30; i++) {
          out.push((yield* post(`${server.openAiUrl}/responses`, { model: "gpt-4o", input: "hi" })).status)
        }
        return out
      }).pipe(Effect.scoped)
      const first = yield* statuses
      const second = yield* statuses
      expect(second).toEqual(first)
      expect(new Set(first)).toEqual(new Set([200, 503]))
      // 20% of 30 calls, give or take the draw: the seed fixes it.
      expect(first.filter((status) => status === 503).length).toBeGreaterThan(0)
    }))

  it.scoped("enqueue adds replies at run time, consumed before decide and default", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make()
      yield* server.enqueue("responses", FakeLlmServer.openAiError.serverError(), FakeLlmServer.text("second"))
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) {
        statuses.push((yield* post(`${server.openAiUrl}/responses`, { model: "gpt-4o", input: "hi" })).status)
      }
      expect(statuses).toEqual([500, 200, 200])
      expect((yield* server.requests).map((request) => request.source)).toEqual(["queue", "queue", "default"])
    }))

  it.scoped("unknown paths are 404", () =>
    Effect.gen(function*() {
      const server = yield* FakeLlmServer.make()
      expect((yield* post(`${server.url}/v1/embeddings`, {})).status).toBe(404)
    }))
})
