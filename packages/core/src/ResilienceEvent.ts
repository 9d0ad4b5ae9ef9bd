/**
 * Events: every decision the resilience policies take, as data.
 *
 * Policies publish to the `ResilienceEvents` service. By default it is
 * disabled and costs nothing; provide `ResilienceEvent.layer()` to get a
 * stream of events for logs, dashboards or test assertions.
 *
 * Events carry what a person needs to understand a decision (key, attempt,
 * verdict, delay, why) and never the failed error itself: provider errors can
 * echo request data, and an API key must never reach a log through an event.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Classify from "./Classify.js"
import type * as Fallback from "./Fallback.js"
import type * as ProviderError from "./ProviderError.js"

/**
 * Why `Retry` stopped retrying a transient failure.
 *
 * - `MaxAttempts`: the policy's `maxAttempts` calls were made;
 * - `ScheduleEnded`: the backoff schedule ended;
 * - `RetryAfterBeyondCeiling`: the provider asked to wait longer than `retryAfterCeiling`;
 * - `MaxElapsed`: the next call would start after `maxElapsed`;
 * - `BudgetExhausted`: the retry budget refused the retry;
 * - `DeadlineWouldPass`: the wait would end after the caller's deadline (`Deadline`);
 * - `CircuitOpen`: a circuit breaker refused the call and the policy says not to wait for it
 *   (`Retry` option `onOpenCircuit: "fail"`).
 *
 * @example
 * ```ts
 * import type { ResilienceEvent } from "@effect-resilience/core"
 *
 * const why: ResilienceEvent.StopReason = "RetryAfterBeyondCeiling"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StopReason =
  | "MaxAttempts"
  | "ScheduleEnded"
  | "RetryAfterBeyondCeiling"
  | "MaxElapsed"
  | "BudgetExhausted"
  | "DeadlineWouldPass"
  | "CircuitOpen"

/**
 * What a classifier said of a failure, as carried by events.
 *
 * @example
 * ```ts
 * import type { ResilienceEvent } from "@effect-resilience/core"
 *
 * const verdict: ResilienceEvent.VerdictSummary = { kind: "Transient", reason: "RateLimited" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type VerdictSummary =
  | {
    readonly kind: "Transient"
    readonly reason: ProviderError.TransientReason
    readonly retryAfter?: Duration.Duration | undefined
  }
  | { readonly kind: "Permanent"; readonly reason: ProviderError.PermanentReason }

/**
 * A decision taken by a resilience policy. `at` is the `Clock` time in
 * milliseconds; `key` names what is protected (e.g. `"openai/gpt-4o"`).
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const onlyRetries = (event: ResilienceEvent.ResilienceEvent) => ResilienceEvent.$is("RetryScheduled")(event)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ResilienceEvent = Data.TaggedEnum<{
  /** A call to the protected effect begins. `attempt` counts from 1. */
  AttemptStarted: { readonly key: string; readonly attempt: number; readonly at: number }
  /** The call succeeded. */
  Succeeded: { readonly key: string; readonly attempt: number; readonly at: number }
  /** The call failed; `willRetry` tells whether another call follows. */
  AttemptFailed: {
    readonly key: string
    readonly attempt: number
    readonly at: number
    readonly verdict: VerdictSummary
    readonly errorTag: string | undefined
    readonly willRetry: boolean
  }
  /** Another call will be made after `delay`; `basis` says whether the backoff or the provider's Retry-After set it. */
  RetryScheduled: {
    readonly key: string
    readonly attempt: number
    readonly at: number
    readonly delay: Duration.Duration
    readonly basis: "Backoff" | "RetryAfter"
    readonly reason: ProviderError.TransientReason
  }
  /** Retrying stopped on a transient failure; the caller gets the last error. */
  RetriesExhausted: {
    readonly key: string
    readonly attempts: number
    readonly at: number
    readonly why: StopReason
  }
  /** A circuit breaker opened: calls fail fast until `until` (epoch ms), after `openFor`. */
  BreakerOpened: {
    readonly key: string
    readonly at: number
    readonly from: "Closed" | "HalfOpen"
    readonly openFor: Duration.Duration
  }
  /** An open breaker's break ended: the next calls are probes. */
  BreakerHalfOpened: { readonly key: string; readonly at: number }
  /** A breaker closed: calls flow again. */
  BreakerClosed: { readonly key: string; readonly at: number }
  /** A breaker was isolated by hand: every call fails fast until it is reset. */
  BreakerIsolated: { readonly key: string; readonly at: number }
  /** A call was refused before reaching the provider. */
  CallRejected: {
    readonly key: string
    readonly at: number
    readonly by: "CircuitBreaker" | "Bulkhead" | "RateLimiter"
    readonly retryAfter?: Duration.Duration | undefined
  }
  /** The retry budget refused a retry. */
  BudgetExhausted: { readonly key: string; readonly at: number; readonly attempt: number }
  /** The rate limiter holds a call back for `wait` before letting it through. */
  RateLimited: {
    readonly key: string
    readonly at: number
    readonly wait: Duration.Duration
    readonly tokens: number
  }
  /**
   * The pipeline learned (or re-learned) a provider's limit for `key`: `perMinute` units of `resource` a minute,
   * from the provider's rate-limit headers (`source: "headers"`) or from its 429s alone (`"throttling"`: the rate
   * it admits at after a 429, which then grows back while no 429 comes).
   */
  LimitLearned: {
    readonly key: string
    readonly at: number
    readonly resource: "requests" | "tokens"
    readonly perMinute: number
    readonly source: "headers" | "throttling"
  }
  /** One call took longer than its timeout and was interrupted. */
  AttemptTimedOut: {
    readonly key: string
    readonly at: number
    readonly after: Duration.Duration
  }
  /** The caller's deadline passed; the work in flight was interrupted. */
  DeadlineExceeded: {
    readonly key: string
    readonly at: number
    readonly elapsed: Duration.Duration
  }
  /** The shared state store (`store` names it, e.g. `"redis"`) failed; policies use local state until it is back. */
  StoreDegraded: { readonly store: string; readonly at: number; readonly reason: string }
  /** The shared state store answers again after `downFor`; policies use it again. */
  StoreRecovered: { readonly store: string; readonly at: number; readonly downFor: Duration.Duration }
  /**
   * The fallback `key` moved past its step `step` (`index` from 0): without calling it (`BreakerOpen`: its
   * breaker is open; `ContextWindow`: its context window is not larger than that of a step that failed with
   * `ContextLengthExceeded`), or after it failed with the reason `why`.
   */
  StepSkipped: {
    readonly key: string
    readonly at: number
    readonly step: string
    readonly index: number
    readonly why: Fallback.SkipReason
  }
  /** A step other than the first (`index` from 0) served the fallback `key`; `skipped` lists the steps passed over. */
  FallbackUsed: {
    readonly key: string
    readonly at: number
    readonly servedBy: string
    readonly index: number
    readonly skipped: ReadonlyArray<{
      readonly step: string
      readonly why: Fallback.SkipReason
    }>
  }
  /**
   * A hedge call started `delay` after the primary call: `basis` says whether the fixed delay or the observed
   * latency percentile set it, or whether the primary failed first.
   */
  HedgeStarted: {
    readonly key: string
    readonly at: number
    readonly delay: Duration.Duration
    readonly basis: "Fixed" | "Percentile" | "PrimaryFailed"
  }
  /** The retry budget refused a hedge: the primary call goes on alone. */
  HedgeDenied: { readonly key: string; readonly at: number }
  /** A hedged call ended: `winner` is the call whose result the caller got (`Neither` when both failed). */
  HedgeSettled: {
    readonly key: string
    readonly at: number
    readonly winner: "Primary" | "Hedge" | "Neither"
  }
}>

