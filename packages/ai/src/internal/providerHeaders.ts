import type { Resilience } from "@effect-resilience/core"
import { RateLimitHeaders } from "@effect-resilience/http"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** Where the headers of the current provider call go: the pipeline and key of the model call that made it. */
interface Observer {
  readonly resilience: Resilience.Service
  readonly key: string
}

/** Set by the decorators around every inner call (generate and stream alike). */
export const currentObserver: FiberRef.FiberRef<Observer | undefined> = globalValue(
  "@effect-resilience/ai/currentHeadersObserver",
  () => FiberRef.unsafeMake<Observer | undefined>(undefined)
)

/** Responses already observed: both taps (the clients' per-call config and `layerHttpClient`) may see one. */
const observed = globalValue(
  "@effect-resilience/ai/observedResponses",
  () => new WeakSet<HttpClientResponse.HttpClientResponse>()
)

/** Feeds one response's rate-limit headers to the current call's pipeline, once. */
const observe = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(currentObserver), (observer) => {
    if (observer === undefined || observed.has(response)) return Effect.void
    observed.add(response)
    return Effect.flatMap(
      RateLimitHeaders.parseEffect(response.headers),
      (info) => observer.resilience.observe(observer.key, RateLimitHeaders.toObservation(info))
    )
  })

/** An `HttpClient` that feeds every response's headers to the model call that made the request. */
export const observingClient = (client: HttpClient.HttpClient): HttpClient.HttpClient => HttpClient.tap(client, observe)

/** Implements `ResilientLanguageModel.layerHttpClient`, documented there. */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, HttpClient.HttpClient> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(HttpClient.HttpClient, observingClient)
)

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
 * or failure) feed the pipeline's admission for `key`, through the clients' per-call configuration (the user's own
 * `transformClient`, if any, still applies first) and through `layerHttpClient` when it is under the client.
 * Streaming requests bypass the clients' per-call configuration: only `layerHttpClient` sees their headers (their
 * 429s still teach the pipeline through the classified error).
 */
export const observingHeaders = <A, E, R>(
  call: Effect.Effect<A, E, R>,
  resilience: Resilience.Service,
  key: string
): Effect.Effect<A, E, R> =>
  Effect.contextWithEffect((context: Context.Context<never>) => {
    let provided = call
    for (const tag of configTags) {
      const existing = Option.getOrUndefined(Context.getOption(context, tag))
      const inner = existing?.transformClient
      provided = Effect.provideService(provided, tag, {
        ...existing,
        transformClient: (client) => observingClient(inner === undefined ? client : inner(client))
      })
    }
    return Effect.locally(provided, currentObserver, { resilience, key })
  })

/** Runs a stream attempt so that `layerHttpClient` feeds its response's headers to the pipeline for `key`. */
export const observingStream = <A, E, R>(
  attempt: Effect.Effect<A, E, R>,
  resilience: Resilience.Service,
  key: string
): Effect.Effect<A, E, R> => Effect.locally(attempt, currentObserver, { resilience, key })
