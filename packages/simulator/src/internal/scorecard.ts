import * as Duration from "effect/Duration"
import type * as Scorecard from "../Scorecard.js"
import type * as Simulator from "../Simulator.js"
import { markdown as table } from "./table.js"

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`
const seconds = (millis: number): string => `${(millis / 1000).toFixed(1)} s`
const millisOf = (d: Duration.Duration | undefined): number | undefined =>
  d === undefined ? undefined : Duration.toMillis(d)

/** A row's number for a target: a value to compare and its text; `undefined` when the row has none. */
interface Reading {
  readonly value: number | undefined
  readonly text: string
}

const reading = (value: number | undefined, format: (n: number) => string, missing: string): Reading =>
  value === undefined || Number.isNaN(value) ? { value: undefined, text: missing } : { value, text: format(value) }

/**
 * A completion counts only for a row that served enough requests: the scenario's `success` target when it has
 * one, else every request. Giving up early is not completing.
 */
const completed = (row: Simulator.Metrics, floor: number): Reading =>
  row.successRate >= floor
    ? reading(millisOf(row.completion), seconds, "–")
    : { value: undefined, text: `${seconds(millisOf(row.completion)!)}, but ${percent(row.successRate)} succeeded` }

/** What a target reads from a row, its threshold (from the rows) and its description. */
const rule = (
  target: Scorecard.Target,
  rows: ReadonlyArray<Simulator.Metrics>,
  floor: number
): {
  readonly read: (row: Simulator.Metrics) => Reading
  readonly threshold: number | undefined
  readonly atMost: boolean
  readonly strict?: boolean
  readonly description: string
} => {
  switch (target.kind) {
    case "success":
      return {
        read: (row) => reading(row.successRate, percent, "–"),
        threshold: target.atLeast,
        atMost: false,
        description: `success ≥ ${percent(target.atLeast)}`
      }
    case "successVsPolicy": {
      const other = rows.find((row) => row.policy === target.policy)
      return {
        read: (row) => reading(row.successRate, percent, "–"),
        threshold: other?.successRate,
        atMost: false,
        description: `success ≥ the ${target.policy} row's (${
          other === undefined ? "no such row" : percent(other.successRate)
        })`
      }
    }
    case "callsPerRequest":
      return {
        read: (row) => reading(row.amplification, (n) => n.toFixed(3), "–"),
        threshold: target.atMost,
        atMost: true,
        description: `≤ ${target.atMost.toFixed(2)} provider calls per request`
      }
    case "rateLimitedPerSuccess":
      return {
        read: (row) => reading(row.rateLimitedPerSuccess, (n) => n.toFixed(3), "no success"),
        threshold: target.below,
        atMost: true,
        strict: true,
        description: `< ${target.below} 429s per success`
      }
    case "completionVsIdeal": {
      const ideal = millisOf(rows.find((row) => row.ideal !== undefined)?.ideal)
      const threshold = ideal === undefined ? undefined : target.factor * ideal
      return {
        read: (row) => completed(row, floor),
        threshold,
        atMost: true,
        description: ideal === undefined || threshold === undefined
          ? `completion ≤ ${target.factor} × ideal (no ideal: the provider has no limit)`
          : `completion ≤ ${target.factor} × ideal (${seconds(ideal)}) = ${seconds(threshold)}`
      }
    }
    case "completionVsBestPerRequest": {
      // The fastest of the per-request rows that served enough requests; when none did, the most successful.
      const perRequest = rows.filter((row) => row.pipeline === "per request")
      const served = perRequest.filter((row) => row.successRate >= floor)
      const better = (row: Simulator.Metrics, best: Simulator.Metrics): boolean =>
        served.length === 0 && row.successRate !== best.successRate
          ? row.successRate > best.successRate
          : Duration.lessThan(row.completion, best.completion)
      const best = (served.length > 0 ? served : perRequest).reduce<Simulator.Metrics | undefined>(
        (best, row) => best === undefined || better(row, best) ? row : best,
        undefined
      )
      const bestMillis = millisOf(best?.completion)
      const threshold = bestMillis === undefined ? undefined : target.factor * bestMillis
      return {
        read: (row) => completed(row, floor),
        threshold,
        atMost: true,
        description: best === undefined || bestMillis === undefined || threshold === undefined
          ? `completion ≤ ${target.factor} × the best per-request policy's (no per-request row)`
          : `completion ≤ ${target.factor} × the best per-request policy's (${best.policy}, ${seconds(bestMillis)}) = ${
            seconds(threshold)
          }`
      }
    }
    case "recovery": {
      const failover = rows.some((row) => row.failedOver !== undefined)
      return {
        read: (row) => reading(millisOf(row.recovery), seconds, "never"),
        threshold: target.atMost,
        atMost: true,
        description: failover
          ? `back on the primary ≤ ${seconds(target.atMost)} after it recovers`
          : `first success ≤ ${seconds(target.atMost)} after the outage ends`
      }
    }
    case "callsPerBreak": {
      const failover = rows.some((row) => row.failedOver !== undefined)
      return {
        read: (row) =>
          row.callsPerBreak === undefined
            ? { value: undefined, text: row.breaks === undefined ? "–" : `no break (${row.outageCalls ?? 0} calls)` }
            : {
              value: row.callsPerBreak,
              text: `${row.callsPerBreak} (${row.breaks} ${row.breaks === 1 ? "break" : "breaks"}; ${
                row.callsBeforeBreak ?? 0
              } before the first)`
            },
        threshold: target.atMost,
        atMost: true,
        description: `≤ ${target.atMost} ${target.atMost === 1 ? "call" : "calls"} to the ${
          failover ? "primary" : "provider"
        } per break while it is down`
      }
    }
  }
}

