/**
 * Keeps the README's code honest: every ```ts block preceded by a
 * `<!-- file: path -->` marker must be the named file of the workspace (its
 * first comment line aside), and those files are type-checked by `pnpm check`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const marked = Array.from(readme.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g))

describe("README", () => {
  it("has code examples tied to files", () => {
    expect(marked.length).toBeGreaterThanOrEqual(2)
  })

  for (const [, file, code] of marked) {
    it(`shows ${file} as it is`, () => {
      const source = fs.readFileSync(path.join(root, file), "utf8")
      // The file's first line says it is the README's example; the README does not repeat it.
      const body = source.startsWith("//") ? source.slice(source.indexOf("\n") + 1) : source
      expect(code.trimEnd()).toBe(body.trimEnd())
    })
  }

  it("shows the two set-up commands", () => {
    expect(readme).toContain("npx --yes pnpm@10 install && npx --yes pnpm@10 demo")
    expect(readme).toContain("npx --yes pnpm@10 install && npx --yes pnpm@10 test")
  })
})
