/**
 * The wire formats of the three endpoints the fake server speaks: OpenAI
 * Responses, Anthropic Messages and OpenAI Chat Completions, as JSON bodies
 * and as Server-Sent Events, shaped the way the real services send them (and
 * the way `@effect/ai-openai` and `@effect/ai-anthropic` decode them).
 */
import type * as FakeLlmServer from "../../FakeLlmServer.js"

/** One Server-Sent Event: an optional `event:` name and its JSON `data:` (or a raw string such as `[DONE]`). */
export interface SseEvent {
  readonly event?: string | undefined
  readonly data: unknown
}

/** Encodes one event as the lines of an SSE frame, ending with the blank line. */
export const encodeSse = (event: SseEvent): string =>
  (event.event === undefined ? "" : `event: ${event.event}\n`) +
  `data: ${typeof event.data === "string" ? event.data : JSON.stringify(event.data)}\n\n`

/** The ids of one answer, all derived from the server's request counter so that runs are reproducible. */
export interface Ids {
  readonly n: number
  /** Unix seconds of the server's `Clock` when the request arrived. */
  readonly createdAt: number
  readonly model: string
}

/**
 * What the server is about to send, independent of the endpoint: a text
 * (possibly in deltas) or one tool call.
 */
export type Content =
  | { readonly _tag: "Text"; readonly deltas: ReadonlyArray<string> }
  | {
    readonly _tag: "ToolCall"
    readonly name: string
    readonly arguments: unknown
    readonly id: string | undefined
  }

/** A stream of one answer split where deltas may be interrupted: the events before, per delta, and after the deltas. */
export interface StreamPlan {
  readonly prefix: ReadonlyArray<SseEvent>
  readonly deltas: ReadonlyArray<SseEvent>
  readonly suffix: ReadonlyArray<SseEvent>
  /** The events that report a failure after `deltasSent` deltas (the stream ends after them). */
  readonly failure: (error: FakeLlmServer.StreamError, deltasSent: number) => ReadonlyArray<SseEvent>
}

const joined = (content: Content): string => content._tag === "Text" ? content.deltas.join("") : ""

const argumentsJson = (content: Content): string =>
  content._tag === "ToolCall" ? JSON.stringify(content.arguments ?? {}) : ""

// ---------------------------------------------------------------------------
// OpenAI Responses (POST /v1/responses)
// ---------------------------------------------------------------------------

const responsesUsage = (usage: FakeLlmServer.Usage) => ({
  input_tokens: usage.inputTokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: usage.outputTokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: usage.inputTokens + usage.outputTokens
})

const responsesItem = (content: Content, ids: Ids, status: "in_progress" | "completed") =>
  content._tag === "Text"
    ? {
      id: `msg_fake_${ids.n}`,
      type: "message",
      status,
      role: "assistant",
      content: status === "in_progress" ? [] : [{ type: "output_text", text: joined(content), annotations: [] }]
    }
    : {
      id: `fc_fake_${ids.n}`,
      type: "function_call",
      status,
      call_id: content.id ?? `call_fake_${ids.n}`,
      name: content.name,
      arguments: status === "in_progress" ? "" : argumentsJson(content)
    }

const responsesObject = (
  ids: Ids,
  status: "in_progress" | "completed" | "failed",
  output: ReadonlyArray<unknown>,
  usage: FakeLlmServer.Usage | null,
  error: { readonly code: string; readonly message: string } | null
) => ({
  id: `resp_fake_${ids.n}`,
  object: "response",
  created_at: ids.createdAt,
  status,
  background: false,
  error,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: null,
  model: ids.model,
  output,
  parallel_tool_calls: true,
  previous_response_id: null,
  service_tier: "default",
  store: true,
  temperature: 1,
  tool_choice: "auto",
  tools: [],
  top_p: 1,
  truncation: "disabled",
  usage: usage === null ? null : responsesUsage(usage),
  user: null,
  metadata: {}
})

/** The JSON body of a completed OpenAI Responses call. */
export const responsesJson = (content: Content, usage: FakeLlmServer.Usage, ids: Ids): unknown =>
  responsesObject(ids, "completed", [responsesItem(content, ids, "completed")], usage, null)

