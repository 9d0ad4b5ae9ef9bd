import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { InvalidPolicyError } from "../PolicyError.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as Timeout from "../Timeout.js"
import { positiveWait } from "./positiveWait.js"
import { Issues } from "./validate.js"

// ---------------------------------------------------------------------------
// How the shared timer works
// ---------------------------------------------------------------------------
//
// `Effect.timeout` forks the effect and a sleeping fiber per call and races
// them: two fibers and one OS timer for every call, even the ones that
// succeed in a millisecond. Here an attempt runs on the caller's own fiber;
// it only puts `(fiber, deadline)` in a list sorted by deadline, and takes it
// out when it ends. One sweeper fiber per `Clock` sleeps until the earliest
// deadline and interrupts the fibers whose attempts overran, each with a
// FiberId of its own. The attempt's continuation (run uninterruptibly) sees
// that interruption, removes it from the fiber's interrupted cause (the
// public `FiberRef.interruptedCause`), so the caller's fiber goes on, and
// fails with `AttemptTimeoutError`.
//
// Why this is safe:
// - registering and installing the continuation happen in one uninterruptible
//   step, so an interrupted caller always deregisters; the sweeper can never
//   interrupt a fiber whose attempt has ended (both run on one JS thread:
//   when the sweeper runs, the caller is not running, and an interrupt it
//   sends is processed before the caller's next step);
// - the interruption is removed by its own FiberId only, so an interruption
//   of the caller by anyone else (its parent, an outer timeout) still happens;
// - interrupting a fiber also interrupts its children. An attempt that starts
//   on a fiber with live children (forked before the attempt, e.g. a
//   background task) is therefore run with a timer of its own, as
//   `Effect.timeout` would, so that nothing but the attempt is cut short.
//
// The one gap (see `Timeout.Timer`): effect 3's `addFinalizer` restores the
// fiber's FiberRefs when a scope finalizer ends, `interruptedCause` included,
// so another interruption processed while an asynchronous scope finalizer of
// a timed-out attempt is suspended is lost; once ours is removed, the fiber
// goes on. Nothing observable records that interruption any more, so it
// cannot be recovered here; the test suite pins the behaviour down.
//
// The sweeper of a clock is forked the first time an attempt needs it, sleeps
// until the earliest deadline (so at most one timer per `after` period, not
// per call), and ends when no attempt is left. The scope of `Timeout.make`
// interrupts any sweeper still sleeping when it closes, so no timer outlives
// the program. `Timeout.keyed` serves every key from one such timer: a key is
// only a name on the attempts (no scope, fiber, timer or list per key).

/** Implements `Timeout.TypeId`, documented there. */
export const TypeId: Timeout.TypeId = Symbol.for("@effect-resilience/core/Timeout") as Timeout.TypeId

/**
 * One attempt in flight: a node of its wheel's list, sorted by deadline. It also holds what the
 * attempt's continuation needs (its wheel and timeout), so that the continuation captures it alone.
 */
export class Entry {
  prev: Entry | undefined = undefined
  next: Entry | undefined = undefined
  linked = true
  /** Set by the sweeper when it interrupts the attempt. */
  interruptor: FiberId.FiberId | undefined = undefined
  /** The attempt this one runs inside, on the same fiber, if any (see `attempts`). */
  outer: Entry | undefined = undefined
  /** Whether its wheel had no sweeper when it was armed: one must be started before the attempt runs. */
  needsSweeper = false
  constructor(
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    readonly deadline: number,
    readonly wheel: Wheel,
    readonly timeout: TimeoutImpl
  ) {}
}

/** The attempts in flight on one `Clock`, and that clock's sweeper. */
class Wheel {
  head: Entry | undefined = undefined
  tail: Entry | undefined = undefined
  /** Whether a sweeper is running or sleeping for this wheel. */
  sweeping = false
  /** The instant the sleeping sweeper wakes at; an attempt due earlier needs a new sweeper. */
  wakeAt = Infinity
  /** Bumped to retire a sweeper: a sweeper whose generation is not current stops when it wakes. */
  generation = 0
  sweeper: Fiber.RuntimeFiber<void> | undefined = undefined

