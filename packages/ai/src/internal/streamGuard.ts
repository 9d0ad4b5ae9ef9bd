import { Bulkhead, type Resilience } from "@effect-resilience/core"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as StreamGuard from "../StreamGuard.js"

/** What the guard needs of a part: its `type`, and the `delta` of deltas and `error` of error parts. */
type Part = StreamGuard.Part

/** Implements `StreamGuard.isContent`, documented there. */
export const isContent = (part: Part): boolean => {
  switch (part.type) {
    case "text-delta":
    case "reasoning-delta":
    case "tool-params-delta":
      return typeof part.delta === "string" && part.delta.length > 0
    case "tool-params-start":
    case "tool-params-end":
    case "tool-call":
    case "tool-result":
    case "file":
    case "source":
    case "text":
    case "reasoning":
      return true
    default:
      return false
  }
}

/** The parts delivered until the first content part (included), and what came after it in the same chunk. */
interface Head<A> {
  readonly leading: ReadonlyArray<A>
  readonly rest: ReadonlyArray<A>
  /** `None` when the stream ended before any content. */
  readonly pull: Option.Option<Effect.Effect<Chunk.Chunk<A>, Option.Option<unknown>, any>>
}

const decodeTimeout = (input: Duration.DurationInput | undefined): Option.Option<Duration.Duration> =>
  input === undefined ? Option.none() : Option.filter(Duration.decodeUnknown(input), Duration.isFinite)

/** Implements `StreamGuard.guard`, documented there. */
export const guard = <A extends Part, E, R>(
  self: Stream.Stream<A, E, R>,
  options?: StreamGuard.Options
): Stream.Stream<
  A,
  | E
  | StreamGuard.StreamErrorPart
  | StreamGuard.StreamTimeoutError
  | StreamGuard.StreamInterruptedError
  | Resilience.PolicyRejection,
  R
> => {
  const firstContentTimeout = decodeTimeout(options?.firstContentTimeout)
  const idleTimeout = decodeTimeout(options?.idleTimeout)
  const contentful = options?.isContent ?? isContent
  const run = options?.run ?? (<X, E1, R1>(effect: Effect.Effect<X, E1, R1>) => effect)

  /** One pull, failing with `StreamTimeoutError` when no part came for `idleTimeout`. */
  const timed = <X, EX, RX>(
    pull: Effect.Effect<X, Option.Option<EX>, RX>
  ): Effect.Effect<X, Option.Option<EX | StreamGuard.StreamTimeoutError>, RX> =>
    Option.isNone(idleTimeout) ? pull : Effect.timeoutFail(pull, {
      duration: idleTimeout.value,
      onTimeout: () => Option.some(new StreamGuard.StreamTimeoutError({ phase: "Idle", timeout: idleTimeout.value }))
    })

  return Stream.unwrapScoped(Effect.gen(function*() {
    const outer = yield* Effect.scope
    // Where the successful attempt keeps its bulkhead slot (if `run` has one) until the stream ends: forked before
    // any attempt's scope, so that it closes after them, once the connection is closed.
    const slot = yield* Scope.fork(outer, ExecutionStrategy.sequential)

    // One attempt: open the stream in a scope of its own and read it until its first content part. A failed
    // attempt closes its scope (its connection) at once; a successful one lives as long as the caller's stream.
    const attempt: Effect.Effect<Head<A>, E | StreamGuard.StreamErrorPart | StreamGuard.StreamTimeoutError, R> = Effect
      .flatMap(Scope.fork(outer, ExecutionStrategy.sequential), (scope) => {
        const untilContent = Effect.gen(function*() {
          const pull = timed(yield* Scope.extend(Stream.toPull(self), scope))
          const leading: Array<A> = []
          // A failure with `None` is the end of the stream.
          const step = Effect.catchAll(
            pull,
            (error) => Option.isNone(error) ? Effect.succeed(undefined) : Effect.fail(error.value)
          )
          while (true) {
            const chunk = yield* step
            // The end of the stream before any content: an empty answer, delivered as it is.
            if (chunk === undefined) return { leading, rest: [], pull: Option.none() } satisfies Head<A>
            const parts = Chunk.toReadonlyArray(chunk)
            for (let i = 0; i < parts.length; i++) {
              const part = parts[i]
              if (part.type === "error") return yield* new StreamGuard.StreamErrorPart({ error: part.error })
              leading.push(part)
              if (contentful(part)) return { leading, rest: parts.slice(i + 1), pull: Option.some(pull) }
            }
          }
        })
        const limited = Option.isNone(firstContentTimeout) ? untilContent : Effect.timeoutFail(untilContent, {
          duration: firstContentTimeout.value,
          onTimeout: () =>
            new StreamGuard.StreamTimeoutError({ phase: "FirstContent", timeout: firstContentTimeout.value })
        })
        return Effect.onExit(limited, (exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
      })

    // The successful attempt's bulkhead slot is held until the stream ends: the provider counts an open stream as
    // a request in flight. Its attempt timeout ends here; `idleTimeout` covers the rest.
    const head = yield* Bulkhead.holdSlotsUntil(run(attempt), slot)
    const leading = Stream.fromIterable(head.leading)
    if (Option.isNone(head.pull)) return leading
    const pull = head.pull.value as Effect.Effect<Chunk.Chunk<A>, Option.Option<E | StreamGuard.StreamTimeoutError>, R>

    // After the first content part nothing is retried: a failure says how much was delivered.
    let delivered = 0
    for (const part of head.leading) if (contentful(part)) delivered++
    let pending: ReadonlyArray<A> | undefined = head.rest.length > 0 ? head.rest : undefined
    let failNext: StreamGuard.StreamInterruptedError | undefined
    const interrupted = (cause: unknown) => new StreamGuard.StreamInterruptedError({ contentParts: delivered, cause })

    const emit = (
      parts: ReadonlyArray<A>
    ): Effect.Effect<Chunk.Chunk<A>, Option.Option<StreamGuard.StreamInterruptedError>> => {
      const out: Array<A> = []
      for (const part of parts) {
        if (part.type === "error") {
          failNext = interrupted(new StreamGuard.StreamErrorPart({ error: part.error }))
          break
        }
        out.push(part)
        if (contentful(part)) delivered++
      }
      if (out.length === 0 && failNext !== undefined) {
        const error = failNext
        failNext = undefined
        return Effect.fail(Option.some(error))
      }
      return Effect.succeed(Chunk.unsafeFromArray(out))
    }

    const next: Effect.Effect<Chunk.Chunk<A>, Option.Option<StreamGuard.StreamInterruptedError>, R> = Effect
      .suspend(() => {
        if (failNext !== undefined) {
          const error = failNext
          failNext = undefined
          return Effect.fail(Option.some(error))
        }
        if (pending !== undefined) {
          const parts = pending
          pending = undefined
          return emit(parts)
        }
        return Effect.flatMap(
          Effect.mapError(pull, Option.map(interrupted)),
          (chunk) => emit(Chunk.toReadonlyArray(chunk))
        )
      })

    return Stream.concat(leading, Stream.repeatEffectChunkOption(next))
  }))
}