/** The SSE events of an OpenAI Responses stream, in the order the real API sends them. */
export const responsesStream = (content: Content, usage: FakeLlmServer.Usage, ids: Ids): StreamPlan => {
  let seq = 0
  const next = (type: string, fields: Record<string, unknown>): SseEvent => ({
    event: type,
    data: { type, sequence_number: seq++, ...fields }
  })
  const itemId = content._tag === "Text" ? `msg_fake_${ids.n}` : `fc_fake_${ids.n}`
  const prefix = [
    next("response.created", { response: responsesObject(ids, "in_progress", [], null, null) }),
    next("response.in_progress", { response: responsesObject(ids, "in_progress", [], null, null) }),
    next("response.output_item.added", { output_index: 0, item: responsesItem(content, ids, "in_progress") }),
    ...(content._tag === "Text"
      ? [next("response.content_part.added", {
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [] }
      })]
      : [])
  ]
  const deltas = content._tag === "Text"
    ? content.deltas.map((delta) =>
      next("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta, logprobs: [] })
    )
    : [
      next("response.function_call_arguments.delta", {
        item_id: itemId,
        output_index: 0,
        delta: argumentsJson(content)
      })
    ]
  // The failure events are numbered when they are built, after the deltas actually sent.
  const failure = (error: FakeLlmServer.StreamError, deltasSent: number): ReadonlyArray<SseEvent> => {
    seq = prefix.length + deltasSent
    return [
      next("error", { code: error.code, message: error.message, param: null }),
      next("response.failed", {
        response: responsesObject(ids, "failed", [], null, { code: error.code, message: error.message })
      })
    ]
  }
  const completed = responsesItem(content, ids, "completed")
  const suffix = content._tag === "Text"
    ? [
      next("response.output_text.done", {
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        text: joined(content),
        logprobs: []
      }),
      next("response.content_part.done", {
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: joined(content), annotations: [] }
      }),
      next("response.output_item.done", { output_index: 0, item: completed }),
      next("response.completed", { response: responsesObject(ids, "completed", [completed], usage, null) })
    ]
    : [
      next("response.function_call_arguments.done", {
        item_id: itemId,
        output_index: 0,
        arguments: argumentsJson(content)
      }),
      next("response.output_item.done", { output_index: 0, item: completed }),
      next("response.completed", { response: responsesObject(ids, "completed", [completed], usage, null) })
    ]
  return { prefix, deltas, suffix, failure }
}

// ---------------------------------------------------------------------------
// Anthropic Messages (POST /v1/messages)
// ---------------------------------------------------------------------------

const messagesBlock = (content: Content, ids: Ids) =>
  content._tag === "Text"
    ? { type: "text", text: joined(content) }
    : { type: "tool_use", id: content.id ?? `toolu_fake_${ids.n}`, name: content.name, input: content.arguments ?? {} }

const messagesUsage = (inputTokens: number, outputTokens: number) => ({
  input_tokens: inputTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: outputTokens,
  service_tier: "standard"
})

const messagesObject = (
  ids: Ids,
  content: ReadonlyArray<unknown>,
  stopReason: string | null,
  usage: ReturnType<typeof messagesUsage>
) => ({
  id: `msg_fake_${ids.n}`,
  type: "message",
  role: "assistant",
  model: ids.model,
  content,
  stop_reason: stopReason,
  stop_sequence: null,
  usage
})

const stopReason = (content: Content): string => content._tag === "Text" ? "end_turn" : "tool_use"

/** The JSON body of a completed Anthropic Messages call. */
export const messagesJson = (content: Content, usage: FakeLlmServer.Usage, ids: Ids): unknown =>
  messagesObject(
    ids,
    [messagesBlock(content, ids)],
    stopReason(content),
    messagesUsage(usage.inputTokens, usage.outputTokens)
  )

