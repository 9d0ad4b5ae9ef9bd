import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { RuntimeFiber } from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Scheduler from "effect/Scheduler"

interface Timer {
  readonly at: number
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/** A binary min-heap of timers ordered by wake time, then by insertion order. */
class TimerQueue {
  private readonly heap: Array<Timer> = []
  get size(): number {
    return this.heap.length
  }
  peek(): Timer | undefined {
    return this.heap[0]
  }
  push(timer: Timer): void {
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  pop(): Timer | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
        i = m
      }
    }
    return top
  }
}

/** @internal */
export class VirtualClockImpl implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  now = 0
  private seq = 0
  readonly timers = new TimerQueue()
  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.now) * 1_000_000n
  }
  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.now)
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const millis = Math.max(0, Duration.toMillis(duration))
      const timer: Timer = {
        at: this.now + (Number.isFinite(millis) ? millis : Number.MAX_SAFE_INTEGER),
        seq: this.seq++,
        wake: () => resume(Effect.void),
        cancelled: false
      }
      this.timers.push(timer)
      return Effect.sync(() => {
        timer.cancelled = true
      })
    })
  }
  /** Drops cancelled timers at the head; returns the wake time of the earliest live timer. */
  nextWake(): number | undefined {
    for (;;) {
      const head = this.timers.peek()
      if (head === undefined) return undefined
      if (!head.cancelled) return head.at
      this.timers.pop()
    }
  }
  /** Advances to `at` and wakes every live timer due at that instant, in insertion order. */
  fireAt(at: number): number {
    this.now = at
    let fired = 0
    for (;;) {
      const head = this.timers.peek()
      if (head === undefined || head.at > at) return fired
      this.timers.pop()
      if (!head.cancelled) {
        head.cancelled = true
        fired++
        head.wake()
      }
    }
  }
}

/**
 * A synchronous scheduler that the driver drains itself (effect's `SyncScheduler`
 * switches to the default, real-timer scheduler after its first flush).
 *
 * @internal
 */
export class DrainedScheduler implements Scheduler.Scheduler {
  private tasks = new Scheduler.PriorityBuckets()
  scheduleTask(task: Scheduler.Task, priority: number): void {
    this.tasks.scheduleTask(task, priority)
  }
  shouldYield(fiber: RuntimeFiber<unknown, unknown>): number | false {
    return fiber.currentOpCount > fiber.getFiberRef(FiberRef.currentMaxOpsBeforeYield)
      ? fiber.getFiberRef(FiberRef.currentSchedulingPriority)
      : false
  }
  flush(): void {
    while (this.tasks.buckets.length > 0) {
      const buckets = this.tasks.buckets
      this.tasks = new Scheduler.PriorityBuckets()
      for (const [, toRun] of buckets) {
        for (let i = 0; i < toRun.length; i++) toRun[i]!()
      }
    }
  }
}

/** @internal */
export interface RunResult<A, E> {
  readonly exit: Exit.Exit<A, E> | undefined
  readonly elapsed: Duration.Duration
  readonly wakeUps: number
}

/** @internal */
export const runSync = <A, E>(
  effect: Effect.Effect<A, E>,
  options?: { readonly horizon?: Duration.DurationInput | undefined }
): RunResult<A, E> => {
  const clock = new VirtualClockImpl()
  const scheduler = new DrainedScheduler()
  const horizon = options?.horizon === undefined ? Infinity : Duration.toMillis(options.horizon)
  const fiber = Effect.runFork(
    effect.pipe(Effect.withClock(clock), Effect.withScheduler(scheduler)),
    { scheduler }
  )
  let wakeUps = 0
  for (;;) {
    scheduler.flush()
    const exit = fiber.unsafePoll()
    if (exit !== null) {
      return { exit, elapsed: Duration.millis(clock.now), wakeUps }
    }
    const next = clock.nextWake()
    if (next === undefined || next > horizon) {
      // Idle with nothing left to wake (deadlock) or past the horizon: stop the workload.
      if (next !== undefined) clock.now = horizon
      fiber.unsafeInterruptAsFork(fiber.id())
      scheduler.flush()
      return { exit: undefined, elapsed: Duration.millis(clock.now), wakeUps }
    }
    wakeUps += clock.fireAt(next)
  }
}

/**
 * Runs a simulated workload to its end (`runSync`); a workload that failed or
 * died throws, saying `what` failed and why, instead of being read as a run
 * that made no calls.
 *
 * A simulated run builds tens of thousands of errors (every 429 and 503, every refusal) whose stack traces are
 * never read: capturing them was a sixth of a run's time. They are not captured while the workload runs; a run
 * that failed is run again with them, so that a defect is reported with its stack.
 */
export const runWorkload = <A, E>(
  what: string,
  effect: Effect.Effect<A, E>,
  options?: { readonly horizon?: Duration.DurationInput | undefined }
): void => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  let exit: Exit.Exit<A, E> | undefined
  try {
    exit = runSync(effect, options).exit
  } finally {
    Error.stackTraceLimit = limit
  }
  if (exit !== undefined && Exit.isFailure(exit)) {
    const again = runSync(effect, options).exit
    throw new Error(
      `${what} failed: ${Cause.pretty(again !== undefined && Exit.isFailure(again) ? again.cause : exit.cause)}`
    )
  }
}