  constructor(readonly owner: SharedTimer, readonly clock: Clock.Clock) {}

  /** Adds an attempt; returns whether a sweeper must be started for it. */
  insert(entry: Entry): boolean {
    // Deadlines are `now + after` with one `after`, so they almost always arrive in
    // order and this loop stops at once; a clock set back is still handled.
    let before = this.tail
    while (before !== undefined && before.deadline > entry.deadline) before = before.prev
    if (before === undefined) {
      entry.next = this.head
      if (this.head === undefined) this.tail = entry
      else this.head.prev = entry
      this.head = entry
    } else {
      entry.prev = before
      entry.next = before.next
      if (before.next === undefined) this.tail = entry
      else before.next.prev = entry
      before.next = entry
    }
    this.owner.inFlight++
    if (!this.sweeping) return true
    if (entry.deadline < this.wakeAt) {
      // Due before the sleeping sweeper wakes (the clock was set back): retire it (`start`
      // bumps the generation) and start one for this deadline.
      this.sweeper?.unsafeInterruptAsFork(FiberId.none)
      this.sweeper = undefined
      return true
    }
    return false
  }

  /** Takes an attempt out; returns `false` when the sweeper has already timed it out. */
  settle(entry: Entry): boolean {
    if (!entry.linked) return false
    this.unlink(entry)
    return true
  }

  unlink(entry: Entry): void {
    if (entry.prev === undefined) this.head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === undefined) this.tail = entry.prev
    else entry.next.prev = entry.prev
    entry.prev = entry.next = undefined
    entry.linked = false
    this.owner.inFlight--
  }

  /** Forks a sweeper for this wheel; called from the attempt that needs it, inside its uninterruptible region. */
  start(): Effect.Effect<void> {
    this.sweeping = true
    // Until it first runs, the sweeper is committed to no instant: it will read the head when it does.
    this.wakeAt = -Infinity
    const generation = ++this.generation
    // A daemon, so it outlives the attempt that starts it; interruptible, although forked from an
    // uninterruptible region, so that the scope and a restart can stop it.
    return Effect.flatMap(
      Effect.forkDaemon(Effect.interruptible(this.sweep(generation))),
      (fiber) =>
        Effect.sync(() => {
          if (this.generation === generation) this.sweeper = fiber
          this.owner.sweepers.add(fiber)
          fiber.addObserver(() => this.owner.sweepers.delete(fiber))
        })
    )
  }

  sweep(generation: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (generation !== this.generation) return Effect.void
      const now = this.clock.unsafeCurrentTimeMillis()
      let entry = this.head
      while (entry !== undefined && entry.deadline <= now) {
        const next = entry.next
        this.unlink(entry)
        // A FiberId of its own for each attempt, so that its continuation removes
        // this interruption and no other.
        entry.interruptor = FiberId.unsafeMake()
        entry.fiber.unsafeInterruptAsFork(entry.interruptor)
        entry = next
      }
      if (this.head === undefined) {
        this.sweeping = false
        this.wakeAt = Infinity
        this.sweeper = undefined
        if (this.owner.wheels.get(this.clock) === this) this.owner.wheels.delete(this.clock)
        return Effect.void
      }
      this.wakeAt = this.head.deadline
      return Effect.zipRight(this.clock.sleep(positiveWait(this.wakeAt - now)), this.sweep(generation))
    })
  }
}

/**
 * The shared timer: the wheels (one per `Clock`) and sweepers that serve the attempts of one
 * `Timeout.make`, or of every key of one `Timeout.keyed`. A key costs nothing here.
 */
class SharedTimer {
  readonly wheels = new Map<Clock.Clock, Wheel>()
  readonly sweepers = new Set<Fiber.RuntimeFiber<void>>()
  inFlight = 0
  closed = false
  /** The last wheel used: nearly every call of a program uses one clock. */
  private lastWheel: Wheel | undefined = undefined

