/**
 * The scorecard: the targets a scenario sets for the zero-config row
 * ("library defaults", what `Resilience.layer()` gives) and whether a run
 * meets them, computed from the run's own numbers (the ideal completion of
 * the scenario's provider, the no-retry row's success, the best per-request
 * policy's completion), never from figures written down in advance.
 *
 * **Details**
 *
 * - A target is plain data (`Target`); `evaluate` is a pure function of the
 *   rows of one scenario, so the scorecard can be tested on hand-made
 *   metrics.
 * - Every policy's number is shown; only the scored row gets ✓ or ✗.
 *
 * **Gotchas**
 *
 * - A number a row does not have fails its target: a recovery that never
 *   came, a breaker that never opened (`callsPerBreak`), a 429 ratio with no
 *   success at all.
 * - Giving up early is not completing: a completion target counts only for
 *   a row that reached the scenario's `success` target (every request when
 *   the scenario has none), and "the best per-request policy" is the
 *   per-request row that completed first among those that did (the most
 *   successful one when none did).
 *
 * @since 0.1.0
 */
import * as internal from "./internal/scorecard.js"
import type * as Simulator from "./Simulator.js"

/**
 * One target, as data:
 *
 * - `success`: the share of requests that succeeded is at least `atLeast`;
 * - `successVsPolicy`: at least that of the row named `policy`;
 * - `callsPerRequest`: provider calls per request at most `atMost`;
 * - `rateLimitedPerSuccess`: 429s per succeeded request below `below`;
 * - `completionVsIdeal`: completion at most `factor` × the ideal (see `Simulator.Metrics.ideal`);
 * - `completionVsBestPerRequest`: at most `factor` × the completion of the best per-request row (see Gotchas);
 * - `recovery`: the first success of the provider that was down at most `atMost` milliseconds after its outage;
 * - `callsPerBreak`: at most `atMost` calls to the down provider per opening of its breaker.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Scorecard } from "@effect-resilience/simulator"
 *
 * const targets: ReadonlyArray<Scorecard.Target> = [
 *   { kind: "success", atLeast: 0.98 },
 *   { kind: "completionVsIdeal", factor: 1.05 }
 * ]
 * ```
 */
export type Target =
  | { readonly kind: "success"; readonly atLeast: number }
  | { readonly kind: "successVsPolicy"; readonly policy: string }
  | { readonly kind: "callsPerRequest"; readonly atMost: number }
  | { readonly kind: "rateLimitedPerSuccess"; readonly below: number }
  | { readonly kind: "completionVsIdeal"; readonly factor: number }
  | { readonly kind: "completionVsBestPerRequest"; readonly factor: number }
  | { readonly kind: "recovery"; readonly atMost: number }
  | { readonly kind: "callsPerBreak"; readonly atMost: number }

/**
 * One target checked against the rows of a scenario: the target in words,
 * with the threshold the run's own numbers give it; each row's number and
 * whether it meets it; and the verdict for the scored row.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Scorecard } from "@effect-resilience/simulator"
 *
 * const verdict = (check: Scorecard.Check): string => `${check.met ? "✓" : "✗"} ${check.target}`
 * ```
 */
export interface Check {
  readonly target: Target
  /** The target in words, e.g. `"completion ≤ 1.05 × ideal (199.1 s) = 209.1 s"`. */
  readonly description: string
  /** The row scored (`"library defaults"`). */
  readonly subject: string
  /** Whether the scored row meets it (`false` when the scenario has no such row). */
  readonly met: boolean
  /** Every row's number, in row order. */
  readonly values: ReadonlyArray<{ readonly policy: string; readonly value: string; readonly met: boolean }>
}

/**
 * Checks each target against the rows of one scenario and scores the row
 * named `subject` (default `"library defaults"`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Scorecard, Simulator } from "@effect-resilience/simulator"
 *
 * const scenario = Simulator.scenarios[0]!
 * const rows = Simulator.policies.map((policy) => Simulator.run({ ...scenario, requests: 50 }, policy))
 * for (const check of Scorecard.evaluate(rows, scenario.targets ?? [])) console.log(check.description, check.met)
 * ```
 */
export const evaluate: (
  rows: ReadonlyArray<Simulator.Metrics>,
  targets: ReadonlyArray<Target>,
  subject?: string
) => ReadonlyArray<Check> = internal.evaluate

/**
 * The scorecard as Markdown: one row per target (scenario, target, then the
 * scored row's ✓/✗ and number, then every other policy's number) and a line
 * counting the targets met.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Scorecard, Simulator } from "@effect-resilience/simulator"
 *
 * const scenario = Simulator.scenarios[0]!
 * const rows = Simulator.policies.map((policy) => Simulator.run({ ...scenario, requests: 50 }, policy))
 * console.log(Scorecard.markdown([{ scenario: scenario.name, checks: Scorecard.evaluate(rows, scenario.targets!) }]))
 * ```
 */
export const markdown: (
  sections: ReadonlyArray<{ readonly scenario: string; readonly checks: ReadonlyArray<Check> }>
) => string = internal.markdown

/**
 * One scenario's checks as a Markdown table: target, the scored row's
 * number, ✓ or ✗.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Scorecard } from "@effect-resilience/simulator"
 *
 * console.log(Scorecard.checksMarkdown([]))
 * ```
 */
export const checksMarkdown: (checks: ReadonlyArray<Check>) => string = internal.checksMarkdown
