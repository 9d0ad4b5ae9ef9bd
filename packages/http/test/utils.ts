/**
 * Test helpers of the http package over `@effect-resilience/testing`'s `VirtualTime`: a bounded poll for the
 * requests a loopback server received.
 */
import { VirtualTime } from "@effect-resilience/testing"
import * as Effect from "effect/Effect"

/** Waits until `count` requests have arrived. */
export const awaitRequests = <E, R>(
  instants: Effect.Effect<ReadonlyArray<number>, E, R>,
  count: number
): Effect.Effect<void, E, R> =>
  VirtualTime.eventually(`${count} requests at the server`, Effect.map(instants, (list) => list.length >= count))