  wheel(clock: Clock.Clock): Wheel {
    const last = this.lastWheel
    if (last !== undefined && last.clock === clock && last.sweeping) return last
    let wheel = this.wheels.get(clock)
    if (wheel === undefined) {
      wheel = new Wheel(this, clock)
      this.wheels.set(clock, wheel)
    }
    this.lastWheel = wheel
    return wheel
  }

  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    for (const wheel of this.wheels.values()) wheel.generation++
    this.wheels.clear()
    this.lastWheel = undefined
    return Effect.forEach(Array.from(this.sweepers), Fiber.interrupt, { discard: true })
  })
}

/** A timeout: its settings and key, on a shared timer of its own (`make`) or of its keyed family (`keyed`). */
class TimeoutImpl implements Timeout.Timeout {
  readonly [TypeId]: Timeout.TypeId = TypeId
  readonly afterMillis: number

  constructor(
    readonly after: Duration.Duration,
    readonly key: string,
    readonly timer: Timeout.Timer,
    readonly shared: SharedTimer
  ) {
    this.afterMillis = Duration.toMillis(after)
  }

  get inFlight(): number {
    return this.shared.inFlight
  }
}

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/** Implements `Timeout.validate`, documented there. */
export const validate = (
  options: Timeout.Options
): Either.Either<{ after: Duration.Duration; key: string; timer: Timeout.Timer }, InvalidPolicyError> => {
  const issues = new Issues()
  const after = options?.after === undefined
    ? (issues.add("after", "is required (e.g. \"30 seconds\")"), undefined)
    : issues.duration("after", options.after, { positive: true })
  const key = options?.key ?? "default"
  if (typeof key !== "string" || key.length === 0) issues.add("key", "must be a non-empty string")
  const timer = options?.timer ?? "shared"
  if (timer !== "shared" && timer !== "perCall") {
    issues.add("timer", `must be "shared" or "perCall", got ${JSON.stringify(timer)}`)
  }
  if (issues.list.length > 0 || after === undefined) {
    return Either.left(new InvalidPolicyError({ policy: "timeout", issues: issues.list }))
  }
  return Either.right({ after, key, timer })
}

/** Implements `Timeout.make`, documented there. */
export const make = (options: Timeout.Options): Effect.Effect<Timeout.Timeout, InvalidPolicyError, Scope.Scope> =>
  Effect.suspend(() => validate(options)).pipe(
    Effect.flatMap(({ after, key, timer }) =>
      Effect.acquireRelease(
        Effect.sync(() => new TimeoutImpl(after, key, timer, new SharedTimer())),
        (timeout) => timeout.shared.close
      )
    )
  )

/** Implements `Timeout.keyed`, documented there. */
export const keyed = (
  options: Timeout.KeyedOptions
): Effect.Effect<Timeout.Keyed, InvalidPolicyError, Scope.Scope> =>
  Effect.suspend(() => validate({ after: options?.after, timer: options?.timer } as Timeout.Options)).pipe(
    Effect.flatMap(({ after, timer }) =>
      Effect.acquireRelease(Effect.sync(() => new SharedTimer()), (shared) => shared.close).pipe(
        Effect.map((shared): Timeout.Keyed => {
          // A key's timeout is a few fields on the family's timer, made when asked for; the last one is kept
          // for the next call, which nearly always asks for the same key.
          let last = new TimeoutImpl(after, "default", timer, shared)
          return {
            after,
            timer,
            get: (key) => last.key === key ? last : (last = new TimeoutImpl(after, key, timer, shared)),
            inFlight: Effect.sync(() => shared.inFlight)
          }
        })
      )
    )
  )

/** Implements `Timeout.inFlight`, documented there. */
export const inFlight = (self: Timeout.Timeout): Effect.Effect<number> =>
  Effect.sync(() => (self as TimeoutImpl).inFlight)

// ---------------------------------------------------------------------------
// Protecting an attempt
// ---------------------------------------------------------------------------

