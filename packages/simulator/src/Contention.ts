/**
 * The contention experiment of Marc Brooker's "Exponential Backoff And Jitter"
 * (AWS Architecture Blog, 2015), run with this library's `Backoff` schedules:
 * N clients race to update one row under optimistic concurrency (a write
 * commits only if no other write landed since the client read the row; a
 * conflict makes the client back off and start again), and the experiment
 * counts the writes sent (the work) and the time until every client is done.
 *
 * The model follows the blog's published simulator: every message takes a
 * network delay of |Normal(10 ms, 2 ms)|, the backoff base is 5 ms, the cap 2 s,
 * and results are means over several seeded runs.
 *
 * @since 0.1.0
 */
import { Backoff } from "@effect-resilience/core"
import type * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/contention.js"
import type * as Simulator from "./Simulator.js"

/**
 * A backoff strategy under test: a name and the schedule a client retries with
 * after each conflict (a fresh driver per client, so per-client state such as
 * decorrelated jitter's previous delay is not shared).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import type { Contention } from "@effect-resilience/simulator"
 *
 * const strategy: Contention.Strategy = { name: "full jitter", schedule: Backoff.make({ base: 10, max: 2000 }) }
 * ```
 */
export interface Strategy {
  readonly name: string
  readonly schedule: Schedule.Schedule<unknown>
}

/**
 * What to run: client counts, strategies, how many seeded runs to average
 * (default 10; the blog's simulator uses 100) and the network model
 * (milliseconds, default mean 10 and standard deviation 2).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { Contention } from "@effect-resilience/simulator"
 *
 * const options: Contention.Options = { clients: [50, 100], strategies: Contention.strategies, runs: 5 }
 * ```
 */
export interface Options {
  readonly clients: ReadonlyArray<number>
  readonly strategies: ReadonlyArray<Strategy>
  readonly runs?: number | undefined
  readonly seed?: number | undefined
  readonly networkMean?: number | undefined
  readonly networkSd?: number | undefined
}

/**
 * The outcome for one strategy and one client count: mean writes sent (the
 * work, conflicts included) and mean completion time over the runs, plus the
 * trace of the first run for the charts.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import type { Contention } from "@effect-resilience/simulator"
 *
 * const perClient = (result: Contention.Result): number => result.calls / result.clients
 * ```
 */
export interface Result {
  readonly strategy: string
  readonly clients: number
  readonly runs: number
  /** Mean number of writes sent, committed or conflicting. */
  readonly calls: number
  /** Mean time until the last client committed. */
  readonly completion: Duration.Duration
  /** The first run's writes (`success` or `conflict`) and each client's time to commit. */
  readonly trace: Simulator.Trace
}

/**
 * The four strategies of the blog, built with `Backoff.make`: exponential
 * without jitter, full jitter, equal jitter (all from 10 ms, the blog's
 * `5 ms × 2¹` for the first retry, doubling, capped at 2 s) and decorrelated
 * jitter (base 5 ms, cap 2 s).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Contention } from "@effect-resilience/simulator"
 *
 * console.log(Contention.strategies.map((strategy) => strategy.name))
 * ```
 */
export const strategies: ReadonlyArray<Strategy> = [
  { name: "no jitter", schedule: Backoff.make({ base: 10, max: 2000, jitter: "none" }) },
  { name: "full jitter", schedule: Backoff.make({ base: 10, max: 2000, jitter: "full" }) },
  { name: "equal jitter", schedule: Backoff.make({ base: 10, max: 2000, jitter: "equal" }) },
  { name: "decorrelated jitter", schedule: Backoff.make({ base: 5, max: 2000, jitter: "decorrelated" }) }
]

/**
 * Runs the experiment in virtual time: one line per client count and strategy.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Contention } from "@effect-resilience/simulator"
 *
 * const results = Contention.run({ clients: [20], strategies: Contention.strategies, runs: 2 })
 * console.log(Contention.table(results))
 * ```
 */
export const run: (options: Options) => ReadonlyArray<Result> = internal.run

/**
 * Formats results as a Markdown table: clients, strategy, writes, writes per
 * client, completion time.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * ```ts
 * import { Contention } from "@effect-resilience/simulator"
 *
 * console.log(Contention.table(Contention.run({ clients: [10], strategies: Contention.strategies, runs: 1 })))
 * ```
 */
export const table: (rows: ReadonlyArray<Result>) => string = internal.table
