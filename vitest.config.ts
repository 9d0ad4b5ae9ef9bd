import { defineConfig } from "vitest/config"

// Every package is one vitest project; each package's `vitest.config.ts` merges `vitest.shared.ts`.
// (vitest 3.2 replaces the former `vitest.workspace.ts` with `test.projects`.)
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts"],
    // vitest uses cores - 1 workers by default: one, on the 2-core CI machine.
    maxWorkers: 2,
    minWorkers: 1
  }
})