/** Implements `Timeout.protect`, documented there. */
export const protect = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  timeout: Timeout.Timeout
): Effect.Effect<A, E | Timeout.AttemptTimeoutError, R> => {
  const impl = timeout as TimeoutImpl
  if (impl.timer === "perCall") return perCall(self, impl)
  return Effect.uninterruptibleMask((restore) => protectMasked(self, timeout, restore))
}

/**
 * The timeout around `self`, for a caller already inside an uninterruptible region; `restore` gives back
 * the caller's interruptibility for `self` (see `Resilience.run`, which opens one region for all its policies).
 */
export const protectMasked = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  timeout: Timeout.Timeout,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
): Effect.Effect<A, E | Timeout.AttemptTimeoutError, R> => Effect.withFiberRuntime(step(self, timeout, restore))

/**
 * `protectMasked` as a function of the running fiber, for a caller that is already in a synchronous step
 * on that fiber (inside the uninterruptible region) and can save the step `Effect.withFiberRuntime` costs.
 */
export const step = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  timeout: Timeout.Timeout,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
) =>
(fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<A, E | Timeout.AttemptTimeoutError, R> => {
  const entry = arm(timeout, fiber)
  if (entry === undefined) return restore(perCall(self, timeout as TimeoutImpl))
  entry.outer = attempts.get(fiber)
  attempts.set(fiber, entry)
  const attempt = entry.needsSweeper ? Effect.zipRight(startSweeper(entry), restore(self)) : restore(self)
  return Effect.matchCauseEffect(attempt, settle as Settle<A, E>)
}

/**
 * Puts an attempt on `fiber` on the shared timer, for a caller that runs the attempt and its end itself
 * (`step`, and `Resilience.run`'s one region for all its policies): `undefined` when the attempt needs a timer of
 * its own (`perCall`). When the wheel has no sweeper (`needsSweeper`), run `startSweeper` before the attempt;
 * at the attempt's end, `disarm` takes it off the timer.
 */
export const arm = (timeout: Timeout.Timeout, fiber: Fiber.RuntimeFiber<unknown, unknown>): Entry | undefined => {
  const impl = timeout as TimeoutImpl
  const shared = impl.shared
  if (impl.timer === "perCall" || shared.closed || mayHaveChildren(fiber)) return undefined
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const wheel = shared.wheel(clock)
  const entry = new Entry(fiber, clock.unsafeCurrentTimeMillis() + impl.afterMillis, wheel, impl)
  entry.needsSweeper = wheel.insert(entry)
  return entry
}

/** Starts the sweeper an armed attempt needs (see `arm`). */
export const startSweeper = (entry: Entry): Effect.Effect<void> => entry.wheel.start()

/**
 * Takes an armed attempt off the timer at its end: `undefined` when it ended in time, else the attempt's outcome
 * as a timeout (`cause` is how it ended; `Cause.empty` for a success).
 */
export const disarm = <E>(
  entry: Entry,
  cause: Cause.Cause<E>
): Effect.Effect<never, Timeout.AttemptTimeoutError> | undefined =>
  entry.wheel.settle(entry) ? undefined : timedOut(entry, cause)

/** A timeout's own timer for one attempt: `Effect.timeout`'s race (see `arm`). */
export const withOwnTimer = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  timeout: Timeout.Timeout
): Effect.Effect<A, E | Timeout.AttemptTimeoutError, R> => perCall(self, timeout as TimeoutImpl)

/**
 * The attempt running on each fiber, innermost first (`Entry.outer` leads to the ones it runs inside).
 * The continuation of an attempt finds its entry here, on the fiber it runs on, so that it can be one
 * pair of functions for every call instead of two closures (and their context) per call in flight:
 * ~170 bytes of the heap a call holds while it runs. Attempts on one fiber end innermost first.
 */
const attempts = new Map<Fiber.RuntimeFiber<unknown, unknown>, Entry>()

/** How many fibers have an attempt on a shared timer in flight (for tests: nothing may be left behind). */
export const fibersWithAttempts = (): number => attempts.size

