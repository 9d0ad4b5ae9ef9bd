/**
 * Learned admission: per key, the pipeline admits each attempt at the rate the provider allows, learned from what
 * the provider says (rate-limit headers on any response, 429s and their Retry-After), with no limit configured.
 *
 * Rules (the README's "Defaults" section and `Resilience`'s module docs say the same):
 *
 * - Cold start (TCP slow start): a key that has never seen a limit signal admits at most `initialWindow` (10)
 *   attempts in flight; each success widens the window by one (so it doubles every round trip while all succeed);
 *   a failure other than a 429 leaves it as it is. The first limit signal (headers with a limit, or a 429) ends
 *   the cold start: from then on the key's rate decides, not a window. A burst of any size thus costs about one
 *   round trip before the first answer says what the limits are.
 * - Headers: `limitRequests` / `limitTokens` (per minute, as OpenAI and Anthropic state them) set the rate to
 *   `limit / 60 s`; the requests bucket holds one second's worth (`max(1, floor(limit / 60))`), the tokens bucket a
 *   minute's (`limit`), like a configured limiter's default bursts. `remaining` lowers the bucket to what the
 *   provider says is left (never raises it: responses arrive late, and calls sent since are already charged).
 *   Headers take precedence over throttling: the first ones after a rate learned from 429s set the rate from the
 *   limit and the level to `remaining` (up or down, at most the bucket's size, less the other attempts in flight);
 *   a Retry-After's pause still holds.
 *   With a limit known, `remaining: 0` leaves the next unit one interval away (OpenAI's and Anthropic's resets are
 *   the time until the bucket is *full* again, so holding until the reset would idle up to a minute); with no limit
 *   known, `remaining: 0` and a reset hold the key's admissions until the reset.
 * - Throttling (a 429 with or without Retry-After, from a provider that sends no limit headers): every admission of
 *   the key is held until the Retry-After has passed (one pause for all callers), and the rate is set to
 *   `β · G`, where `G` is the success rate measured since the previous 429 (at least over 1 s), `β = 0.7`.
 *   It then grows back as CUBIC does (`C · (t − K)³ + G`, `K = ∛(G · (1 − β) / C)`, `C = 0.4`, `t` in seconds since
 *   the 429): back to `G` after `K` seconds, then probing above it. One decrease per throttling event: 429s of
 *   attempts sent before the last decrease do not decrease again. A provider that never answers 429 is never
 *   slowed (other failures only leave the cold-start window where it is).
 * - A configured `requestsPerMinute` / `tokensPerMinute` is a ceiling the learned rates never exceed.
 *
 * State is synchronous and per key, built at the key's first call in one step (no effect), so that 10,000
 * concurrent first calls build it once.
 */
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Classify from "../Classify.js"
import * as Deadline from "../Deadline.js"
import * as RateLimiter from "../RateLimiter.js"
import * as ResilienceEvent from "../ResilienceEvent.js"
import * as metrics from "./metrics.js"
import { millisOf } from "./rateLimiter.js"

/** The cold-start window: attempts in flight for a key that has not yet seen a limit. */
export const initialWindow = 10
/** CUBIC's multiplicative decrease. */
export const beta = 0.7
/** CUBIC's scaling constant, for rates in units per second and time in seconds. */
export const cubicC = 0.4
/** The slowest a key is throttled to: one request a second. */
const minRatePerSecond = 1
/** The shortest span a success rate is measured over: fewer successes than that are not a rate. */
const minMeasureMillis = 1_000

/** What a pipeline's `rateLimiter` section asks of learned admission. */
export interface Settings {
  /** Whether limits are learned; without, only the configured ceiling applies (through the configured limiter). */
  readonly learn: boolean
  /** A configured ceiling, per minute. */
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
}

/** Drops the noise of floating-point arithmetic before rounding a wait up to whole milliseconds. */
const ceilMillis = (x: number): number => Math.ceil(Math.round(x * 1e6) / 1e6)

/** A token bucket on plain numbers: `level` units at time `at`, refilled at `perMs` up to `capacity`. */
class Bucket {
  constructor(public perMs: number, public capacity: number, public level: number, public at: number) {}

