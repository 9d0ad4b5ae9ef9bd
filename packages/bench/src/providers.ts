/**
 * The provider-layer benchmark: what `@effect-resilience/ai`'s `LanguageModel`
 * decorators and `@effect-resilience/http`'s `ResilientHttpClient` cost a call
 * that succeeds at once, next to the same call without them.
 *
 * Two groups, each against its own bare row:
 *
 * - `LanguageModel`: `generateText({ prompt: "Hello" })` on a scripted model
 *   (a real `LanguageModel.make` whose provider function returns a text part
 *   and a finish part at once); the same through `ResilientLanguageModel`
 *   (default pipeline, keyed `openai/gpt-4o`) and through a two-step
 *   `FailoverLanguageModel` whose first step serves. To tell where the
 *   cost comes from, rows take it apart: the provider function alone; it
 *   followed by the decode `LanguageModel.make` does per call (its response
 *   schema, `Response.Part(Toolkit.empty)`, built anew on every call), by the
 *   same decode with the schema built once, and by a decode plus an encode
 *   with its schema built per call (what `ResilientLanguageModel` paid per
 *   call before it built its encoders once per toolkit); a
 *   hand-written outer `LanguageModel.make` that calls the inner model and
 *   encodes its parts with a schema built once (the decorator's shape: two
 *   `make`s, two spans, two decodes); and `ResilientLanguageModel.wrap`
 *   around a pass-through pipeline (everything the decorator does but the
 *   pipeline's policies).
 * - `HttpClient`: a `GET` on an in-memory client (`HttpClient.make` answering
 *   `200 ok` at once; nothing leaves the process), after the in-memory answer
 *   alone (a web `Response` and `HttpClientResponse.fromWeb`); the same through
 *   `ResilientHttpClient.layer()` (default pipeline, keyed by host), through
 *   it with a constant key (no URL parsing per request), and through an
 *   identity `HttpClient.transform` (the cost of being a wrapping client).
 *
 * Every service is built once, before anything is timed, as an application
 * builds its layers at start-up; each sample is a batch of `batchSize`
 * sequential calls in one fiber, as in `variants.ts`.
 *
 * @since 0.1.0
 */
import { FailoverLanguageModel, ResilientLanguageModel } from "@effect-resilience/ai"
import { Resilience } from "@effect-resilience/core"
import { ResilientHttpClient } from "@effect-resilience/http"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Response from "@effect/ai/Response"
import * as Toolkit from "@effect/ai/Toolkit"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Context, Effect, Exit, Layer, ManagedRuntime, Runtime, Schema, Scope } from "effect"
import { batchSize, counter, type Variant } from "./variants.js"

/** Calls that reached a model or client that must not be called on the happy path (a failover's second step). */
export const unexpected = { calls: 0 }

/** The bare rows, one per group: every other row of a group is compared with its group's. */
export const baselines = {
  languageModel: "LanguageModel bare (scripted)",
  httpClient: "HttpClient bare (in-memory)"
} as const

/** What the scripted provider answers: one text part and a finish part, as a provider function encodes them. */
const parts: Array<Response.PartEncoded> = [
  { type: "text", text: "hi" },
  { type: "finish", reason: "stop", usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 } }
]

/** The provider function of the scripted model: the parts, at once, counted. */
const provide = (): Effect.Effect<Array<Response.PartEncoded>> =>
  Effect.sync(() => {
    counter.calls++
    return parts
  })

/** A real `LanguageModel` whose provider function is `generate`; streams are not measured. */
const scriptedModel = (generate: () => Effect.Effect<Array<Response.PartEncoded>>) =>
  LanguageModel.make({
    generateText: generate,
    streamText: () => Effect.dieMessage("not benchmarked") as never
  })

const indices: ReadonlyArray<number> = Array.from({ length: batchSize }, (_, i) => i)

/** `batchSize` sequential runs of `effect` in one fiber. */
const batch = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<void, E> =>
  Effect.forEach(indices, () => effect, { discard: true })

const encodeParts = Schema.encode(Schema.Array(Response.Part(Toolkit.empty)))

const decodePartsOnce = Schema.decodeUnknown(Schema.mutable(Schema.Array(Response.Part(Toolkit.empty))))

