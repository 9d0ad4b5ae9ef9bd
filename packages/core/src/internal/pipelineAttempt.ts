/**
 * One attempt of a composed pipeline (`Resilience.run`): learned admission, circuit breaker, bulkhead and attempt
 * timeout around the call, in one uninterruptible region with one continuation for all four.
 *
 * Composed one by one, each policy opens an uninterruptible region of its own (so that what it takes is given
 * back whatever happens: a slot, a probe, a timer) and pushes its own continuation; a call in flight holds them
 * all, about 2.4 KB on top of its fiber (the retry's continuation outside them included). Here, an attempt:
 *
 * 1. enters one region (`Effect.uninterruptible` of a step made once for all calls, so that entering it builds
 *    nothing a call holds but the runtime's own record of the flags to restore);
 * 2. pushes one continuation (`ends`, one pair of functions for all calls) and records what it takes in a
 *    `Running` record, found through the fiber (`running`: the attempts in flight on each fiber, innermost first);
 * 3. takes, in order, a slot of the learned admission (waiting for one, then for its turn), the breaker's
 *    admission, a bulkhead slot (waiting in the queue) and a place on the shared attempt timer, each waiting with
 *    the caller's interruptibility restored;
 * 4. runs the call with the caller's interruptibility restored;
 * 5. at its end (success, failure, interruption, timeout), gives back what it took, innermost first: the timer
 *    (which may turn the outcome into an `AttemptTimeoutError`), the bulkhead slot, the admission slot (learning
 *    from a 429), and last tells the breaker;
 * 6. as the first attempt of a call with a retry policy, hands a failure to the retry loop from that same
 *    continuation (the loop runs copies of the attempt without the policy, `once`), so that the retry adds nothing
 *    a call in flight holds either.
 *
 * A call in flight thus holds its `PipelineAttempt`, one `Running` record, its admission ticket and timer entry,
 * one continuation and the runtime's two records of the flags to restore: ~0.6 KB (`pnpm bench memory`).
 *
 * The behaviour is the policies' own, composed as `admit(breaker(bulkhead(timeout(call))))`; each policy's
 * module implements the parts used here (`arm`/`disarm`, `Steps`, `BulkheadImpl`, `Admission`).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import type * as Bulkhead from "../Bulkhead.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import type * as Retry from "../Retry.js"
import type * as Timeout from "../Timeout.js"
import * as admissionInternal from "./admission.js"
import * as bulkheadInternal from "./bulkhead.js"
import type * as circuitBreakerInternal from "./circuitBreaker.js"
import * as retryInternal from "./retry.js"
import * as timeoutInternal from "./timeout.js"

/** The policies one attempt goes through; any may be absent. */
export interface Policies {
  readonly admission: admissionInternal.Admission | undefined
  readonly state: admissionInternal.KeyState | undefined
  /** The attempt's cost in tokens for the learned admission (0 when unknown). */
  readonly cost: number
  readonly breaker: circuitBreakerInternal.Steps<unknown> | undefined
  readonly bulkhead: bulkheadInternal.BulkheadImpl | undefined
  readonly timeout: Timeout.Timeout | undefined
}

/** An effect of the region's, of any type: the call's types are the `PipelineAttempt`'s. */
type Step = Effect.Effect<unknown, unknown, unknown>

/** What a pipeline's policies may fail an attempt with. */
type Refusal = CircuitBreaker.CircuitOpenError | Bulkhead.BulkheadRejectedError | Timeout.AttemptTimeoutError

/**
 * `effect` through `policies`, as one effect: built once per call (a retry runs it again for each attempt), it
 * holds the call and its policies, and builds its `Running` record each time it runs.
 */