/** Implements `Scorecard.evaluate`, documented there. */
export const evaluate = (
  rows: ReadonlyArray<Simulator.Metrics>,
  targets: ReadonlyArray<Scorecard.Target>,
  subject = "library defaults"
): ReadonlyArray<Scorecard.Check> =>
  targets.map((target) => {
    const floor = targets.reduce((floor, t) => t.kind === "success" ? Math.max(floor, t.atLeast) : floor, 0) || 1
    const { atMost, description, read, strict, threshold } = rule(target, rows, floor)
    const meets = (value: number | undefined): boolean =>
      value !== undefined && threshold !== undefined &&
      (atMost ? (strict === true ? value < threshold : value <= threshold) : value >= threshold)
    const values = rows.map((row) => {
      const { text, value } = read(row)
      return { policy: row.policy, value: text, met: meets(value) }
    })
    return {
      target,
      description,
      subject,
      met: values.find((value) => value.policy === subject)?.met ?? false,
      values
    }
  })

const mark = (check: Scorecard.Check): string => {
  const own = check.values.find((value) => value.policy === check.subject)
  return `${check.met ? "✓" : "✗"} ${own?.value ?? "–"}`
}

/** Implements `Scorecard.markdown`, documented there. */
export const markdown = (
  sections: ReadonlyArray<{ readonly scenario: string; readonly checks: ReadonlyArray<Scorecard.Check> }>
): string => {
  const withChecks = sections.filter((section) => section.checks.length > 0)
  if (withChecks.length === 0) return "No scenario run has targets."
  const subject = withChecks[0]?.checks[0]?.subject ?? "library defaults"
  const others: Array<string> = []
  for (const section of withChecks) {
    for (const check of section.checks) {
      for (const value of check.values) {
        if (value.policy !== subject && !others.includes(value.policy)) others.push(value.policy)
      }
    }
  }
  const rows = withChecks.flatMap((section) =>
    section.checks.map((check, i) => [
      i === 0 ? section.scenario.split(", ")[0]! : "",
      check.description,
      mark(check),
      ...others.map((policy) => check.values.find((value) => value.policy === policy)?.value ?? "–")
    ])
  )
  const all = withChecks.flatMap((section) => section.checks)
  const met = all.filter((check) => check.met).length
  return [
    table(["scenario", "target", `${subject} (zero config)`, ...others], rows),
    "",
    `The zero-config row (${subject}) meets ${met} of ${all.length} targets.`
  ].join("\n")
}

/** Implements `Scorecard.checksMarkdown`, documented there. */
export const checksMarkdown = (checks: ReadonlyArray<Scorecard.Check>): string =>
  table(
    ["target", `${checks[0]?.subject ?? "library defaults"} (zero config)`],
    checks.map((check) => [check.description, mark(check)])
  )
