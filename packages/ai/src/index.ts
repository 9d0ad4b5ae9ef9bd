/**
 * Which `AiError`s of `@effect/ai` are worth another call, and when: provider error bodies, status and headers.
 *
 * @since 0.1.0
 */
export * as AiClassify from "./AiClassify.js"

/**
 * A stream of response parts retried while it has delivered nothing, and never once it has.
 *
 * @since 0.1.0
 */
export * as StreamGuard from "./StreamGuard.js"

/**
 * An `@effect/ai` `LanguageModel` whose provider calls pass through a Resilience pipeline, as a Layer.
 *
 * @since 0.1.0
 */
export * as ResilientLanguageModel from "./ResilientLanguageModel.js"

/**
 * One `@effect/ai` `LanguageModel` served by an ordered list of models, each under its own pipeline, as a Layer.
 *
 * @since 0.1.0
 */
export * as FailoverLanguageModel from "./FailoverLanguageModel.js"
