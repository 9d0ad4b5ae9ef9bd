import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import * as Scope from "effect/Scope"
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

/** `Bulkhead.make`: validates the options and builds one bulkhead. */
export const make = (options: Bulkhead.Options): Effect.Effect<Bulkhead.Bulkhead, InvalidPolicyError> =>
  Effect.suspend(() => {
    const issues = new Issues()
    const limits = validateLimits(issues, options)
    const key = options.key ?? "default"
    if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
    if (issues.list.length > 0) return Effect.fail(new InvalidPolicyError({ policy: "bulkhead", issues: issues.list }))
    return Effect.sync(() => new BulkheadImpl(key, limits, undefined))
  })

/** `Bulkhead.keyed`: one bulkhead per key, made on demand, busy ones never dropped. */
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
            () => busy.get(key) ?? new BulkheadImpl(key, limits, busy)
          )
      }
    })
  })

// ---------------------------------------------------------------------------
// One bulkhead
// ---------------------------------------------------------------------------

/** A call waiting for a slot. A slot given to it is its own until it starts or passes the slot on. */
export class Waiter {
  granted = false
  resume: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  /** Neighbours in the bulkhead's queue of waiters, while in it. */
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
}

/**
 * A bulkhead: `active` counts the calls holding a slot and running, `queued`
 * the calls waiting for one (`pending` of those have been given a slot and
 * not started yet; `waiters` are the others, first come first served). A
 * slot freed while calls wait is handed to the first of them, so a newcomer
 * never overtakes a waiting call, and an ungranted waiter exists only while
 * every slot is taken. The counters only change in synchronous steps of the
 * protect path, so they need no lock; the gauges are set in the same steps.
 */
export class BulkheadImpl implements Bulkhead.Bulkhead {
  readonly maxConcurrent: number
  readonly maxQueue: number
  active = 0
  queued = 0
  pending = 0
  /**
   * The calls waiting without a slot, first come first served: a list through the waiters themselves
   * (no set per key, which most keys never need, and O(1) to take the first or remove any).
   */
  private firstWaiter: Waiter | undefined = undefined
  private lastWaiter: Waiter | undefined = undefined
  /** Moves the key's gauges by a difference (see `metrics.bindGaugeDelta`). */
  readonly moveActiveGauge: (delta: number) => void
  readonly moveQueuedGauge: (delta: number) => void
  /** Ends a running call whichever way it exits; made once, not per call. */
  readonly onRunExit: {
    readonly onSuccess: (value: unknown) => Effect.Effect<unknown>
    readonly onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<never, unknown>
  }

  constructor(
    readonly key: string,
    limits: Limits,
    /** Where a bulkhead of a keyed family registers itself while it has calls (see `keyed`). */
    readonly busy: Map<string, BulkheadImpl> | undefined
  ) {
    this.maxConcurrent = limits.maxConcurrent
    this.maxQueue = limits.maxQueue
    this.moveActiveGauge = metrics.bindGaugeDelta(Bulkhead.activeGauge, { "resilience.key": key })
    this.moveQueuedGauge = metrics.bindGaugeDelta(Bulkhead.queuedGauge, { "resilience.key": key })
    this.onRunExit = {
      onSuccess: (value) => {
        this.leaveRunning()
        return Effect.succeed(value)
      },
      onFailure: (cause) => {
        this.leaveRunning()
        return Effect.failCause(cause)
      }
    }
  }

  /** A call refused: rare next to calls admitted, so built when it happens rather than kept per key. */
  reject(): Effect.Effect<never, Bulkhead.BulkheadRejectedError> {
    metrics.bind(Bulkhead.rejectedCounter, { "resilience.key": this.key })(1)
    const key = this.key
    return Effect.zipRight(
      ResilienceEvent.publish((at) => ResilienceEvent.CallRejected({ key, at, by: "Bulkhead" })),
      Effect.fail(
        new Bulkhead.BulkheadRejectedError({ key, maxConcurrent: this.maxConcurrent, maxQueue: this.maxQueue })
      )
    )
  }

  get stats(): Effect.Effect<Bulkhead.Stats> {
    return Effect.sync(() => ({ active: this.active, queued: this.queued }))
  }

  /** Admits a call to the queue, or tells that there is no room. */
  enter(): boolean {
    if (this.active + this.queued >= this.maxConcurrent + this.maxQueue) return false
    if (this.busy !== undefined && this.active + this.queued === 0) this.busy.set(this.key, this)
    this.moveQueued(1)
    return true
  }

  /** Whether a call just entered may start at once: a slot is free and nobody waits for one. */
  mayStartNow(): boolean {
    return this.firstWaiter === undefined && this.active + this.pending < this.maxConcurrent
  }

  /** A call waits for a slot, last in the queue. */
  wait(waiter: Waiter): void {
    waiter.prev = this.lastWaiter
    if (this.lastWaiter === undefined) this.firstWaiter = waiter
    else this.lastWaiter.next = waiter
    this.lastWaiter = waiter
  }

