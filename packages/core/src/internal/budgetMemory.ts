import * as Effect from "effect/Effect"
import type * as StateStore from "../StateStore.js"
import { LruMap } from "./lru.js"

/** One budget's mutable state: tokens for a token bucket, timestamps for a ratio window. */
interface Entry {
  tokens: number | undefined
  requests: Array<number>
  retries: Array<number>
}

const newEntry = (): Entry => ({ tokens: undefined, requests: [], retries: [] })

const prune = (times: Array<number>, since: number): void => {
  let drop = 0
  while (drop < times.length && times[drop] <= since) drop++
  if (drop > 0) times.splice(0, drop)
}

/** Retries still allowed in a ratio budget's window. */
const ratioAllowance = (
  entry: Entry,
  now: number,
  settings: Extract<StateStore.BudgetSettings, { readonly _tag: "Ratio" }>
): number => {
  prune(entry.requests, now - settings.windowMillis)
  prune(entry.retries, now - settings.windowMillis)
  const floor = settings.minRetriesPerSecond * settings.windowMillis / 1000
  return Math.floor(settings.ratio * entry.requests.length + floor) - entry.retries.length
}

/** The in-memory retry-budget store. */
export const make = (maxKeys: number): StateStore.BudgetStore => {
  const entries = new LruMap<Entry>(maxKeys)
  const entry = (key: string) => entries.getOrCreate(key, newEntry)
  const tokens = (e: Entry, maxTokens: number) => e.tokens ?? maxTokens

  const unsafeRecord: NonNullable<StateStore.BudgetStore["unsafeRecord"]> = (key, now, settings, event) => {
    const e = entry(key)
    if (settings._tag === "TokenBucket") {
      if (event === "Failure") e.tokens = Math.max(0, tokens(e, settings.maxTokens) - 1)
      else if (event === "Success") {
        e.tokens = Math.min(settings.maxTokens, tokens(e, settings.maxTokens) + settings.tokenRatio)
      }
      return
    }
    if (event === "Request") {
      prune(e.requests, now - settings.windowMillis)
      e.requests.push(now)
    }
  }

  return {
    unsafeRecord,
    record: (key, now, settings, event) => Effect.sync(() => unsafeRecord(key, now, settings, event)),

    withdraw: (key, now, settings) =>
      Effect.sync(() => {
        const e = entry(key)
        if (settings._tag === "TokenBucket") return tokens(e, settings.maxTokens) > settings.maxTokens / 2
        if (ratioAllowance(e, now, settings) < 1) return false
        e.retries.push(now)
        return true
      }),

    refund: (key, now, settings, withdrawnAt) =>
      Effect.sync(() => {
        if (settings._tag === "TokenBucket") return
        const e = entry(key)
        prune(e.retries, now - settings.windowMillis)
        const index = e.retries.lastIndexOf(withdrawnAt)
        if (index >= 0) e.retries.splice(index, 1)
      }),

    level: (key, now, settings) =>
      Effect.sync(() => {
        const e = entry(key)
        return settings._tag === "TokenBucket"
          ? tokens(e, settings.maxTokens)
          : Math.max(0, ratioAllowance(e, now, settings))
      })
  }
}
