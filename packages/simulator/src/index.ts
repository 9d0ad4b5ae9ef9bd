/**
 * A load simulator in virtual time that compares the library's policies against a modelled provider.
 *
 * @since 0.1.0
 */
export * as Simulator from "./Simulator.js"

/**
 * A discrete-event virtual-time engine for running effects at simulation speed.
 *
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.js"
