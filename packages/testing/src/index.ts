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

/**
 * Reproducible randomness for jitter and fault injection, re-exported from `@effect-resilience/core`.
 *
 * @since 0.1.0
 */
export { SeededRandom } from "@effect-resilience/core"

/**
 * VirtualTime: assert a schedule's delays in one line and run effects to their end under `TestClock`.
 *
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.js"