/** The SSE events of an Anthropic Messages stream, in the order the real API sends them. */
export const messagesStream = (content: Content, usage: FakeLlmServer.Usage, ids: Ids): StreamPlan => {
  const event = (type: string, fields: Record<string, unknown> = {}): SseEvent => ({
    event: type,
    data: { type, ...fields }
  })
  const startBlock = content._tag === "Text"
    ? { type: "text", text: "" }
    : { type: "tool_use", id: content.id ?? `toolu_fake_${ids.n}`, name: content.name, input: {} }
  const prefix = [
    event("message_start", { message: messagesObject(ids, [], null, messagesUsage(usage.inputTokens, 1)) }),
    event("content_block_start", { index: 0, content_block: startBlock }),
    event("ping")
  ]
  const deltas = content._tag === "Text"
    ? content.deltas.map((text) => event("content_block_delta", { index: 0, delta: { type: "text_delta", text } }))
    : [event("content_block_delta", {
      index: 0,
      delta: { type: "input_json_delta", partial_json: argumentsJson(content) }
    })]
  const suffix = [
    event("content_block_stop", { index: 0 }),
    event("message_delta", {
      delta: { stop_reason: stopReason(content), stop_sequence: null },
      usage: { output_tokens: usage.outputTokens }
    }),
    event("message_stop")
  ]
  const failure = (error: FakeLlmServer.StreamError): ReadonlyArray<SseEvent> => [
    event("error", { error: { type: error.code, message: error.message } })
  ]
  return { prefix, deltas, suffix, failure }
}

// ---------------------------------------------------------------------------
// OpenAI Chat Completions (POST /v1/chat/completions)
// ---------------------------------------------------------------------------

const chatUsage = (usage: FakeLlmServer.Usage) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 }
})

const chatToolCall = (content: Content, ids: Ids) =>
  content._tag === "ToolCall"
    ? {
      id: content.id ?? `call_fake_${ids.n}`,
      type: "function",
      function: { name: content.name, arguments: argumentsJson(content) }
    }
    : undefined

const finishReason = (content: Content): string => content._tag === "Text" ? "stop" : "tool_calls"

/** The JSON body of a completed Chat Completions call. */
export const chatJson = (content: Content, usage: FakeLlmServer.Usage, ids: Ids): unknown => ({
  id: `chatcmpl-fake${ids.n}`,
  object: "chat.completion",
  created: ids.createdAt,
  model: ids.model,
  choices: [{
    index: 0,
    message: content._tag === "Text"
      ? { role: "assistant", content: joined(content), refusal: null, annotations: [] }
      : { role: "assistant", content: null, refusal: null, annotations: [], tool_calls: [chatToolCall(content, ids)] },
    logprobs: null,
    finish_reason: finishReason(content)
  }],
  usage: chatUsage(usage),
  service_tier: "default",
  system_fingerprint: "fp_fake"
})

/**
 * The `data:` chunks of a Chat Completions stream, ending with `data: [DONE]`;
 * the usage chunk is sent when the request asked for it
 * (`stream_options.include_usage`).
 */
export const chatStream = (
  content: Content,
  usage: FakeLlmServer.Usage,
  ids: Ids,
  includeUsage: boolean
): StreamPlan => {
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) => ({
    data: {
      id: `chatcmpl-fake${ids.n}`,
      object: "chat.completion.chunk",
      created: ids.createdAt,
      model: ids.model,
      system_fingerprint: "fp_fake",
      choices: finish === "none" ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
      ...extra
    }
  })
  const toolCall = chatToolCall(content, ids)
  const prefix = [
    chunk(
      toolCall === undefined
        ? { role: "assistant", content: "", refusal: null }
        : {
          role: "assistant",
          content: null,
          tool_calls: [{
            index: 0,
            id: toolCall.id,
            type: "function",
            function: { name: toolCall.function.name, arguments: "" }
          }]
        },
      null
    )
  ]
  const deltas = content._tag === "Text"
    ? content.deltas.map((text) => chunk({ content: text }, null))
    : [chunk({ tool_calls: [{ index: 0, function: { arguments: argumentsJson(content) } }] }, null)]
  const suffix = [
    chunk({}, finishReason(content)),
    ...(includeUsage ? [chunk({}, "none", { usage: chatUsage(usage) })] : []),
    { data: "[DONE]" }
  ]
  const failure = (error: FakeLlmServer.StreamError): ReadonlyArray<SseEvent> => [
    { data: { error: { message: error.message, type: error.code, param: null, code: error.code } } }
  ]
  return { prefix, deltas, suffix, failure }
}