/**
 * The provider's parts decoded as `LanguageModel.make` decodes them on every
 * call: the response schema (`Response.Part(Toolkit.empty)`) is built anew,
 * so its parser is compiled anew.
 */
const decodeSchemaPerCall: Effect.Effect<unknown, unknown> = Effect.flatMap(
  Effect.suspend(provide),
  (raw) => Schema.decodeUnknown(Schema.mutable(Schema.Array(Response.Part(Toolkit.empty))))(raw)
)

/** The same decode with the schema built once. */
const decodeSchemaOnce: Effect.Effect<unknown, unknown> = Effect.flatMap(Effect.suspend(provide), decodePartsOnce)

/**
 * Decode, then encode back with a schema built per call: how
 * `ResilientLanguageModel`'s provider function encoded the inner response
 * before its encoders were built once per toolkit (the cost that saved).
 */
const decodeEncodeSchemaPerCall: Effect.Effect<unknown, unknown> = Effect.flatMap(
  decodeSchemaOnce,
  (decoded) => Schema.encode(Schema.Array(Response.Part(Toolkit.empty)))(decoded as any)
)

/**
 * The decorator's shape without any of its work: an outer `LanguageModel.make`
 * whose provider function calls the inner model and encodes its parts back,
 * as `ResilientLanguageModel` does.
 */
const passThroughModel = (inner: LanguageModel.Service) =>
  LanguageModel.make({
    generateText: (options) =>
      Effect.flatMap(
        inner.generateText({ prompt: options.prompt }),
        (response) => Effect.orDie(encodeParts(response.content))
      ) as Effect.Effect<Array<Response.PartEncoded>>,
    streamText: () => Effect.dieMessage("not benchmarked") as never
  })

/** What the in-memory client answers: a fresh `200 ok` web response (its body can be read once), counted. */
const respond = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.sync(() => {
    counter.calls++
    return HttpClientResponse.fromWeb(request, new globalThis.Response("ok"))
  })

/** The services under measurement, built once in one scope. */
interface Services {
  readonly bareModel: LanguageModel.Service
  readonly passThrough: LanguageModel.Service
  readonly wrappedPassThrough: LanguageModel.Service
  readonly resilientModel: LanguageModel.Service
  readonly failoverModel: LanguageModel.Service
  readonly bareClient: HttpClient.HttpClient
  readonly transformedClient: HttpClient.HttpClient
  readonly resilientClient: HttpClient.HttpClient
  readonly resilientClientConstantKey: HttpClient.HttpClient
}

const buildServices: Effect.Effect<Services, unknown, Scope.Scope> = Effect.gen(function*() {
  const bareModel = yield* scriptedModel(provide)
  // The failover's second step must never be called while the first serves.
  const secondModel = yield* scriptedModel(() => Effect.sync(() => (unexpected.calls++, parts)))
  const passThrough = yield* passThroughModel(bareModel)

  const resilience = yield* Resilience.make()
  // Every policy skipped, the decorator's own work (tokens, span attributes, encode, adjust) kept.
  const passThroughPipeline: Resilience.Service = { ...resilience, run: (effect) => effect }
  const wrappedPassThrough = yield* ResilientLanguageModel.wrap(bareModel, passThroughPipeline, {
    key: "openai/gpt-4o"
  })

  const withModel = Layer.succeed(LanguageModel.LanguageModel, bareModel)
  const resilientModel = Context.get(
    yield* Layer.build(ResilientLanguageModel.layer({ key: "openai/gpt-4o" }).pipe(Layer.provide(withModel))),
    LanguageModel.LanguageModel
  )
  const failoverModel = Context.get(
    yield* Layer.build(FailoverLanguageModel.layer({
      steps: [
        { key: "openai/gpt-4o", model: bareModel },
        { key: "anthropic/claude-sonnet-4", model: secondModel }
      ]
    })),
    LanguageModel.LanguageModel
  )

  const bareClient = HttpClient.make(respond)
  const transformedClient = HttpClient.transform(bareClient, (send) => send)
  const withClient = Layer.succeed(HttpClient.HttpClient, bareClient)
  const resilientClient = Context.get(
    yield* Layer.build(ResilientHttpClient.layer().pipe(Layer.provide(withClient))),
    HttpClient.HttpClient
  )
  const resilientClientConstantKey = Context.get(
    yield* Layer.build(ResilientHttpClient.layer({ key: () => "openai" }).pipe(Layer.provide(withClient))),
    HttpClient.HttpClient
  )
  return {
    bareModel,
    passThrough,
    wrappedPassThrough,
    resilientModel,
    failoverModel,
    bareClient,
    transformedClient,
    resilientClient,
    resilientClientConstantKey
  }
})

