import * as Effect from "effect/Effect"
import type * as StateStore from "../StateStore.js"
import { LruMap } from "./lru.js"

type RatioSettings = Extract<StateStore.BudgetSettings, { readonly _tag: "Ratio" }>

/**
 * A ratio budget's window is counted in this many slices (as Finagle's `WindowedAdder` does): a request or a
 * retry counts until its slice has left the window, so between `window - window / 10` and `window` after it
 * happened. The state of a key is at most this many slices, whatever the traffic.
 */
export const slicesPerWindow = 10

/** Requests and retries counted in one slice of a ratio budget's window. */
interface Slice {
  readonly start: number
  requests: number
  retries: number
}

/** One budget's mutable state: tokens for a token bucket, slices for a ratio window. */
interface Entry {
  tokens: number | undefined
  slices: Array<Slice>
}

const newEntry = (): Entry => ({ tokens: undefined, slices: [] })

const sliceStart = (now: number, settings: RatioSettings): number => {
  const width = settings.windowMillis / slicesPerWindow
  return Math.floor(now / width) * width
}

/** Drops the slices that have left the window. */
const prune = (entry: Entry, now: number, settings: RatioSettings): void => {
  const slices = entry.slices
  while (slices.length > 0 && slices[0].start <= now - settings.windowMillis) slices.shift()
}

/** The slice `now` falls in; a time before the newest slice (another process's clock) counts in the newest. */
const current = (entry: Entry, now: number, settings: RatioSettings): Slice => {
  const start = sliceStart(now, settings)
  const slices = entry.slices
  const last = slices[slices.length - 1]
  if (last !== undefined && start <= last.start) return last
  const slice: Slice = { start, requests: 0, retries: 0 }
  slices.push(slice)
  return slice
}

/** Retries still allowed in a ratio budget's window (after `prune`). */
const ratioAllowance = (entry: Entry, settings: RatioSettings): number => {
  let requests = 0
  let retries = 0
  for (const slice of entry.slices) {
    requests += slice.requests
    retries += slice.retries
  }
  const floor = settings.minRetriesPerSecond * settings.windowMillis / 1000
  return Math.floor(settings.ratio * requests + floor) - retries
}

/** The in-memory retry-budget store. */
export const make = (maxKeys: number): StateStore.BudgetStore => {
  const entries = new LruMap<Entry>(maxKeys)
  const entry = (key: string) => entries.getOrCreate(key, newEntry)
  const tokens = (e: Entry, maxTokens: number) => e.tokens ?? maxTokens

  const unsafeRecord: NonNullable<StateStore.BudgetStore["unsafeRecord"]> = (key, now, settings, event) => {
    if (settings._tag === "TokenBucket") {
      if (event === "Request") return
      const e = entry(key)
      if (event === "Failure") e.tokens = Math.max(0, tokens(e, settings.maxTokens) - 1)
      else e.tokens = Math.min(settings.maxTokens, tokens(e, settings.maxTokens) + settings.tokenRatio)
      return
    }
    // A ratio budget counts requests only; outcomes say nothing to it.
    if (event === "Request") {
      const e = entry(key)
      prune(e, now, settings)
      current(e, now, settings).requests += 1
    }
  }

  return {
    unsafeRecord,
    record: (key, now, settings, event) => Effect.sync(() => unsafeRecord(key, now, settings, event)),

    withdraw: (key, now, settings) =>
      Effect.sync(() => {
        const e = entry(key)
        if (settings._tag === "TokenBucket") return tokens(e, settings.maxTokens) > settings.maxTokens / 2
        prune(e, now, settings)
        if (ratioAllowance(e, settings) < 1) return false
        current(e, now, settings).retries += 1
        return true
      }),

    refund: (key, now, settings, withdrawnAt) =>
      Effect.sync(() => {
        if (settings._tag === "TokenBucket") return
        const e = entry(key)
        prune(e, now, settings)
        const start = sliceStart(withdrawnAt, settings)
        const slice = e.slices.find((s) => s.start === start)
        if (slice !== undefined && slice.retries > 0) slice.retries -= 1
      }),

    level: (key, now, settings) =>
      Effect.sync(() => {
        const e = entry(key)
        if (settings._tag === "TokenBucket") return tokens(e, settings.maxTokens)
        prune(e, now, settings)
        return Math.max(0, ratioAllowance(e, settings))
      })
  }
}
