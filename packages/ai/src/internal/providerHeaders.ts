import type { Resilience } from "@effect-resilience/core"
import { RateLimitHeaders } from "@effect-resilience/http"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The per-call configuration services of the provider clients, found by their tag keys so that this package needs
 * none of the provider packages: `@effect/ai-openai`'s `OpenAiConfig` and `@effect/ai-anthropic`'s
 * `AnthropicConfig`. Both clients read theirs at every non-streaming request and apply its `transformClient` to the
 * `HttpClient` the request goes through: where a successful response's headers are visible.
 */
interface ClientConfig {
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

const configTags: ReadonlyArray<Context.Tag<ClientConfig, ClientConfig>> = [
  Context.GenericTag<ClientConfig>("@effect/ai-openai/OpenAiConfig"),
  Context.GenericTag<ClientConfig>("@effect/ai-anthropic/AnthropicConfig")
]

/**
 * Runs an inner model's call so that the rate-limit headers of every response its provider client receives (success
 * or failure) feed the pipeline's admission for `key`: the user's own `transformClient`, if any, still applies
 * first. Streaming requests bypass the clients' per-call configuration: their 429s still teach the pipeline (through
 * the classified error), their successful responses' headers do not.
 */
export const observingHeaders = <A, E, R>(
  call: Effect.Effect<A, E, R>,
  resilience: Resilience.Service,
  key: string
): Effect.Effect<A, E, R> => {
  const observe = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
    HttpClient.tap(client, (response) =>
      Effect.flatMap(
        RateLimitHeaders.parseEffect(response.headers),
        (info) => resilience.observe(key, RateLimitHeaders.toObservation(info))
      ))
  return Effect.contextWithEffect((context: Context.Context<never>) => {
    let provided = call
    for (const tag of configTags) {
      const existing = Option.getOrUndefined(Context.getOption(context, tag))
      const inner = existing?.transformClient
      provided = Effect.provideService(provided, tag, {
        ...existing,
        transformClient: (client) => observe(inner === undefined ? client : inner(client))
      })
    }
    return provided
  })
}