  refill(now: number): void {
    if (now > this.at) {
      this.level = Math.min(this.capacity, this.level + (now - this.at) * this.perMs)
      this.at = now
    }
  }

  /** The wait (ms) until the bucket holds `cost` units (at most the whole bucket); 0 when it does now. */
  waitFor(now: number, cost: number): number {
    this.refill(now)
    const need = Math.min(cost, this.capacity) - this.level
    // `at` lies in the future during a pause: nothing refills before it.
    const from = this.at > now ? this.at - now : 0
    // A rounding error's worth of a unit is no reason to wait another millisecond.
    return need <= 1e-9 ? from : from + need / this.perMs
  }

  /** Takes `cost` units (at most the whole bucket). */
  take(now: number, cost: number): void {
    this.refill(now)
    this.level -= Math.min(cost, this.capacity)
  }

  setRate(now: number, perMs: number, capacity: number): void {
    this.refill(now)
    this.perMs = perMs
    this.capacity = capacity
    if (this.level > capacity) this.level = capacity
  }

  lowerTo(now: number, level: number): void {
    this.refill(now)
    if (this.level > level) this.level = level
  }

  /** Sets the level, up or down (at most the capacity); a pause in course stays. */
  setLevel(now: number, level: number): void {
    this.refill(now)
    this.level = Math.min(this.capacity, level)
  }

  /** Holds at most `level` units at `until` (what it would hold then, if less), refilling only from then on. */
  pauseUntil(now: number, until: number, level: number): void {
    this.refill(now)
    if (until > this.at) {
      const atUntil = Math.min(this.capacity, this.level + (until - Math.max(now, this.at)) * this.perMs)
      this.level = Math.min(atUntil, level)
      this.at = until
    }
  }
}

/** One key's admission state. */
export class KeyState {
  requests: Bucket | undefined = undefined
  tokens: Bucket | undefined = undefined
  /** Where the requests rate comes from: the headers' limit, or throttling (a 429 without headers). */
  requestsSource: "headers" | "throttling" | undefined = undefined
  requestsLimit = 0
  tokensLimit = 0
  /** Clock time before which nothing is admitted: a pause the provider asked for. */
  heldUntil = 0
  /**
   * Attempts waiting for their turn, in order. The first is the head: it alone sleeps (until the buckets hold
   * what it needs), takes its units, and wakes the next, which becomes the head. One timer per key, whatever the
   * queue's length, and every wait is computed at the rate of the moment.
   */
  queue: Array<Waiter> = []
  /** The cold-start window; `undefined` once a limit signal was seen (or with a configured requests ceiling). */
  window: number | undefined
  inFlight = 0
  inFlightTokens = 0
  /** Attempts sent through the buckets (paced) and not yet settled, window or not. */
  paced = 0
  waiters: Array<() => void> = []
  /** Throttling: the success rate (per second) measured at the last 429, the time of that 429, CUBIC's K (s). */
  lastMax = 0
  throttledAt = -Infinity
  /** When the rate starts growing back: the end of the pause of the last decrease. */
  growFrom = 0
  k = 0
  /** Successes since `countingSince` (the first attempt, then the last throttling decrease). */
  successes = 0
  countingSince: number | undefined = undefined

  constructor(readonly key: string, coldStart: boolean) {
    this.window = coldStart ? initialWindow : undefined
  }
}

/** What one admitted attempt holds. */
export class Ticket {
  sentAt = 0
  /** Whether the attempt took its units from the buckets (and counts in `KeyState.paced` until settled). */
  paced = false
  constructor(readonly slot: boolean, readonly cost: number) {}
}

/** An attempt in a key's queue; `resume` makes it the head. */
class Waiter {
  resume: (() => void) | undefined = undefined
}

/**
 * Learned admission for one pipeline: per key (`KeyState`), the cold-start window, the learned or configured
 * buckets, pauses after a Retry-After, and what each observation teaches.
 */
export class Admission {
  readonly countLearned: Record<"requests" | "tokens", Record<"headers" | "throttling", (n: number) => void>>