export class PipelineAttempt<A, E, R> extends Effectable.Class<A, E | Refusal, R> implements Policies {
  constructor(
    readonly effect: Effect.Effect<A, E, R>,
    readonly admission: admissionInternal.Admission | undefined,
    readonly state: admissionInternal.KeyState | undefined,
    readonly cost: number,
    readonly breaker: circuitBreakerInternal.Steps<unknown> | undefined,
    readonly bulkhead: bulkheadInternal.BulkheadImpl | undefined,
    readonly timeout: Timeout.Timeout | undefined,
    /**
     * The retry policy of the call, whose first attempt this is: its continuation is this attempt's own, and the
     * retry loop, should the first attempt fail, runs copies of this attempt without it (`once`).
     */
    readonly retry: Retry.Policy<unknown> | undefined
  ) {
    super()
  }

  /** This attempt alone: what the retry loop runs again. */
  once(): PipelineAttempt<A, E, R> {
    return new PipelineAttempt(
      this.effect,
      this.admission,
      this.state,
      this.cost,
      this.breaker,
      this.bulkhead,
      this.timeout,
      undefined
    )
  }

  commit(): Effect.Effect<A, E | Refusal, R> {
    return Effect.withFiberRuntime((fiber, status) => {
      // With spans, events, an elapsed-time limit or a budget in a store, the retry runs as `Retry.retry` does.
      const retry = this.retry
      if (retry !== undefined && !retryInternal.startFirstAttempt(retry, fiber)) {
        return retryInternal.retry(this.once(), retry as Retry.Policy<E | Refusal>)
      }
      // Handed to the region's first step through the fiber: the region is one effect for all calls. Should the
      // fiber be interrupted before it enters the region, the next attempt on it replaces this one (and a weak
      // map lets a fiber that is gone take it away).
      entering.set(fiber, this)
      return (RuntimeFlags.interruption(status.runtimeFlags) ? enterRestoring : enterInPlace) as Effect.Effect<
        A,
        E | Refusal,
        R
      >
    })
  }
}

/** Where an attempt of each stage goes next. */
const enum Stage {
  Admission,
  Breaker,
  Bulkhead,
  Timeout,
  Running
}

/** One run of a `PipelineAttempt`: where it is, and what it holds. */
class Running {
  /** The attempt this one runs inside, on the same fiber, if any. */
  outer: Running | undefined = undefined
  stage = Stage.Admission
  /** The learned admission's slot, once taken. */
  ticket: admissionInternal.Ticket | undefined = undefined
  /** How to tell the breaker of the end, once it has admitted the call. */
  breakerEnds: circuitBreakerInternal.Ends<unknown> | undefined = undefined
  /** The bulkhead's queue place while waiting for a slot; `running` once the slot is held. */
  waiter: bulkheadInternal.Waiter | undefined = undefined
  running = false
  /** The place on the shared attempt timer, once armed. */
  entry: timeoutInternal.Entry | undefined = undefined

  constructor(
    readonly attempt: PipelineAttempt<unknown, unknown, unknown>,
    /** Whether the caller was interruptible: the waits and the call are then interruptible again. */
    readonly restores: boolean
  ) {}
}

/** Attempts about to enter their region, by fiber (see `PipelineAttempt.commit`). */
const entering = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, PipelineAttempt<unknown, unknown, unknown>>()

/**
 * The attempts in flight on each fiber, innermost first (`Running.outer`): pushed when an attempt enters its
 * region and taken out by its continuation, which runs on that fiber. The continuation thus needs no closure
 * over its attempt (two closures and their context per call in flight otherwise).
 */
const running = new Map<Fiber.RuntimeFiber<unknown, unknown>, Running>()

/** How many fibers have an attempt in flight (for tests: nothing may be left behind). */
export const fibersWithAttempts = (): number => running.size

const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> => Option.getOrThrow(Fiber.getCurrentFiber())

const innermost = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Running => running.get(fiber)!

const takeInnermost = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Running => {
  const run = running.get(fiber)!
  if (run.outer === undefined) running.delete(fiber)
  else running.set(fiber, run.outer)
  return run
}

/** The clock's time on `fiber`: what `Clock.currentTimeMillis` would read there. */
const nowOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()

