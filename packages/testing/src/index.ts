/**
 * ChaosLanguageModel: fault injection for an `@effect/ai` `LanguageModel`, its faults raised as the provider's `AiError`s.
 *
 * @since 0.1.0
 */
export * as ChaosLanguageModel from "./ChaosLanguageModel.js"

/**
 * FakeLlmServer: a real loopback HTTP server speaking the OpenAI and Anthropic APIs, answering from a script.
 *
 * @since 0.1.0
 */
export * as FakeLlmServer from "./FakeLlmServer.js"

/**
 * FaultInjection: chaos for any effect (error rates, latency, outages, rate limits), reproducible by seed.
 *
 * @since 0.1.0
 */
export * as FaultInjection from "./FaultInjection.js"

/**
 * ScriptedProvider: a provider whose outcomes come from a script, recording every call.
 *
 * @since 0.1.0
 */
export * as ScriptedProvider from "./ScriptedProvider.js"

export {
  /**
   * Reproducible randomness for jitter and fault injection, re-exported from `@effect-resilience/core`.
   *
   * @since 0.1.0
   */
  SeededRandom
} from "@effect-resilience/core"

/**
 * VirtualTime: assert a schedule's delays in one line, run effects to their end under `TestClock`, poll real
 * I/O (a `FakeLlmServer`) and move the clock exactly when the code under test sleeps.
 *
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.js"
