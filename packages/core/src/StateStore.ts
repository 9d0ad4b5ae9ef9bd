/**
 * StateStore: where circuit-breaker and retry-budget state lives.
 *
 * The store is a set of *operations*, each one a whole state transition
 * (admit a call, record an outcome, withdraw a retry), never a get/set of a
 * state blob: an implementation on a shared store (Redis, in
 * `@effect-resilience/redis`) makes each operation atomic with one script, so
 * that every process of an application sees one breaker per provider.
 *
 * Everything an operation needs is passed to it as plain data (times in
 * epoch milliseconds from the caller's `Clock`, settings as numbers), so an
 * implementation never evaluates a `Schedule` or a function.
 *
 * Without a `StateStore` in context, each breaker and budget keeps its own
 * in-memory state (`StateStore.memory`); provide `StateStore.layerMemory` to
 * share one in-memory store between policies of one process, or the Redis
 * layer to share state between processes.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as breakerMemory from "./internal/breakerMemory.js"
import * as budgetMemory from "./internal/budgetMemory.js"

// ---------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------

/**
 * When a closed breaker opens:
 *
 * - `Consecutive`: after `threshold` transient failures in a row;
 * - `Ratio`: when, over the last `windowMillis`, at least `minimumThroughput`
 *   calls were recorded and the share of failures reached `ratio` (0..1).
 *   The window slides in `buckets` steps.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const trip: StateStore.TripSettings = {
 *   _tag: "Ratio",
 *   ratio: 0.5,
 *   windowMillis: 30_000,
 *   minimumThroughput: 10,
 *   buckets: 10
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TripSettings =
  | { readonly _tag: "Consecutive"; readonly threshold: number }
  | {
    readonly _tag: "Ratio"
    readonly ratio: number
    readonly windowMillis: number
    readonly minimumThroughput: number
    readonly buckets: number
  }

/**
 * Everything a breaker operation needs to know of the breaker's policy.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const settings: StateStore.BreakerSettings = {
 *   trip: { _tag: "Consecutive", threshold: 5 },
 *   halfOpenProbes: 1,
 *   successesToClose: 1,
 *   breakDurationsMillis: [5_000, 10_000, 20_000, 40_000]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerSettings {
  readonly trip: TripSettings
  /** Calls admitted at once while half-open; callers beyond them fail fast. */
  readonly halfOpenProbes: number
  /** Successful probes that close a half-open breaker. */
  readonly successesToClose: number
  /**
   * How long the breaker stays open the n-th time in a row it opens (index
   * n - 1); the last value repeats. A half-open breaker that closes resets n.
   */
  readonly breakDurationsMillis: ReadonlyArray<number>
}

/**
 * A breaker's state. `opens` counts how many times in a row it opened without
 * closing in between (it picks the break duration).
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const state: StateStore.BreakerState = { _tag: "Open", openedAt: 0, until: 5_000, opens: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerState =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly openedAt: number; readonly until: number; readonly opens: number }
  | { readonly _tag: "HalfOpen"; readonly probes: number; readonly successes: number; readonly opens: number }
  | { readonly _tag: "Isolated" }

/**
 * A change of state, as returned by the operation that caused it.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const opened: StateStore.Transition = { from: "Closed", to: "Open", at: 1_000, until: 6_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  readonly from: BreakerState["_tag"]
  readonly to: BreakerState["_tag"]
  readonly at: number
  /** When the breaker will half-open, for a transition to `Open`. */
  readonly until?: number | undefined
}

/**
 * The answer to "may this call go through?". An admitted call is a `probe`
 * when the breaker is half-open: its outcome must be recorded with
 * `probe: true` (or released) to free the probe slot.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const rejected: StateStore.Admission = { _tag: "Rejected", state: "Open", retryAt: 5_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Admission =
  | { readonly _tag: "Admitted"; readonly probe: boolean }
  | {
    readonly _tag: "Rejected"
    readonly state: "Open" | "HalfOpen" | "Isolated"
    /** When a call may be admitted again, at the earliest; `Infinity` while isolated. */
    readonly retryAt: number
  }