const constructors = Data.taggedEnum<ResilienceEvent>()

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.AttemptStarted({ key: "openai", attempt: 1, at: 0 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const AttemptStarted = constructors.AttemptStarted

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.Succeeded({ key: "openai", attempt: 2, at: 500 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Succeeded = constructors.Succeeded

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.AttemptFailed({
 *   key: "openai",
 *   attempt: 1,
 *   at: 0,
 *   verdict: { kind: "Permanent", reason: "Authentication" },
 *   errorTag: "PermanentError",
 *   willRetry: false
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const AttemptFailed = constructors.AttemptFailed

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.RetryScheduled({
 *   key: "openai",
 *   attempt: 1,
 *   at: 0,
 *   delay: Duration.seconds(2),
 *   basis: "RetryAfter",
 *   reason: "RateLimited"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const RetryScheduled = constructors.RetryScheduled

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.RetriesExhausted({ key: "openai", attempts: 3, at: 1500, why: "MaxAttempts" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const RetriesExhausted = constructors.RetriesExhausted

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.BreakerOpened({ key: "openai", at: 0, from: "Closed", openFor: Duration.seconds(5) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const BreakerOpened = constructors.BreakerOpened

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.BreakerHalfOpened({ key: "openai", at: 5_000 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const BreakerHalfOpened = constructors.BreakerHalfOpened

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.BreakerClosed({ key: "openai", at: 5_200 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const BreakerClosed = constructors.BreakerClosed

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.BreakerIsolated({ key: "openai", at: 0 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const BreakerIsolated = constructors.BreakerIsolated

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.CallRejected({ key: "openai", at: 0, by: "Bulkhead" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const CallRejected = constructors.CallRejected

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.BudgetExhausted({ key: "openai", at: 0, attempt: 1 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const BudgetExhausted = constructors.BudgetExhausted

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.RateLimited({ key: "openai", at: 0, wait: Duration.millis(100), tokens: 1 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const RateLimited = constructors.RateLimited

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.LimitLearned({
 *   key: "openai/gpt-4o",
 *   at: 0,
 *   resource: "requests",
 *   perMinute: 600,
 *   source: "headers"
 * })
 * ResilienceEvent.format(event) // "[openai/gpt-4o] learned a limit of 600 requests/min from headers"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const LimitLearned = constructors.LimitLearned

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.AttemptTimedOut({ key: "openai", at: 30_000, after: Duration.seconds(30) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const AttemptTimedOut = constructors.AttemptTimedOut

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.DeadlineExceeded({ key: "openai", at: 60_000, elapsed: Duration.seconds(60) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const DeadlineExceeded = constructors.DeadlineExceeded

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.StoreDegraded({ store: "redis", at: 0, reason: "connect ECONNREFUSED" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const StoreDegraded = constructors.StoreDegraded

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.StoreRecovered({ store: "redis", at: 12_000, downFor: Duration.seconds(12) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const StoreRecovered = constructors.StoreRecovered

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.StepSkipped({ key: "chat", at: 0, step: "openai/gpt-4o", index: 0, why: "Overloaded" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const StepSkipped = constructors.StepSkipped

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.FallbackUsed({
 *   key: "chat",
 *   at: 1_500,
 *   servedBy: "anthropic/claude-sonnet-4",
 *   index: 1,
 *   skipped: [{ step: "openai/gpt-4o", why: "Overloaded" }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const FallbackUsed = constructors.FallbackUsed

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Duration } from "effect"
 *
 * const event = ResilienceEvent.HedgeStarted({ key: "openai", at: 250, delay: Duration.millis(250), basis: "Fixed" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const HedgeStarted = constructors.HedgeStarted

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.HedgeDenied({ key: "openai", at: 250 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const HedgeDenied = constructors.HedgeDenied

/**
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const event = ResilienceEvent.HedgeSettled({ key: "openai", at: 400, winner: "Hedge" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const HedgeSettled = constructors.HedgeSettled

/**
 * A guard for one kind of event.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const isRetry = ResilienceEvent.$is("RetryScheduled")
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const $is = constructors.$is

/**
 * Exhaustive pattern matching on events.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const isFailure = ResilienceEvent.$match({
 *   AttemptStarted: () => false,
 *   Succeeded: () => false,
 *   AttemptFailed: () => true,
 *   RetryScheduled: () => false,
 *   RetriesExhausted: () => true,
 *   BreakerOpened: () => false,
 *   BreakerHalfOpened: () => false,
 *   BreakerClosed: () => false,
 *   BreakerIsolated: () => false,
 *   CallRejected: () => true,
 *   BudgetExhausted: () => true,
 *   RateLimited: () => false,
 *   LimitLearned: () => false,
 *   AttemptTimedOut: () => false,
 *   DeadlineExceeded: () => true,
 *   StoreDegraded: () => false,
 *   StoreRecovered: () => false,
 *   StepSkipped: () => false,
 *   FallbackUsed: () => false,
 *   HedgeStarted: () => false,
 *   HedgeDenied: () => false,
 *   HedgeSettled: () => false
 * })
 * ```
 *
 * @since 0.1.0
 * @category pattern matching
 */
export const $match = constructors.$match

/**
 * One line a person can read, e.g.
 * `[openai] attempt 1 failed: Transient RateLimited (retry-after 2s), will retry`.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * ResilienceEvent.format(ResilienceEvent.AttemptStarted({ key: "openai", attempt: 1, at: 0 }))
 * // "[openai] attempt 1 started"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format: (event: ResilienceEvent) => string = $match({
  AttemptStarted: (e) => `[${e.key}] attempt ${e.attempt} started`,
  Succeeded: (e) => `[${e.key}] attempt ${e.attempt} succeeded`,
  AttemptFailed: (e) => {
    const retryAfter = e.verdict.kind === "Transient" && e.verdict.retryAfter !== undefined
      ? ` (retry-after ${formatMillis(e.verdict.retryAfter)})`
      : ""
    return `[${e.key}] attempt ${e.attempt} failed: ${e.verdict.kind} ${e.verdict.reason}${retryAfter}, ${
      e.willRetry ? "will retry" : "giving up"
    }`
  },
  RetryScheduled: (e) =>
    `[${e.key}] retry ${e.attempt + 1} in ${formatMillis(e.delay)} (${
      e.basis === "RetryAfter" ? "provider's Retry-After" : "backoff"
    }, ${e.reason})`,
  RetriesExhausted: (e) => `[${e.key}] gave up after ${e.attempts} attempt${e.attempts === 1 ? "" : "s"}: ${e.why}`,
  BreakerOpened: (e) => `[${e.key}] circuit opened (from ${e.from}) for ${formatMillis(e.openFor)}`,
  BreakerHalfOpened: (e) => `[${e.key}] circuit half-open: probing`,
  BreakerClosed: (e) => `[${e.key}] circuit closed`,
  BreakerIsolated: (e) => `[${e.key}] circuit isolated by hand`,
  CallRejected: (e) =>
    `[${e.key}] call rejected by ${e.by}${
      e.retryAfter === undefined ? "" : ` (retry in ${formatMillis(e.retryAfter)})`
    }`,
  BudgetExhausted: (e) => `[${e.key}] retry budget exhausted after attempt ${e.attempt}`,
  RateLimited: (e) => `[${e.key}] rate limiter holds the call for ${formatMillis(e.wait)} (${e.tokens} tokens)`,
  LimitLearned: (e) =>
    `[${e.key}] learned a limit of ${formatRate(e.perMinute)} ${e.resource}/min from ${
      e.source === "headers" ? "headers" : "throttling (429s)"
    }`,
  AttemptTimedOut: (e) => `[${e.key}] attempt timed out after ${formatMillis(e.after)}`,
  DeadlineExceeded: (e) => `[${e.key}] deadline exceeded after ${formatMillis(e.elapsed)}`,
  StoreDegraded: (e) => `[${e.store}] state store degraded, using local state: ${e.reason}`,
  StoreRecovered: (e) => `[${e.store}] state store recovered after ${formatMillis(e.downFor)}`,
  StepSkipped: (e) => `[${e.key}] skipped ${e.step}: ${e.why}`,
  FallbackUsed: (e) =>
    `[${e.key}] served by ${e.servedBy} after ${e.skipped.map((s) => `${s.step} (${s.why})`).join(", ")}`,
  HedgeStarted: (e) =>
    `[${e.key}] hedge started after ${formatMillis(e.delay)} (${
      e.basis === "PrimaryFailed" ? "primary failed" : e.basis === "Percentile" ? "latency percentile" : "fixed delay"
    })`,
  HedgeDenied: (e) => `[${e.key}] hedge denied by the retry budget`,
  HedgeSettled: (e) => `[${e.key}] hedged call settled: ${e.winner === "Neither" ? "both failed" : `${e.winner} won`}`
})

/** A rate per minute: whole above 10, one decimal below (a learned rate is rarely whole). */
const formatRate = (perMinute: number): string =>
  perMinute >= 10 ? String(Math.round(perMinute)) : String(Math.round(perMinute * 10) / 10)

const formatMillis = (duration: Duration.Duration): string => {
  const millis = Math.round(Duration.toMillis(duration))
  return millis < 1000 ? `${millis} ms` : Duration.format(Duration.millis(millis))
}

/**
 * The sink policies publish to. `enabled` lets a policy skip building events
 * nobody will read.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const events = yield* ResilienceEvent.ResilienceEvents
 *   yield* events.publish(ResilienceEvent.AttemptStarted({ key: "demo", attempt: 1, at: 0 }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Sink {
  readonly enabled: boolean
  readonly publish: (event: ResilienceEvent) => Effect.Effect<void>
  /** Subscribes now; the queue receives every event published from here on, until the scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<ResilienceEvent>, never, Scope.Scope>
}

const disabled: Sink = {
  enabled: false,
  publish: () => Effect.void,
  subscribe: Effect.dieMessage(
    "ResilienceEvents is not enabled: provide ResilienceEvent.layer() to subscribe to resilience events"
  )
}

/**
 * The events service. Without a layer it is disabled: publishing costs
 * nothing and nothing is kept.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const enabled = Effect.map(ResilienceEvent.ResilienceEvents, (events) => events.enabled)
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class ResilienceEvents extends Context.Reference<ResilienceEvents>()(
  "@effect-resilience/core/ResilienceEvents",
  { defaultValue: (): Sink => disabled }
) {}

/**
 * An enabled events service backed by a `PubSub`. Each subscriber has its own
 * buffer of `capacity` events (default 4,096); a subscriber that falls behind
 * loses its oldest events rather than slowing down the calls being protected.
 *
 * @example
 * ```ts
 * import { ResilienceEvent, Retry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.succeed("ok").pipe(Retry.retry(Retry.policy()), Effect.provide(ResilienceEvent.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: { readonly capacity?: number | undefined }): Layer.Layer<ResilienceEvents> =>
  Layer.scoped(
    ResilienceEvents,
    Effect.map(
      Effect.acquireRelease(PubSub.sliding<ResilienceEvent>(options?.capacity ?? 4096), PubSub.shutdown),
      (pubsub): Sink => ({
        enabled: true,
        publish: (event) => Effect.asVoid(PubSub.publish(pubsub, event)),
        subscribe: PubSub.subscribe(pubsub)
      })
    )
  )

/**
 * Publishes an event built from the current `Clock` time, or does nothing
 * when events are disabled.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 *
 * const started = ResilienceEvent.publish((at) => ResilienceEvent.AttemptStarted({ key: "demo", attempt: 1, at }))
 * ```
 *
 * @since 0.1.0
 * @category publishing
 */
export const publish = (make: (at: number) => ResilienceEvent): Effect.Effect<void> =>
  Effect.flatMap(
    ResilienceEvents,
    (events) => events.enabled ? Effect.flatMap(Clock.currentTimeMillis, (at) => events.publish(make(at))) : Effect.void
  )

/**
 * Subscribes to events for the life of the scope.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Effect, Queue } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const queue = yield* ResilienceEvent.subscribe
 *   // ... run calls ...
 *   return yield* Queue.takeAll(queue)
 * })).pipe(Effect.provide(ResilienceEvent.layer()))
 * ```
 *
 * @since 0.1.0
 * @category subscribing
 */
export const subscribe: Effect.Effect<Queue.Dequeue<ResilienceEvent>, never, Scope.Scope> = Effect.flatMap(
  ResilienceEvents,
  (events) => events.subscribe
)

/**
 * All events published from when the stream starts. The subscription is made
 * when the stream starts running, so to be sure to see every event of a call
 * that follows, `subscribe` first and read the queue (`Stream.fromQueue`).
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Console, Effect, Stream } from "effect"
 *
 * const log = ResilienceEvent.stream.pipe(
 *   Stream.runForEach((event) => Console.log(ResilienceEvent.format(event))),
 *   Effect.forkScoped
 * )
 * ```
 *
 * @since 0.1.0
 * @category subscribing
 */
export const stream: Stream.Stream<ResilienceEvent> = Stream.unwrapScoped(
  Effect.map(subscribe, (queue) => Stream.fromQueue(queue))
)

/**
 * Handles every event published from now on in a background fiber that lives
 * as long as the scope. Unlike forking a run of `stream`, the subscription
 * exists when `listen` returns, so no event of a call made afterwards is missed.
 *
 * **Details**
 *
 * - Events are handled one at a time, in the order they were published.
 * - Every event published while the scope is open is handled before the scope
 *   finishes closing: closing waits for the event being handled, then handles
 *   those still queued. A handler is never interrupted half-way.
 *
 * **Gotchas**
 *
 * - Closing the scope waits for the handler, so a handler that never ends
 *   keeps the scope from closing.
 * - The listener keeps up to the layer's `capacity` events waiting; beyond it
 *   the oldest are dropped rather than slowing the calls being protected.
 * - Provide `ResilienceEvent.layer()` outside the listener's scope (as below):
 *   a layer provided inside it may shut down first, and its events with it.
 *
 * @example
 * ```ts
 * import { ResilienceEvent } from "@effect-resilience/core"
 * import { Console, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* ResilienceEvent.listen((event) => Console.log(ResilienceEvent.format(event)))
 *   // ... calls made here are logged ...
 * }).pipe(Effect.scoped, Effect.provide(ResilienceEvent.layer()))
 * ```
 *
 * @since 0.1.0
 * @category subscribing
 */
export const listen = <R>(
  handle: (event: ResilienceEvent) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const queue = yield* subscribe
    const handleOne = (event: ResilienceEvent) => Effect.uninterruptible(handle(event))
    // The loop is never interrupted: an event handed to a waiting `take` would be lost if its fiber were
    // interrupted before resuming. It ends when the subscription is shut down, at its next `take`.
    const fiber = yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), handleOne)))
    // Finalizers run in reverse order: this one runs before the fork's. It takes what is still queued, shuts
    // the subscription down (an event already handed to the loop's `take` survives that), waits for the loop
    // to handle what it holds, then handles the rest in order, so closing the scope loses nothing.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // The events layer may have closed first (it was provided inside this scope): nothing is left then.
        const rest = (yield* Queue.isShutdown(queue)) ? Chunk.empty<ResilienceEvent>() : yield* Queue.takeAll(queue)
        yield* Queue.shutdown(queue)
        yield* Fiber.await(fiber)
        yield* Effect.forEach(rest, handleOne, { discard: true })
      })
    )
  })

/**
 * Summarises a verdict for an event.
 *
 * @example
 * ```ts
 * import { Classify, ResilienceEvent } from "@effect-resilience/core"
 *
 * ResilienceEvent.summarize(Classify.transient("Overloaded")) // { kind: "Transient", reason: "Overloaded" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const summarize = (verdict: Classify.Verdict): VerdictSummary =>
  verdict._tag === "Transient"
    ? { kind: "Transient", reason: verdict.reason, retryAfter: Option.getOrUndefined(verdict.retryAfter) }
    : { kind: "Permanent", reason: verdict.reason }
