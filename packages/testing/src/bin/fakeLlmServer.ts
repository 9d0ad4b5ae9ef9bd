/**
 * Starts a `FakeLlmServer` for manual experiments, answering every endpoint
 * with its default reply ("Hello from fake"):
 *
 *     npx tsx packages/testing/src/bin/fakeLlmServer.ts [port]
 *
 * The port defaults to 8787 (0 picks a free one). The server listens on
 * 127.0.0.1 only and runs until interrupted (Ctrl-C).
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FakeLlmServer from "../FakeLlmServer.js"

const argument = process.argv[2] ?? "8787"
const port = Number(argument)

const program = Effect.gen(function*() {
  if (!/^\d+$/.test(argument) || port > 65_535) {
    yield* Console.error(`fakeLlmServer: the port must be an integer from 0 to 65535, not ${JSON.stringify(argument)}`)
    return yield* Effect.sync(() => process.exit(2))
  }
  const server = yield* FakeLlmServer.make({ port })
  yield* Console.log(`FakeLlmServer listening on ${server.url}`)
  yield* Console.log(`  OpenAI apiUrl:    ${server.openAiUrl}   (POST /v1/responses, /v1/chat/completions)`)
  yield* Console.log(`  Anthropic apiUrl: ${server.anthropicUrl}   (POST /v1/messages)`)
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
