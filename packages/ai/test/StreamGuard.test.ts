import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as StreamGuard from "../src/StreamGuard.js"

type Part = StreamGuard.Part

describe("StreamGuard.isContent", () => {
  it("counts deltas with text, tool parts, files and sources as content, nothing else", () => {
    const table: ReadonlyArray<readonly [Part, boolean]> = [
      [{ type: "response-metadata" }, false],
      [{ type: "text-start" }, false],
      [{ type: "text-delta", delta: "" }, false],
      [{ type: "text-delta", delta: "a" }, true],
      [{ type: "reasoning-start" }, false],
      [{ type: "reasoning-delta", delta: "thinking" }, true],
      [{ type: "tool-params-start" }, true],
      [{ type: "tool-params-delta", delta: "{" }, true],
      [{ type: "tool-call" }, true],
      [{ type: "tool-result" }, true],
      [{ type: "file" }, true],
      [{ type: "source" }, true],
      [{ type: "text-end" }, false],
      [{ type: "finish" }, false],
      [{ type: "error", error: "x" }, false]
    ]
    for (const [part, expected] of table) assert.strictEqual(StreamGuard.isContent(part), expected, part.type)
  })
})

describe("StreamGuard.guard", () => {
  it.effect("fails the attempt with the error part sent before content, delivering nothing", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const error = yield* StreamGuard.guard(
        Stream.make<Array<Part>>({ type: "response-metadata" }, { type: "error", error: { type: "api_error" } })
      ).pipe(Stream.runForEach((part) => Effect.sync(() => seen.push(part.type))), Effect.flip)
      assert.deepStrictEqual(seen, [])
      assert.isTrue(StreamGuard.isStreamErrorPart(error))
    }))

  it.effect("runs every attempt through `run` and retries until content", () =>
    Effect.gen(function*() {
      let opened = 0
      const source = Stream.suspend(() =>
        ++opened < 3
          ? Stream.make<Array<Part>>({ type: "text-start" }, { type: "error", error: "busy" })
          : Stream.make<Array<Part>>({ type: "text-start" }, { type: "text-delta", delta: "ok" }, { type: "finish" })
      )
      const parts = yield* StreamGuard.guard(source, { run: (attempt) => Effect.retry(attempt, { times: 5 }) }).pipe(
        Stream.runCollect
      )
      assert.strictEqual(opened, 3)
      assert.deepStrictEqual(Chunk.toReadonlyArray(parts).map((part) => part.type), [
        "text-start",
        "text-delta",
        "finish"
      ])
    }))

  it.effect("handles content and a later error part in the same chunk", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const error = yield* StreamGuard.guard(
        Stream.fromChunk(Chunk.fromIterable<Part>([
          { type: "text-delta", delta: "a" },
          { type: "text-delta", delta: "b" },
          { type: "error", error: "late" },
          { type: "text-delta", delta: "lost" }
        ]))
      ).pipe(Stream.runForEach((part) => Effect.sync(() => seen.push(String(part.delta)))), Effect.flip)
      assert.deepStrictEqual(seen, ["a", "b"])
      assert.isTrue(StreamGuard.isStreamInterruptedError(error) && error.contentParts === 2)
    }))
})