  constructor(readonly settings: Settings, readonly classify: (error: unknown) => Classify.Verdict) {
    const bind = (resource: string, source: string) =>
      metrics.bind(RateLimiter.learnedCounter, { "resilience.resource": resource, "resilience.source": source })
    this.countLearned = {
      requests: { headers: bind("requests", "headers"), throttling: bind("requests", "throttling") },
      tokens: { headers: bind("tokens", "headers"), throttling: bind("tokens", "throttling") }
    }
  }

  makeState(key: string): KeyState {
    // A configured requests ceiling bounds a first burst already: no cold-start window on top.
    return new KeyState(key, this.settings.learn && this.settings.requestsPerMinute === undefined)
  }

  // -------------------------------------------------------------------------
  // Cold-start window
  // -------------------------------------------------------------------------

  /** Takes a slot of the window (`true`), or says there is none free (`false`); no window: no slot needed. */
  tryAcquire(state: KeyState, cost: number): Ticket | undefined {
    if (state.window === undefined) return new Ticket(false, cost)
    if (state.inFlight >= state.window) return undefined
    state.inFlight++
    state.inFlightTokens += cost
    return new Ticket(true, cost)
  }

  awaitSlot(state: KeyState): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const waiter = () => resume(Effect.void)
      state.waiters.push(waiter)
      return Effect.sync(() => {
        const index = state.waiters.indexOf(waiter)
        if (index >= 0) state.waiters.splice(index, 1)
        // Woken but interrupted before taking the slot: pass the wake-up on.
        else this.wake(state)
      })
    })
  }

  release(state: KeyState, ticket: Ticket, success: boolean): void {
    if (!ticket.slot) return
    state.inFlight--
    state.inFlightTokens -= ticket.cost
    if (success && state.window !== undefined) state.window++
    this.wake(state)
  }

  /** Wakes as many waiters as there are free slots (all of them once the window is gone); each asks again. */
  wake(state: KeyState): void {
    const free = state.window === undefined ? state.waiters.length : state.window - state.inFlight
    if (free <= 0 || state.waiters.length === 0) return
    const woken = state.waiters.splice(0, free)
    for (const waiter of woken) waiter()
  }

  endColdStart(state: KeyState): void {
    if (state.window === undefined) return
    state.window = undefined
    this.wake(state)
  }

  // -------------------------------------------------------------------------
  // Pacing
  // -------------------------------------------------------------------------

  /** The throttling rate at `now`, per second: CUBIC's growth from the last decrease, under the ceiling. */
  throttlingRate(state: KeyState, now: number): number {
    const t = Math.max(0, now - state.growFrom) / 1000 - state.k
    const rate = cubicC * t * t * t + state.lastMax
    const ceiling = this.settings.requestsPerMinute === undefined ? Infinity : this.settings.requestsPerMinute / 60
    return Math.min(ceiling, Math.max(minRatePerSecond, rate))
  }

  /** The wait (ms) until the key's pause has passed and its buckets hold what an attempt takes. */
  waitFor(state: KeyState, now: number, cost: number): number {
    let wait = state.heldUntil > now ? state.heldUntil - now : 0
    const requests = state.requests
    if (requests !== undefined) {
      if (state.requestsSource === "throttling") {
        const perSecond = this.throttlingRate(state, now)
        requests.setRate(now, perSecond / 1000, Math.max(1, perSecond))
      }
      wait = Math.max(wait, requests.waitFor(now, 1))
    }
    if (cost > 0 && state.tokens !== undefined) wait = Math.max(wait, state.tokens.waitFor(now, cost))
    return wait > 0 ? ceilMillis(wait) : 0
  }

  take(state: KeyState, now: number, ticket: Ticket): void {
    state.requests?.take(now, 1)
    if (ticket.cost > 0) state.tokens?.take(now, ticket.cost)
    ticket.sentAt = now
    ticket.paced = true
    state.paced++
  }

  /** Waits for the attempt's turn: at once when nobody queues and the buckets hold enough, else in the queue. */
  pace(state: KeyState, ticket: Ticket): Effect.Effect<void> {
    // Nothing learned and never held (the common case of a provider within its limits, with no headers): no clock
    // read. The send time only orders 429s against a decrease, and there has been none.
    if (
      state.requests === undefined && state.tokens === undefined && state.heldUntil === 0 &&
      state.countingSince !== undefined && state.queue.length === 0
    ) {
      ticket.sentAt = -Infinity
      return Effect.void
    }
    return Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      if (state.countingSince === undefined) state.countingSince = now
      if (state.queue.length === 0 && this.waitFor(state, now, ticket.cost) === 0) {
        this.take(state, now, ticket)
        return Effect.void
      }
      const waiter = new Waiter()
      state.queue.push(waiter)
      const turn = state.queue.length === 1 ? this.head(state, ticket, now) : Effect.zipRight(
        Effect.zipRight(
          Deadline.markActivity("waiting for admission"),
          Effect.async<void>((resume) => {
            // The head may have handed over before this fiber got here: then it is the head already.
            if (state.queue[0] === waiter) resume(Effect.void)
            else waiter.resume = () => resume(Effect.void)
          })
        ),
        Effect.suspend(() => this.head(state, ticket, now))
      )
      return Effect.onInterrupt(turn, () => Effect.sync(() => this.leave(state, waiter)))
    })
  }

  /** The head of the queue: sleeps until its units are there, takes them, and hands the head to the next. */
  head(state: KeyState, ticket: Ticket, askedAt: number): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      const wait = this.waitFor(state, now, ticket.cost)
      if (wait > 0) {
        return Effect.zipRight(
          Effect.zipRight(Deadline.markActivity("waiting for admission"), Effect.sleep(Duration.millis(wait))),
          Effect.suspend(() => this.head(state, ticket, askedAt))
        )
      }
      this.take(state, now, ticket)
      state.queue.shift()
      state.queue[0]?.resume?.()
      return ResilienceEvent.publish((at) =>
        ResilienceEvent.RateLimited({ key: state.key, at, wait: Duration.millis(now - askedAt), tokens: ticket.cost })
      )
    })
  }

  /** An interrupted waiter leaves the queue; if it was the head, the next becomes the head. */
  leave(state: KeyState, waiter: Waiter): void {
    const index = state.queue.indexOf(waiter)
    if (index < 0) return
    state.queue.splice(index, 1)
    if (index === 0) state.queue[0]?.resume?.()
  }

  /** Holds every admission of the key until `until`: the buckets are empty then, and calls waiting ask again. */
  pause(state: KeyState, now: number, until: number): void {
    if (until <= state.heldUntil || until <= now) return
    state.heldUntil = until
    // One request may go when the pause ends, the next ones at the rate: the pause stands for the empty bucket.
    state.requests?.pauseUntil(now, until, 1)
  }

  // -------------------------------------------------------------------------
  // Learning
  // -------------------------------------------------------------------------

  /** What the provider said (headers, or a Retry-After); the limits learned anew, as events. */
  observe(
    state: KeyState,
    now: number,
    observation: RateLimiter.Observation
  ): Array<ResilienceEvent.ResilienceEvent> {
    const learned: Array<ResilienceEvent.ResilienceEvent> = []
    if (!this.settings.learn) return learned
    const limitRequests = count(observation.limitRequests)
    const limitTokens = count(observation.limitTokens)
    const remainingRequests = count(observation.remainingRequests)
    const remainingTokens = count(observation.remainingTokens)
    if (limitRequests !== undefined && limitRequests > 0) {
      const event = this.learnRequests(state, now, limitRequests, remainingRequests)
      if (event !== undefined) learned.push(event)
    } else if (remainingRequests !== undefined && state.requests !== undefined) {
      state.requests.lowerTo(now, remainingRequests)
    } else if (remainingRequests === 0) {
      const reset = millisOf(observation.resetRequests)
      if (reset !== undefined) this.pause(state, now, now + reset)
    }
    if (limitTokens !== undefined && limitTokens > 0) {
      const event = this.learnTokens(state, now, limitTokens, remainingTokens)
      if (event !== undefined) learned.push(event)
    } else if (remainingTokens !== undefined && state.tokens !== undefined) {
      state.tokens.lowerTo(now, remainingTokens)
    } else if (remainingTokens === 0) {
      const reset = millisOf(observation.resetTokens)
      if (reset !== undefined) this.pause(state, now, now + reset)
    }
    const retryAfter = millisOf(observation.retryAfter)
    if (retryAfter !== undefined) {
      const event = this.throttled(state, now, retryAfter, undefined)
      if (event !== undefined) learned.push(event)
    }
    return learned
  }

  learnRequests(
    state: KeyState,
    now: number,
    limit: number,
    remaining: number | undefined
  ): ResilienceEvent.ResilienceEvent | undefined {
    const perMinute = Math.min(limit, this.settings.requestsPerMinute ?? Infinity)
    const capacity = Math.max(1, Math.floor(perMinute / 60))
    const fresh = state.requestsSource !== "headers"
    const changed = fresh || state.requestsLimit !== perMinute
    state.requestsSource = "headers"
    state.requestsLimit = perMinute
    if (state.requests === undefined) {
      // What the provider says is left, less the calls still in flight it may not have counted yet.
      const level = remaining === undefined ? capacity : Math.min(capacity, remaining - Math.max(0, state.inFlight - 1))
      state.requests = new Bucket(perMinute / 60_000, capacity, level, now)
      if (state.heldUntil > now) state.requests.pauseUntil(now, state.heldUntil, 1)
    } else {
      state.requests.setRate(now, perMinute / 60_000, capacity)
      if (remaining !== undefined) {
        // The first headers after throttling: their word beats the estimate from 429s, up or down (less the
        // attempts still in flight besides this answer's, which the provider may not have counted yet). Once the
        // headers rule, `remaining` only lowers: an answer arrives late, and calls sent since are charged already.
        if (fresh) state.requests.setLevel(now, remaining - Math.max(0, state.paced - 1))
        else state.requests.lowerTo(now, remaining)
      }
    }
    this.endColdStart(state)
    if (!changed) return undefined
    this.countLearned.requests.headers(1)
    return ResilienceEvent.LimitLearned({ key: state.key, at: now, resource: "requests", perMinute, source: "headers" })
  }

  learnTokens(
    state: KeyState,
    now: number,
    limit: number,
    remaining: number | undefined
  ): ResilienceEvent.ResilienceEvent | undefined {
    const perMinute = Math.min(limit, this.settings.tokensPerMinute ?? Infinity)
    const capacity = Math.max(1, Math.floor(perMinute))
    const changed = state.tokensLimit !== perMinute
    state.tokensLimit = perMinute
    if (state.tokens === undefined) {
      const inFlightOthers = Math.max(0, state.inFlightTokens)
      const level = remaining === undefined ? capacity : Math.min(capacity, remaining - inFlightOthers)
      state.tokens = new Bucket(perMinute / 60_000, capacity, level, now)
    } else {
      state.tokens.setRate(now, perMinute / 60_000, capacity)
      if (remaining !== undefined) state.tokens.lowerTo(now, remaining)
    }
    this.endColdStart(state)
    if (!changed) return undefined
    this.countLearned.tokens.headers(1)
    return ResilienceEvent.LimitLearned({ key: state.key, at: now, resource: "tokens", perMinute, source: "headers" })
  }

  /**
   * A 429: holds the key until the Retry-After has passed and, unless the headers gave the rate, decreases it
   * (once per throttling event: not for an attempt sent before the last decrease).
   */
  throttled(
    state: KeyState,
    now: number,
    retryAfter: number | undefined,
    sentAt: number | undefined
  ): ResilienceEvent.ResilienceEvent | undefined {
    const heldBefore = state.heldUntil
    if (retryAfter !== undefined && retryAfter > 0) this.pause(state, now, now + retryAfter)
    if (!this.settings.learn || state.requestsSource === "headers") {
      this.endColdStart(state)
      return undefined
    }
    const fresh = sentAt !== undefined
      ? sentAt >= state.throttledAt
      : now >= heldBefore && now - state.throttledAt >= minMeasureMillis
    if (!fresh) return undefined
    const since = state.countingSince ?? now
    const measured = state.successes * 1000 / Math.max(minMeasureMillis, now - since)
    const current = state.requestsSource === "throttling" ? this.throttlingRate(state, now) : Infinity
    const lastMax = Math.max(minRatePerSecond, Math.min(measured, current))
    state.lastMax = lastMax
    state.k = Math.cbrt(lastMax * (1 - beta) / cubicC)
    state.throttledAt = now
    state.growFrom = Math.max(now, state.heldUntil)
    state.successes = 0
    state.countingSince = now
    state.requestsSource = "throttling"
    const perSecond = this.throttlingRate(state, now)
    if (state.requests === undefined) {
      state.requests = new Bucket(perSecond / 1000, Math.max(1, perSecond), 1, now)
      if (state.heldUntil > now) state.requests.pauseUntil(now, state.heldUntil, 1)
    } else {
      state.requests.setRate(now, perSecond / 1000, Math.max(1, perSecond))
      state.requests.lowerTo(now, state.heldUntil > now ? 1 : 0)
    }
    state.requestsLimit = perSecond * 60
    this.endColdStart(state)
    this.countLearned.requests.throttling(1)
    return ResilienceEvent.LimitLearned({
      key: state.key,
      at: now,
      resource: "requests",
      perMinute: perSecond * 60,
      source: "throttling"
    })
  }

  /** An attempt ended: its slot back, a success counted, a 429 learned from. */
  settle(
    state: KeyState,
    ticket: Ticket,
    now: number,
    failure: Option.Option<unknown>
  ): ResilienceEvent.ResilienceEvent | undefined {
    if (ticket.paced) {
      ticket.paced = false
      state.paced--
    }
    if (Option.isNone(failure)) {
      state.successes++
      this.release(state, ticket, true)
      return undefined
    }
    this.release(state, ticket, false)
    const error = failure.value
    if (error === undefined || Classify.isRejectedLocally(error)) return undefined
    const verdict = this.classify(error)
    if (verdict._tag !== "Transient" || verdict.reason !== "RateLimited") return undefined
    const retryAfter = Option.isSome(verdict.retryAfter) ? Duration.toMillis(verdict.retryAfter.value) : undefined
    return this.throttled(state, now, retryAfter, ticket.sentAt)
  }

  /** Charges (positive) or gives back (negative, never beyond the bucket's size) tokens of the learned bucket. */
  adjust(state: KeyState, now: number, tokens: number): void {
    const bucket = state.tokens
    if (bucket === undefined || !Number.isFinite(tokens) || tokens === 0) return
    bucket.refill(now)
    bucket.level = Math.min(bucket.capacity, bucket.level - tokens)
  }
}