/** The provider-layer variants, built once, and how to release what they hold. */
export interface Providers {
  readonly variants: ReadonlyArray<Variant>
  /**
   * Checks, before timing, that every variant calls the provider (or the
   * in-memory client) exactly once per call and answers what the provider
   * said: a benchmark of the wrong thing is worse than none.
   */
  readonly verify: () => Promise<void>
  readonly dispose: () => Promise<void>
}

/** Builds the services and the variants, in the order they are reported. */
export const make = async (): Promise<Providers> => {
  const managed = ManagedRuntime.make(Layer.empty)
  const runtime = await managed.runtime()
  const run = Runtime.runPromise(runtime)
  const scope = Effect.runSync(Scope.make())
  const services = await run(Scope.extend(buildServices, scope))

  const generate = (model: LanguageModel.Service) => model.generateText({ prompt: "Hello" })
  const request = HttpClientRequest.get("http://127.0.0.1/v1/models")
  const get = (client: HttpClient.HttpClient) => client.execute(request)

  const row = (name: string, effect: Effect.Effect<unknown, unknown>, baseline: string): Variant => {
    const program = batch(effect)
    return { name, family: "effect", ours: false, comparedWith: baseline, runBatch: () => run(program) }
  }
  const lm = baselines.languageModel
  const http = baselines.httpClient

  const variants: ReadonlyArray<Variant> = [
    row("provider function alone", Effect.suspend(provide), lm),
    row("+ decode, schema built per call (as make)", decodeSchemaPerCall, lm),
    row("+ decode, schema built once", decodeSchemaOnce, lm),
    row("+ decode once + encode, schema per call (before caching)", decodeEncodeSchemaPerCall, lm),
    row(lm, generate(services.bareModel), lm),
    row("LanguageModel.make pass-through wrapper", generate(services.passThrough), lm),
    row("ResilientLanguageModel.wrap, pass-through pipeline", generate(services.wrappedPassThrough), lm),
    row("ResilientLanguageModel (default pipeline)", generate(services.resilientModel), lm),
    row("FailoverLanguageModel (2 steps, first serves)", generate(services.failoverModel), lm),
    row("in-memory response alone (Response + fromWeb)", respond(request), http),
    row(http, get(services.bareClient), http),
    row("HttpClient.transform identity", get(services.transformedClient), http),
    row("ResilientHttpClient (default pipeline)", get(services.resilientClient), http),
    row("ResilientHttpClient constant key", get(services.resilientClientConstantKey), http)
  ]

  const verify = async (): Promise<void> => {
    for (const variant of variants) {
      counter.calls = 0
      unexpected.calls = 0
      await variant.runBatch()
      if (counter.calls !== batchSize || unexpected.calls !== 0) {
        throw new Error(
          `"${variant.name}" made ${counter.calls} provider calls (and ${unexpected.calls} to a model ` +
            `it must not call) for a batch of ${batchSize}`
        )
      }
    }
    // Each decorated model answers what the provider said, and each client the in-memory response.
    const models = [
      services.bareModel,
      services.passThrough,
      services.wrappedPassThrough,
      services.resilientModel,
      services.failoverModel
    ]
    for (const model of models) {
      const response = await run(generate(model))
      if (response.text !== "hi" || response.finishReason !== "stop") {
        throw new Error(`a model answered ${JSON.stringify(response.text)} (${response.finishReason})`)
      }
    }
    const clients = [
      services.bareClient,
      services.transformedClient,
      services.resilientClient,
      services.resilientClientConstantKey
    ]
    for (const client of clients) {
      const body = await run(Effect.flatMap(get(client), (response) => response.text))
      if (body !== "ok") throw new Error(`a client answered ${JSON.stringify(body)}`)
    }
  }

  return {
    variants,
    verify,
    dispose: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await managed.dispose()
    }
  }
}