  private unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.firstWaiter = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.lastWaiter = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = waiter.next = undefined
  }

  /** A queued call got its slot. */
  start(): void {
    this.moveQueued(-1)
    this.moveActive(1)
  }

  /** A running call ends: its slot goes to the first waiter, if any. */
  leaveRunning(): void {
    this.moveActive(-1)
    this.passSlot()
    this.forgetIfIdle()
  }

  /** A granted waiter starts. */
  startGranted(): void {
    this.pending--
    this.start()
  }

  /** A waiter leaves without running (interrupted): a slot it was given goes to the next waiter. */
  abandon(waiter: Waiter): void {
    if (waiter.granted) {
      this.pending--
      this.passSlot()
    } else {
      this.unlink(waiter)
    }
    this.moveQueued(-1)
    this.forgetIfIdle()
  }

  private passSlot(): void {
    const first = this.firstWaiter
    if (first === undefined) return
    this.unlink(first)
    first.granted = true
    this.pending++
    // Wakes the waiter's fiber later; if it was interrupted first, `abandon` passes the slot on.
    first.resume?.(Effect.void)
  }

  private forgetIfIdle(): void {
    if (this.busy !== undefined && this.active + this.queued === 0) this.busy.delete(this.key)
  }

  private moveActive(delta: number): void {
    this.active += delta
    this.moveActiveGauge(delta)
  }

  private moveQueued(delta: number): void {
    this.queued += delta
    this.moveQueuedGauge(delta)
  }
}

// ---------------------------------------------------------------------------
// Protect
// ---------------------------------------------------------------------------

/** The scope a call that gets a slot keeps it in after it succeeds (`Bulkhead.holdSlotsUntil`); none: no holding. */
export const heldUntil: FiberRef.FiberRef<Scope.Scope | undefined> = globalValue(
  "@effect-resilience/core/Bulkhead/heldUntil",
  () => FiberRef.unsafeMake<Scope.Scope | undefined>(undefined)
)

/** `Bulkhead.holdSlotsUntil`. */
export const holdSlotsUntil: {
  (scope: Scope.Scope): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, scope: Scope.Scope): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, scope: Scope.Scope): Effect.Effect<A, E, R> =>
    Effect.locally(self, heldUntil, scope)
)

/** Ends a running call that holds its slot in `scope` once it succeeds: a failed call frees it at once. */
const holdingIn = (b: BulkheadImpl, scope: Scope.Scope) => ({
  onSuccess: (value: unknown) => Effect.as(leaveWhenClosed(b, scope), value),
  onFailure: b.onRunExit.onFailure
})

/** A call that succeeded keeps its slot until `scope` closes (see `holdSlotsUntil`). */
export const leaveWhenClosed = (b: BulkheadImpl, scope: Scope.Scope): Effect.Effect<void> =>
  Scope.addFinalizer(scope, Effect.sync(() => b.leaveRunning()))

/** `Bulkhead.protect`: runs an effect in a slot, waiting in the queue or failing fast when full. */
export const protect = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  bulkhead: Bulkhead.Bulkhead
): Effect.Effect<A, E | Bulkhead.BulkheadRejectedError, R> =>
  Effect.uninterruptibleMask((restore) => protectMasked(restore(self), bulkhead, restore))

/**
 * The bulkhead around `inner`, for a caller already inside an uninterruptible region (`inner` restores
 * interruptibility for the call itself; `restore` is used for the wait for a slot). Admission and every
 * counter update run uninterruptibly; only the wait and the call are interruptible, and a call leaves its
 * counter exactly once whichever way it ends: interrupted while waiting, interrupted after it was given a
 * slot but before it started, or ended by the call.
 */
export const protectMasked = <A, E, R>(
  inner: Effect.Effect<A, E, R>,
  bulkhead: Bulkhead.Bulkhead,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
): Effect.Effect<A, E | Bulkhead.BulkheadRejectedError, R> =>
  Effect.withFiberRuntime(step(() => inner, bulkhead, restore))

/**
 * `protectMasked` as a function of the running fiber; `next` gives the call on that fiber, and is asked for it in
 * a synchronous step on the same fiber once the call has its slot.
 */
const step = <A, E, R>(
  next: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<A, E, R>,
  bulkhead: Bulkhead.Bulkhead,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
) =>
(fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<A, E | Bulkhead.BulkheadRejectedError, R> => {
  const b = bulkhead as BulkheadImpl
  const holdIn = fiber.getFiberRef(heldUntil)
  const onRunExit = (holdIn === undefined ? b.onRunExit : holdingIn(b, holdIn)) as {
    readonly onSuccess: (value: A) => Effect.Effect<A>
    readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E>
  }
  if (!b.enter()) return b.reject()
  if (b.mayStartNow()) {
    b.start()
    return Effect.matchCauseEffect(next(fiber), onRunExit)
  }
  const waiter = new Waiter()
  b.wait(waiter)
  const wait = Effect.async<void>((resume) => {
    // The fiber may have yielded between joining the queue and getting here, and been given a slot meanwhile.
    if (waiter.granted) resume(Effect.void)
    else waiter.resume = resume
  })
  return Effect.matchCauseEffect(restore(wait), {
    // A continuation runs on the fiber that waited: `next` is asked on that fiber, as on the fast path.
    onSuccess: () => {
      b.startGranted()
      return Effect.matchCauseEffect(next(fiber), onRunExit)
    },
    onFailure: (cause) => {
      b.abandon(waiter)
      return Effect.failCause(cause)
    }
  })
}
