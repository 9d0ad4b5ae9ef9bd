import { Fallback, Hedge, type PolicyError, Resilience } from "@effect-resilience/core"
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as Tokenizer from "@effect/ai/Tokenizer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Span } from "effect/Tracer"
import type * as FailoverLanguageModel from "../FailoverLanguageModel.js"
import * as StreamGuard from "../StreamGuard.js"
import { observingStream } from "./providerHeaders.js"
import * as rlm from "./resilientLanguageModel.js"

const moduleName = "FailoverLanguageModel"

/** Turns any failure into an `AiError`, the decorator's own as `UnknownError`s of module `"FailoverLanguageModel"`. */
export const toAiError: (method: string) => (error: unknown) => AiError.AiError = rlm.toAiErrorIn(moduleName)

/**
 * What a step's call is given: the effect to run for the step at an index (the same request, made to that
 * step's model), and the tokens to charge to the step's rate limiter.
 */
interface Input {
  readonly call: (index: number) => Effect.Effect<unknown, unknown>
  readonly tokens: number
}

/** A step with its model built and its pipeline made. */
interface Built {
  readonly key: string
  readonly system: string
  readonly model: string | undefined
  readonly inner: LanguageModel.Service
  readonly resilience: Resilience.Service
}

/** Implements `FailoverLanguageModel.make`, documented there. */
export const make = <E, R>(
  options: FailoverLanguageModel.Options<ReadonlyArray<FailoverLanguageModel.Step<E, R>>>
): Effect.Effect<LanguageModel.Service, E | PolicyError.InvalidPolicyError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const steps = options.steps
    if (steps.length === 0) return yield* Effect.dieMessage("FailoverLanguageModel: at least one step is required")
    const name = options.name ?? steps.map((step) => step.key).join(" > ")
    const classify = rlm.classifier(options.classify)
    const tokensOf = rlm.tokenCounter(options.estimateTokens, yield* Effect.serviceOption(Tokenizer.Tokenizer))

    const built: Array<Built> = []
    const fallbackSteps: Array<Fallback.Step<Input, unknown, unknown, never>> = []
    for (let index = 0; index < steps.length; index++) {
      const step = steps[index]
      const inner = Layer.isLayer(step.model)
        ? Context.get(
          yield* Layer.build(step.model as Layer.Layer<LanguageModel.LanguageModel, E, R>),
          LanguageModel.LanguageModel
        )
        : step.model as LanguageModel.Service
      // Each step has a pipeline of its own: its own retries, breaker, bulkhead and limiter, under its key.
      const resilience = yield* Resilience.make(step.resilience, { classify })
      const [system, model] = rlm.splitKey(step.key)
      built.push({ key: step.key, system, model, inner, resilience })
      fallbackSteps.push(Fallback.step(step.key, (input: Input) => input.call(index), {
        resilience,
        key: step.key,
        tokens: (input) => input.tokens,
        contextWindow: step.contextWindow
      }))
    }

    const fallbackOptions: Fallback.Options = {
      name,
      classify,
      ...(options.triggers !== undefined ? { triggers: options.triggers } : {})
    }
    const fallback = Fallback.make(fallbackSteps as [Fallback.Step<Input, unknown, unknown, never>], fallbackOptions)

    // The hedge's backup call: the same failover from the next step on (or from the first, with `target: "same"`).
    const hedgeOptions = options.hedge
    const hedge = hedgeOptions === undefined ? undefined : yield* Effect.gen(function*() {
      const { target, ...rest } = hedgeOptions
      const self = yield* Hedge.make({ key: name, hedgeOnFailure: false, ...rest, classify })
      const backup = target === "same" || fallbackSteps.length === 1
        ? fallback
        : Fallback.make(fallbackSteps.slice(1) as [Fallback.Step<Input, unknown, unknown, never>], fallbackOptions)
      return { self, backup }
    })

    /** Says on the call's span which step served it (the span `LanguageModel` made, which the provider gets). */
    const served = (span: Span, step: Built) =>
      Effect.sync(() => {
        span.attribute("resilience.served_by", step.key)
        rlm.annotateCall(span, step.key, step.system, step.model)
      })

    const generateText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Effect.Effect<Array<Response.PartEncoded>, AiError.AiError> =>
      Effect.gen(function*() {
        const toolkit = rlm.toolkitOf(providerOptions.tools)
        const tokens = yield* tokensOf(providerOptions.prompt)
        const input: Input = {
          tokens,
          call: (index) =>
            Effect.tap(
              Effect.zipRight(
                rlm.annotateAttempt(built[index].system, built[index].model),
                rlm.innerGenerate(built[index].inner, providerOptions, toolkit, built[index])
              ),
              (response) =>
                Effect.zipRight(
                  served(providerOptions.span, built[index]),
                  rlm.correctCharge(built[index].resilience, built[index].key, tokens, response.usage)
                )
            )
        }
        const call = fallback.run(input)
        const response = (yield* Effect.mapError(
          hedge === undefined ? call : Hedge.hedge(call, hedge.self, hedge.backup.run(input)),
          toAiError("generateText")
        )) as LanguageModel.GenerateTextResponse<any>
        // Tools are resolved by the outer service, once, from the serving step's response.
        return yield* rlm.encodeParts(response.content, toolkit, moduleName)
      })

    const streamText = (
      providerOptions: LanguageModel.ProviderOptions
    ): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> =>
      Stream.unwrap(Effect.gen(function*() {
        const toolkit = rlm.toolkitOf(providerOptions.tools)
        const tokens = yield* tokensOf(providerOptions.prompt)
        // The step whose stream the guard's next attempt opens: set by the failover before each attempt. A
        // stream is never hedged, so one attempt runs at a time.
        let current = 0
        const parts: Stream.Stream<Response.StreamPart<any>, AiError.AiError> = Stream.suspend(() =>
          rlm.innerStream(built[current].inner, providerOptions, toolkit)
        )
        const encode = rlm.streamEncoder(toolkit)
        return StreamGuard.guard(parts, {
          ...options.stream,
          // The head of the stream (until its first content part) fails over; what follows it never does.
          run: (attempt) =>
            fallback.run({
              tokens,
              call: (index) =>
                Effect.suspend(() => {
                  current = index
                  return Effect.tap(
                    observingStream(
                      Effect.zipRight(
                        rlm.annotateAttempt(built[index].system, built[index].model),
                        attempt as Effect.Effect<unknown, unknown>
                      ),
                      built[index].resilience,
                      built[index].key
                    ),
                    () => served(providerOptions.span, built[index])
                  )
                })
            }) as Effect.Effect<any, any, any>
        }).pipe(
          Stream.tap((part) =>
            part.type === "finish"
              ? rlm.correctCharge(built[current].resilience, built[current].key, tokens, part.usage)
              : Effect.void
          ),
          Stream.mapError(toAiError("streamText")),
          Stream.mapChunksEffect((chunk) => Effect.mapError(encode(chunk), rlm.malformed("streamText", moduleName)))
        )
      }))

    return yield* LanguageModel.make({ generateText, streamText })
  })
