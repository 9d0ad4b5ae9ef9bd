import * as Effect from "effect/Effect"
import type * as StateStore from "../StateStore.js"
import { LruMap } from "./lru.js"

/** Outcomes counted in one slice of a ratio breaker's sliding window. */
interface Bucket {
  readonly start: number
  successes: number
  failures: number
}

/** One breaker's mutable state. Every field is updated only by the operations below. */
interface Entry {
  state: StateStore.BreakerState["_tag"]
  consecutiveFailures: number
  buckets: Array<Bucket>
  openedAt: number
  until: number
  /** Times opened in a row without closing; picks the break duration. */
  opens: number
  probes: number
  successes: number
}

const newEntry = (): Entry => ({
  state: "Closed",
  consecutiveFailures: 0,
  buckets: [],
  openedAt: 0,
  until: 0,
  opens: 0,
  probes: 0,
  successes: 0
})

const breakDuration = (settings: StateStore.BreakerSettings, opens: number): number => {
  const durations = settings.breakDurationsMillis
  return durations[Math.min(opens, durations.length) - 1] ?? 0
}

const open = (entry: Entry, now: number, settings: StateStore.BreakerSettings): StateStore.Transition => {
  const from = entry.state
  entry.state = "Open"
  entry.opens += 1
  entry.openedAt = now
  entry.until = now + breakDuration(settings, entry.opens)
  entry.probes = 0
  entry.successes = 0
  return { from, to: "Open", at: now, until: entry.until }
}

const close = (entry: Entry, now: number): StateStore.Transition => {
  const from = entry.state
  Object.assign(entry, newEntry())
  return { from, to: "Closed", at: now }
}

/** Adds an outcome to the sliding window and tells whether the failure ratio now trips the breaker. */
const ratioTrips = (
  entry: Entry,
  now: number,
  trip: Extract<StateStore.TripSettings, { readonly _tag: "Ratio" }>,
  outcome: "Success" | "Failure"
): boolean => {
  const width = trip.windowMillis / Math.max(1, trip.buckets)
  const start = Math.floor(now / width) * width
  const buckets = entry.buckets
  while (buckets.length > 0 && buckets[0].start <= now - trip.windowMillis) buckets.shift()
  let bucket = buckets[buckets.length - 1]
  if (bucket === undefined || bucket.start !== start) {
    bucket = { start, successes: 0, failures: 0 }
    buckets.push(bucket)
  }
  if (outcome === "Failure") bucket.failures += 1
  else bucket.successes += 1
  if (outcome === "Success") return false
  let failures = 0
  let total = 0
  for (const b of buckets) {
    failures += b.failures
    total += b.failures + b.successes
  }
  return total >= trip.minimumThroughput && failures / total >= trip.ratio
}

/** The answer to nearly every call, made once (callers never change it). */
const admittedClosed: { readonly admission: StateStore.Admission; readonly transition: undefined } = {
  admission: { _tag: "Admitted", probe: false },
  transition: undefined
}

/** The in-memory breaker store: the reference implementation of the breaker state machine. */
export const make = (maxKeys: number): StateStore.BreakerStore => {
  const entries = new LruMap<Entry>(maxKeys)
  const entry = (key: string) => entries.getOrCreate(key, newEntry)

  const unsafeAdmit: NonNullable<StateStore.BreakerStore["unsafeAdmit"]> = (key, now, settings) => {
    const e = entry(key)
    let transition: StateStore.Transition | undefined
    switch (e.state) {
      case "Closed":
        return admittedClosed
      case "Isolated":
        return { admission: { _tag: "Rejected", state: "Isolated", retryAt: Number.POSITIVE_INFINITY }, transition }
      case "Open": {
        if (now < e.until) return { admission: { _tag: "Rejected", state: "Open", retryAt: e.until }, transition }
        e.state = "HalfOpen"
        e.probes = 0
        e.successes = 0
        transition = { from: "Open", to: "HalfOpen", at: now }
      }
    }
    if (e.probes < settings.halfOpenProbes) {
      e.probes += 1
      return { admission: { _tag: "Admitted", probe: true }, transition }
    }
    return { admission: { _tag: "Rejected", state: "HalfOpen", retryAt: now }, transition }
  }

  const unsafeRecord: NonNullable<StateStore.BreakerStore["unsafeRecord"]> = (key, now, settings, outcome, probe) => {
    const e = entry(key)
    if (probe) {
      // A probe's outcome speaks for the half-open breaker only if it is still half-open.
      if (e.state !== "HalfOpen") return undefined
      e.probes = Math.max(0, e.probes - 1)
      if (outcome === "Failure") return open(e, now, settings)
      e.successes += 1
      return e.successes >= settings.successesToClose ? close(e, now) : undefined
    }
    // A call admitted while closed that ends after the breaker left `Closed` says nothing new.
    if (e.state !== "Closed") return undefined
    const trip = settings.trip
    if (trip._tag === "Consecutive") {
      e.consecutiveFailures = outcome === "Failure" ? e.consecutiveFailures + 1 : 0
      return e.consecutiveFailures >= trip.threshold ? open(e, now, settings) : undefined
    }
    return ratioTrips(e, now, trip, outcome) ? open(e, now, settings) : undefined
  }

  return {
    unsafeAdmit,
    unsafeRecord,
    admit: (key, now, settings) => Effect.sync(() => unsafeAdmit(key, now, settings)),
    record: (key, now, settings, outcome, probe) => Effect.sync(() => unsafeRecord(key, now, settings, outcome, probe)),

    release: (key, probe) =>
      Effect.sync(() => {
        const e = entries.get(key)
        if (probe && e !== undefined && e.state === "HalfOpen") e.probes = Math.max(0, e.probes - 1)
      }),

    isolate: (key, now) =>
      Effect.sync(() => {
        const e = entry(key)
        if (e.state === "Isolated") return undefined
        const from = e.state
        Object.assign(e, newEntry(), { state: "Isolated" })
        return { from, to: "Isolated", at: now }
      }),

    reset: (key, now) =>
      Effect.sync(() => {
        const e = entry(key)
        if (e.state === "Closed") {
          Object.assign(e, newEntry())
          return undefined
        }
        return close(e, now)
      }),

    state: (key) =>
      Effect.sync((): StateStore.BreakerState => {
        const e = entries.get(key)
        if (e === undefined) return { _tag: "Closed" }
        switch (e.state) {
          case "Closed":
            return { _tag: "Closed" }
          case "Isolated":
            return { _tag: "Isolated" }
          case "Open":
            return { _tag: "Open", openedAt: e.openedAt, until: e.until, opens: e.opens }
          case "HalfOpen":
            return { _tag: "HalfOpen", probes: e.probes, successes: e.successes, opens: e.opens }
        }
      })
  }
}