/**
 * The breaker operations. Each is one atomic transition of the state under
 * `key`; a key never seen before is `Closed`.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* StateStore.memory
 *   const { admission } = yield* store.breaker.admit("openai", 0, {
 *     trip: { _tag: "Consecutive", threshold: 3 },
 *     halfOpenProbes: 1,
 *     successesToClose: 1,
 *     breakDurationsMillis: [5_000]
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerStore {
  /** Admits or rejects a call; moves `Open` to `HalfOpen` once `until` has passed. */
  readonly admit: (
    key: string,
    now: number,
    settings: BreakerSettings
  ) => Effect.Effect<{ readonly admission: Admission; readonly transition: Transition | undefined }>
  /** Records the outcome of an admitted call: only transient failures are `Failure`. */
  readonly record: (
    key: string,
    now: number,
    settings: BreakerSettings,
    outcome: "Success" | "Failure",
    probe: boolean
  ) => Effect.Effect<Transition | undefined>
  /** Frees the slot of a probe whose outcome says nothing of the provider (a permanent error, an interruption). */
  readonly release: (key: string, probe: boolean) => Effect.Effect<void>
  /** Holds the breaker open until `reset`. */
  readonly isolate: (key: string, now: number) => Effect.Effect<Transition | undefined>
  /** Closes the breaker and forgets its history. */
  readonly reset: (key: string, now: number) => Effect.Effect<Transition | undefined>
  /** The current state (an `Open` breaker past `until` still reads `Open` until a call is admitted). */
  readonly state: (key: string) => Effect.Effect<BreakerState>
  /**
   * Optional: `admit` done synchronously, for a store whose state is in this
   * process (the in-memory store). When present, a breaker calls it instead of
   * `admit`, saving a few runtime steps on every call; it must behave exactly
   * as `admit`. A store on the network (Redis) leaves it out, and so must a
   * store that wraps another and changes `admit` (copying the inner store's
   * fields with a spread would keep the inner `unsafeAdmit`).
   *
   * @since 0.1.0
   */
  readonly unsafeAdmit?: (
    key: string,
    now: number,
    settings: BreakerSettings
  ) => { readonly admission: Admission; readonly transition: Transition | undefined }
  /**
   * Optional: `record` done synchronously, under the same terms as `unsafeAdmit`.
   *
   * @since 0.1.0
   */
  readonly unsafeRecord?: (
    key: string,
    now: number,
    settings: BreakerSettings,
    outcome: "Success" | "Failure",
    probe: boolean
  ) => Transition | undefined
}

// ---------------------------------------------------------------------------
// Retry budget
// ---------------------------------------------------------------------------

