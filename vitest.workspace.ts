import * as fs from "node:fs"
import type { TestProjectInlineConfiguration } from "vitest/config"

// The one list of vitest projects: one per package that has a `vitest.config.ts` (which merges
// `vitest.shared.ts`), named after its directory, so `vitest --project core` selects `packages/core`. The root
// `vitest.config.ts` passes this list as `test.projects`, so vitest 3.2 reads it without the deprecated
// workspace-file lookup.
const packages = fs.readdirSync(new URL("./packages/", import.meta.url), { withFileTypes: true })
  .filter((entry) =>
    entry.isDirectory() && fs.existsSync(new URL(`./packages/${entry.name}/vitest.config.ts`, import.meta.url))
  )
  .map((entry) => entry.name)
  .sort()

const projects: Array<TestProjectInlineConfiguration> = packages.map((name) => ({
  extends: `./packages/${name}/vitest.config.ts`,
  test: { name, root: `./packages/${name}` }
}))

export default projects
