import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
// A cycle: the public module defines the error and the metrics, and reaches this module only inside functions;
// this module reaches them only inside functions too, so either module may be loaded first.
import * as Bulkhead from "../Bulkhead.js"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import { LruMap } from "./lru.js"
import * as metrics from "./metrics.js"
import { Issues } from "./validate.js"

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

interface Limits {
  readonly maxConcurrent: number
  readonly maxQueue: number
}

const validateLimits = (
  issues: Issues,
  options: { readonly maxConcurrent: number; readonly maxQueue?: number | undefined }
): Limits => {
  const maxQueue = options.maxQueue ?? 0
  issues.wholeNumber("maxConcurrent", options.maxConcurrent, 1)
  issues.wholeNumber("maxQueue", maxQueue, 0)
  return { maxConcurrent: options.maxConcurrent, maxQueue }
}

export const make = (options: Bulkhead.Options): Effect.Effect<Bulkhead.Bulkhead, InvalidPolicyError> =>
  Effect.suspend(() => {
    const issues = new Issues()
    const limits = validateLimits(issues, options)
    const key = options.key ?? "default"
    if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
    if (issues.list.length > 0) return Effect.fail(new InvalidPolicyError({ policy: "bulkhead", issues: issues.list }))
    return Effect.map(
      Effect.makeSemaphore(limits.maxConcurrent),
      (semaphore) => new BulkheadImpl(key, limits, semaphore, undefined)
    )
  })

export const keyed = (options: Bulkhead.KeyedOptions): Effect.Effect<Bulkhead.Keyed, InvalidPolicyError> =>
  Effect.suspend(() => {
    const issues = new Issues()
    const limits = validateLimits(issues, options)
    const maxKeys = options.maxKeys ?? 10_000
    issues.wholeNumber("maxKeys", maxKeys, 1)
    if (issues.list.length > 0) return Effect.fail(new InvalidPolicyError({ policy: "bulkhead", issues: issues.list }))
    return Effect.sync((): Bulkhead.Keyed => {
      const recent = new LruMap<BulkheadImpl>(maxKeys)
      // Bulkheads with calls running or waiting, whether or not the LRU still holds them: a busy bulkhead
      // dropped by the LRU and made again would let a second set of calls through on the same key.
      const busy = new Map<string, BulkheadImpl>()
      return {
        get: (key) =>
          recent.getOrCreate(
            key,
            () => busy.get(key) ?? new BulkheadImpl(key, limits, Effect.unsafeMakeSemaphore(limits.maxConcurrent), busy)
          )
      }
    })
  })

// ---------------------------------------------------------------------------
// One bulkhead
// ---------------------------------------------------------------------------

/**
 * A bulkhead: the semaphore holds the slots, `active` and `queued` count the
 * calls holding a slot and waiting for one. The counters only change in
 * synchronous steps of the protect path, so they need no lock; the gauges are
 * set in the same steps.
 */
class BulkheadImpl implements Bulkhead.Bulkhead {
  readonly maxConcurrent: number
  readonly maxQueue: number
  active = 0
  queued = 0
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly withPermitIfAvailable: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>
  readonly setActiveGauge: (active: number) => void
  readonly setQueuedGauge: (queued: number) => void
  readonly reject: Effect.Effect<never, Bulkhead.BulkheadRejectedError>

  constructor(
    readonly key: string,
    limits: Limits,
    semaphore: Effect.Semaphore,
    /** Where a bulkhead of a keyed family registers itself while it has calls (see `keyed`). */
    readonly busy: Map<string, BulkheadImpl> | undefined
  ) {
    this.maxConcurrent = limits.maxConcurrent
    this.maxQueue = limits.maxQueue
    this.withPermit = semaphore.withPermits(1)
    this.withPermitIfAvailable = semaphore.withPermitsIfAvailable(1)
    this.setActiveGauge = metrics.bind(Bulkhead.activeGauge, { "resilience.key": key })
    this.setQueuedGauge = metrics.bind(Bulkhead.queuedGauge, { "resilience.key": key })
    const countRejected = metrics.bind(Bulkhead.rejectedCounter, { "resilience.key": key })
    this.reject = Effect.suspend(() => {
      countRejected(1)
      return Effect.zipRight(
        ResilienceEvent.publish((at) => ResilienceEvent.CallRejected({ key, at, by: "Bulkhead" })),
        Effect.fail(
          new Bulkhead.BulkheadRejectedError({ key, maxConcurrent: this.maxConcurrent, maxQueue: this.maxQueue })
        )
      )
    })
  }

  get stats(): Effect.Effect<Bulkhead.Stats> {
    return Effect.sync(() => ({ active: this.active, queued: this.queued }))
  }

  /** Admits a call to the queue, or tells that there is no room. */
  enter(): boolean {
    if (this.active + this.queued >= this.maxConcurrent + this.maxQueue) return false
    if (this.busy !== undefined && this.active + this.queued === 0) this.busy.set(this.key, this)
    this.setQueued(this.queued + 1)
    return true
  }

  /** A queued call got its slot. */
  start(): void {
    this.setQueued(this.queued - 1)
    this.setActive(this.active + 1)
  }

  /** A call leaves, from the queue or from its slot. */
  leave(phase: typeof Queued | typeof Running): void {
    if (phase === Queued) this.setQueued(this.queued - 1)
    else this.setActive(this.active - 1)
    if (this.busy !== undefined && this.active + this.queued === 0) this.busy.delete(this.key)
  }

  private setActive(n: number): void {
    this.active = n
    this.setActiveGauge(n)
  }

  private setQueued(n: number): void {
    this.queued = n
    this.setQueuedGauge(n)
  }
}

/** Where a call stands: waiting for a slot, holding one, or gone (its counter already updated). */
type Phase = typeof Queued | typeof Running | typeof Left
const Queued = 0
const Running = 1
const Left = 2

// ---------------------------------------------------------------------------
// Protect
// ---------------------------------------------------------------------------

export const protect = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  bulkhead: Bulkhead.Bulkhead
): Effect.Effect<A, E | Bulkhead.BulkheadRejectedError, R> => {
  const b = bulkhead as BulkheadImpl
  // Admission and every counter update run uninterruptibly; only the wait for a slot and the effect itself
  // are interruptible. `phase` says which counter a call is in, so whichever way it ends — interrupted in the
  // queue, interrupted between getting its slot and starting, or ended by the effect — it leaves exactly once.
  return Effect.uninterruptibleMask((restore): Effect.Effect<A, E | Bulkhead.BulkheadRejectedError, R> => {
    if (!b.enter()) return b.reject
    let phase: Phase = Queued
    const leaveNow = () => {
      if (phase !== Left) b.leave(phase)
      phase = Left
    }
    const leave = Effect.sync(leaveNow)
    const run = Effect.suspend(() => {
      b.start()
      phase = Running
      // Leaves before the semaphore takes the permit back, so that `active` never counts a freed slot.
      return Effect.onExit(restore(self), () => leave)
    })
    const wait = Effect.ensuring(restore(b.withPermit(run)), leave)
    // A free slot and nobody else waiting: take it without the semaphore's asynchronous wait, which costs
    // several microseconds even when it does not wait. A caller already queued keeps its turn. Everything
    // but `self` runs uninterruptibly here, and `run` leaves on every exit of `self`.
    if (b.active < b.maxConcurrent && b.queued === 1) {
      return Effect.flatMap(
        b.withPermitIfAvailable(run),
        (ran) => Option.isSome(ran) ? Effect.succeed(ran.value) : wait
      )
    }
    return wait
  })
}