/** Takes the innermost attempt of the running fiber out of `attempts`. */
const takeAttempt = (): Entry => {
  const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
  const entry = attempts.get(fiber)!
  if (entry.outer === undefined) attempts.delete(fiber)
  else attempts.set(fiber, entry.outer)
  return entry
}

interface Settle<A, E> {
  readonly onSuccess: (value: A) => Effect.Effect<A, Timeout.AttemptTimeoutError>
  readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E | Timeout.AttemptTimeoutError>
}

/** The continuation of every attempt: takes it out of its wheel, or turns its end into a timeout. */
const settle: Settle<unknown, unknown> = {
  onSuccess: (value) => disarm(takeAttempt(), Cause.empty) ?? Effect.succeed(value),
  onFailure: (cause) => disarm(takeAttempt(), cause) ?? Effect.failCause(cause)
}

/**
 * Whether interrupting the fiber would also interrupt children of its own. The
 * children are not part of the fiber's public interface: when they cannot be
 * seen, assume there are some, which only costs speed.
 */
const mayHaveChildren = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const children = (fiber as unknown as { readonly _children?: ReadonlySet<unknown> | null })._children
  return children === undefined || (children !== null && children.size > 0)
}

/** Removes the sweeper's interruption of this attempt from the caller's fiber, so that the fiber goes on. */
const forget = (entry: Entry): Effect.Effect<void> =>
  FiberRef.update(FiberRef.interruptedCause, (cause) => withoutInterruptor(cause, entry.interruptor!))

/** The cause without the interruption by `id`. */
const withoutInterruptor = <E>(cause: Cause.Cause<E>, id: FiberId.FiberId): Cause.Cause<E> =>
  Cause.match(cause, {
    onEmpty: Cause.empty as Cause.Cause<E>,
    onFail: Cause.fail,
    onDie: Cause.die,
    onInterrupt: (fiberId) => Equal.equals(fiberId, id) ? Cause.empty : Cause.interrupt(fiberId),
    onSequential: (left, right) =>
      Cause.isEmptyType(left) ? right : Cause.isEmptyType(right) ? left : Cause.sequential(left, right),
    onParallel: (left, right) =>
      Cause.isEmptyType(left) ? right : Cause.isEmptyType(right) ? left : Cause.parallel(left, right)
  })

/**
 * The outcome of an attempt the sweeper timed out: `AttemptTimeoutError`, as
 * with `Effect.timeout`, whether the interruption cut the attempt short or the
 * attempt could not be interrupted and ended late. Defects (say, in a
 * finalizer) and interruptions by others are kept; the attempt's own failures,
 * superseded by the timeout, are not.
 */
const timedOut = <E>(
  entry: Entry,
  cause: Cause.Cause<E>
): Effect.Effect<never, Timeout.AttemptTimeoutError> => {
  const rest = Cause.stripFailures(withoutInterruptor(cause, entry.interruptor!))
  return forget(entry).pipe(
    Effect.zipRight(timedOutError(entry.timeout)),
    Effect.flatMap((error) =>
      Cause.isEmpty(rest) ? Effect.fail(error) : Effect.failCause(Cause.sequential(Cause.fail(error), rest))
    )
  )
}

const timedOutError = (impl: TimeoutImpl): Effect.Effect<Timeout.AttemptTimeoutError> =>
  Effect.as(
    ResilienceEvent.publish((at) => ResilienceEvent.AttemptTimedOut({ key: impl.key, at, after: impl.after })),
    new Timeout.AttemptTimeoutError({ key: impl.key, after: impl.after })
  )

/** The reference implementation: `Effect.timeout`'s race, a fiber and a timer per call. */
const perCall = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  impl: TimeoutImpl
): Effect.Effect<A, E | Timeout.AttemptTimeoutError, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => impl.shared.inFlight++),
    () =>
      Effect.flatten(Effect.timeoutTo(self, {
        duration: impl.after,
        onSuccess: Effect.succeed,
        onTimeout: () => Effect.flatMap(timedOutError(impl), Effect.fail)
      })),
    () => Effect.sync(() => impl.shared.inFlight--)
  )