/** The region's first step: the attempt's record, then the continuation around everything else. */
const enter = (fiber: Fiber.RuntimeFiber<unknown, unknown>, restores: boolean): Step => {
  const attempt = entering.get(fiber)!
  entering.delete(fiber)
  const run = new Running(attempt, restores)
  run.outer = running.get(fiber)
  running.set(fiber, run)
  return Effect.matchCauseEffect(advanceHere, ends)
}

const enterRestoring: Step = Effect.uninterruptible(Effect.withFiberRuntime((fiber) => enter(fiber, true)))
const enterInPlace: Step = Effect.withFiberRuntime((fiber) => enter(fiber, false))

/** The next stage of the innermost attempt on this fiber. */
const advanceHere: Step = Effect.withFiberRuntime((fiber) => advance(fiber, innermost(fiber)))

/** The call itself, with the caller's interruptibility restored, or as it was. */
const callHere: Step = Effect.withFiberRuntime((fiber) => innermost(fiber).attempt.effect)
const callRestoring = Effect.interruptible(callHere)

const restored = <A, E, R>(run: Running, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  run.restores ? Effect.interruptible(effect) : effect

/** Takes what the attempt needs, stage by stage, in this step when nothing has to wait. */
const advance = (fiber: Fiber.RuntimeFiber<unknown, unknown>, run: Running): Step => {
  const attempt = run.attempt
  if (run.stage === Stage.Admission) {
    const { admission, state } = attempt
    if (admission !== undefined && state !== undefined) {
      const ticket = admission.tryAcquire(state, attempt.cost)
      if (ticket === undefined) return Effect.zipRight(restored(run, admission.awaitSlot(state)), advanceHere)
      run.ticket = ticket
      run.stage = Stage.Breaker
      const paced = admission.pace(state, ticket)
      if (paced !== Effect.void) return Effect.zipRight(restored(run, paced), advanceHere)
    }
    run.stage = Stage.Breaker
  }
  if (run.stage === Stage.Breaker) {
    run.stage = Stage.Bulkhead
    const breaker = attempt.breaker
    if (breaker !== undefined) {
      const now = nowOf(fiber)
      if (breaker.admitNow === undefined) {
        return Effect.flatMap(breaker.admit(now), (admitted) => admittedBy(breaker, run, admitted))
      }
      const admitted = breaker.admitNow(now)
      if (admitted.admission._tag === "Rejected" || admitted.transition !== undefined) {
        return admittedBy(breaker, run, admitted)
      }
      run.breakerEnds = breaker.ends(admitted.admission.probe)
    }
  }
  if (run.stage === Stage.Bulkhead) {
    run.stage = Stage.Timeout
    const bulkhead = attempt.bulkhead
    if (bulkhead !== undefined) {
      if (!bulkhead.enter()) return bulkhead.reject()
      if (!bulkhead.mayStartNow()) return waitForSlot(run, bulkhead)
      bulkhead.start()
      run.running = true
    }
  }
  run.stage = Stage.Running
  const call = run.restores ? callRestoring : callHere
  const timeout = attempt.timeout
  if (timeout === undefined) return call
  const entry = timeoutInternal.arm(timeout, fiber)
  if (entry === undefined) return restored(run, timeoutInternal.withOwnTimer(attempt.effect, timeout))
  run.entry = entry
  return entry.needsSweeper ? Effect.zipRight(timeoutInternal.startSweeper(entry), call) : call
}

/** The breaker's decision: a refusal (its transition announced), or on to the next stage. */
const admittedBy = (
  breaker: circuitBreakerInternal.Steps<unknown>,
  run: Running,
  { admission, transition }: circuitBreakerInternal.Admitted
): Step => {
  if (admission._tag === "Rejected") return breaker.refuse({ admission, transition })
  run.breakerEnds = breaker.ends(admission.probe)
  return transition === undefined ? advanceHere : Effect.zipRight(breaker.announce(transition), advanceHere)
}

/** Waits in the bulkhead's queue; once granted, the slot is the attempt's. */
const waitForSlot = (run: Running, bulkhead: bulkheadInternal.BulkheadImpl): Step => {
  const waiter = new bulkheadInternal.Waiter()
  bulkhead.wait(waiter)
  run.waiter = waiter
  const wait = Effect.async<void>((resume) => {
    // The fiber may have yielded between joining the queue and getting here, and been given a slot meanwhile.
    if (waiter.granted) resume(Effect.void)
    else waiter.resume = resume
  })
  return Effect.zipRight(restored(run, wait), startGrantedHere)
}

const startGrantedHere: Step = Effect.withFiberRuntime((fiber) => {
  const run = innermost(fiber)
  run.attempt.bulkhead!.startGranted()
  run.waiter = undefined
  run.running = true
  return advance(fiber, run)
})

/** The continuation of every attempt: gives back what it took, innermost first. */
const ends = {
  onSuccess: (value: unknown): Step => {
    const fiber = currentFiber()
    const run = takeInnermost(fiber)
    if (run.entry !== undefined) {
      const late = timeoutInternal.disarm(run.entry, Cause.empty)
      if (late !== undefined) return Effect.catchAllCause(late, (cause) => failed(fiber, run, cause))
    }
    const attempt = run.attempt
    let held: Effect.Effect<void> | undefined = undefined
    if (run.running) {
      const scope = fiber.getFiberRef(bulkheadInternal.heldUntil)
      if (scope === undefined) attempt.bulkhead!.leaveRunning()
      else held = bulkheadInternal.leaveWhenClosed(attempt.bulkhead!, scope)
    }
    if (run.ticket !== undefined) attempt.admission!.settle(attempt.state!, run.ticket, 0, Option.none())
    let told = run.breakerEnds === undefined ? Effect.succeed(value) : run.breakerEnds.onSuccess(value)
    if (attempt.retry !== undefined) told = Effect.zipRight(told, retryInternal.afterFirstSuccess(attempt.retry, value))
    return held === undefined ? told : Effect.zipRight(held, told)
  },
  onFailure: (cause: Cause.Cause<unknown>): Step => {
    const fiber = currentFiber()
    const run = takeInnermost(fiber)
    if (run.entry !== undefined) {
      const late = timeoutInternal.disarm(run.entry, cause)
      if (late !== undefined) return Effect.catchAllCause(late, (timedOut) => failed(fiber, run, timedOut))
    }
    return failed(fiber, run, cause)
  }
}

/**
 * The end of an attempt that failed (or was refused, interrupted, timed out) at any stage; for the first attempt
 * of a call with a retry policy, what the retry does next.
 */
const failed = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  run: Running,
  cause: Cause.Cause<unknown>
): Step => {
  const attempt = run.attempt
  if (run.running) attempt.bulkhead!.leaveRunning()
  else if (run.waiter !== undefined) attempt.bulkhead!.abandon(run.waiter)
  let learned: ResilienceEvent.ResilienceEvent | undefined = undefined
  if (run.ticket !== undefined) {
    const failure = cause._tag === "Fail" ? Option.some<unknown>(cause.error) : admissionInternal.failureOf(cause)
    learned = attempt.admission!.settle(attempt.state!, run.ticket, nowOf(fiber), failure)
  }
  const told = run.breakerEnds === undefined ? Effect.failCause(cause) : run.breakerEnds.onFailure(cause)
  const ended = learned === undefined ? told : Effect.zipRight(ResilienceEvent.publish(() => learned), told)
  const retry = attempt.retry
  if (retry === undefined) return ended
  // The first attempt of a call failed: the retry loop goes on, with the caller's interruptibility.
  return Effect.catchAllCause(
    ended,
    (end) => restored(run, retryInternal.afterFirstFailure(attempt.once(), retry, fiber, end))
  )
}