/**
 * A retry budget's policy:
 *
 * - `TokenBucket` (gRPC): the bucket starts full at `maxTokens`; each failed
 *   call costs 1 token, each success earns `tokenRatio`; a retry is allowed
 *   only while more than half the tokens remain.
 * - `Ratio` (Finagle, Envoy): over the last `windowMillis`, retries may be at
 *   most `ratio` of the requests, plus `minRetriesPerSecond` so that a quiet
 *   service can still retry. The window is counted in 10 slices of
 *   `windowMillis / 10`: a request or retry counts until its slice's start is
 *   `windowMillis` old.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const budget: StateStore.BudgetSettings = { _tag: "TokenBucket", maxTokens: 10, tokenRatio: 0.1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type BudgetSettings =
  | { readonly _tag: "TokenBucket"; readonly maxTokens: number; readonly tokenRatio: number }
  | {
    readonly _tag: "Ratio"
    readonly ratio: number
    readonly minRetriesPerSecond: number
    readonly windowMillis: number
  }

/**
 * The retry-budget operations, each atomic for its key.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* StateStore.memory
 *   const settings: StateStore.BudgetSettings = { _tag: "TokenBucket", maxTokens: 10, tokenRatio: 0.1 }
 *   yield* store.budget.record("openai", 0, settings, "Failure")
 *   const allowed = yield* store.budget.withdraw("openai", 0, settings)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetStore {
  /** Records a logical request (`Request`) or the outcome of one call (`Success`, `Failure`). */
  readonly record: (
    key: string,
    now: number,
    settings: BudgetSettings,
    event: "Request" | "Success" | "Failure"
  ) => Effect.Effect<void>
  /** Asks for one retry; `true` when the budget allows it (and it is counted). */
  readonly withdraw: (key: string, now: number, settings: BudgetSettings) => Effect.Effect<boolean>
  /**
   * Gives back a retry withdrawn at `withdrawnAt` that never reached the provider (refused locally, or its
   * caller gave up while waiting for it). A `Ratio` budget forgets one retry counted at that instant, if it is
   * still in the window; a `TokenBucket` counts nothing at withdrawal and ignores it.
   *
   * @since 0.1.0
   */
  readonly refund: (key: string, now: number, settings: BudgetSettings, withdrawnAt: number) => Effect.Effect<void>
  /** The budget's level for gauges: tokens left (`TokenBucket`) or retries still allowed in the window (`Ratio`). */
  readonly level: (key: string, now: number, settings: BudgetSettings) => Effect.Effect<number>
  /**
   * Optional: `record` done synchronously, for a store whose state is in this
   * process (the in-memory store). When present, a retry records with it on
   * the success path instead of `record`; it must behave exactly as `record`.
   * A store on the network (Redis) leaves it out.
   *
   * @since 0.1.0
   */
  readonly unsafeRecord?: (
    key: string,
    now: number,
    settings: BudgetSettings,
    event: "Request" | "Success" | "Failure"
  ) => void
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The store's operations.
 *
 * @example
 * ```ts
 * import type { StateStore } from "@effect-resilience/core"
 *
 * const describe = (store: StateStore.Service) => Object.keys(store.breaker)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** For events and logs: `"memory"`, `"redis"`, ... */
  readonly name: string
  readonly breaker: BreakerStore
  readonly budget: BudgetStore
}

/**
 * The shared state store. Optional: without one, each policy keeps its own
 * in-memory state.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const name = Effect.map(StateStore.StateStore, (store) => store.name)
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class StateStore extends Context.Tag("@effect-resilience/core/StateStore")<StateStore, Service>() {}

/**
 * A new in-memory store. Keys are kept until `maxKeys` (default 10,000) is
 * reached; then the least recently used key is forgotten, so memory stays
 * bounded when keys are made per model or per tenant.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const store = Effect.runSync(StateStore.makeMemory({ maxKeys: 1_000 }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options?: { readonly maxKeys?: number | undefined }): Effect.Effect<Service> =>
  Effect.sync(() => {
    const maxKeys = options?.maxKeys ?? 10_000
    return { name: "memory", breaker: breakerMemory.make(maxKeys), budget: budgetMemory.make(maxKeys) }
  })

/**
 * A fresh in-memory store, for one policy that was given no `StateStore`.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const store = Effect.runSync(StateStore.memory)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory: Effect.Effect<Service> = makeMemory()

/**
 * One in-memory store shared by every policy of the program.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.void.pipe(Effect.provide(StateStore.layerMemory()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: { readonly maxKeys?: number | undefined }): Layer.Layer<StateStore> =>
  Layer.effect(StateStore, makeMemory(options))

/**
 * The store in context, or a fresh in-memory one: what every policy uses.
 *
 * @example
 * ```ts
 * import { StateStore } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const store = Effect.runSync(StateStore.current)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const current: Effect.Effect<Service> = Effect.flatMap(
  Effect.serviceOption(StateStore),
  (store) => store._tag === "Some" ? Effect.succeed(store.value) : memory
)