/** A count from outside: a finite number ≥ 0, floored; `undefined` otherwise. */
const count = (n: number | undefined): number | undefined =>
  typeof n === "number" && Number.isFinite(n) ? Math.max(0, Math.floor(n)) : undefined

const publishAll = (events: ReadonlyArray<ResilienceEvent.ResilienceEvent>): Effect.Effect<void> =>
  events.length === 0
    ? Effect.void
    : events.length === 1
    ? ResilienceEvent.publish(() => events[0])
    : Effect.forEach(events, (event) => ResilienceEvent.publish(() => event), { discard: true })

/** `Resilience.Service.observe` for the learner: learns, then publishes what was learned. */
export const observe = (
  admission: Admission,
  state: KeyState,
  observation: RateLimiter.Observation
): Effect.Effect<void> =>
  Effect.clockWith((clock) => publishAll(admission.observe(state, clock.unsafeCurrentTimeMillis(), observation)))

/**
 * The failure a cause carries, if any: an interruption or a defect is no failure of the provider's (it leaves
 * the window as it is, like any failure, and teaches nothing).
 */
export const failureOf = (cause: Cause.Cause<unknown>): Option.Option<unknown> => {
  switch (cause._tag) {
    case "Fail":
      return Option.some(cause.error)
    case "Sequential":
    case "Parallel": {
      const left = failureOf(cause.left)
      return Option.isSome(left) ? left : failureOf(cause.right)
    }
    default:
      // Interruptions and defects: not the provider's answer. `some(undefined)` still releases the slot.
      return Option.some(undefined)
  }
}
