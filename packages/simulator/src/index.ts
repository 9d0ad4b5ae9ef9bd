/**
 * A load simulator in virtual time that compares the library's policies against a modelled provider.
 *
 * @since 0.1.0
 */
export * as Simulator from "./Simulator.js"

/**
 * The scorecard: the targets each scenario sets for the zero-config row, checked against a run's own numbers.
 *
 * @since 0.1.0
 */
export * as Scorecard from "./Scorecard.js"

/**
 * Marc Brooker's optimistic-concurrency contention experiment (AWS, 2015), run with the library's `Backoff` schedules.
 *
 * @since 0.1.0
 */
export * as Contention from "./Contention.js"

/**
 * The simulator's engine: a discrete-event runtime (virtual `Clock` + drained `Scheduler`) that runs effects at simulation speed.
 *
 * @since 0.1.0
 */
export * as VirtualRuntime from "./VirtualRuntime.js"
