import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

// Every package is one vitest project, listed in `vitest.workspace.ts`.
export default defineConfig({
  test: {
    projects,
    // vitest uses cores - 1 workers by default: one, on the 2-core CI machine.
    maxWorkers: 2,
    minWorkers: 1
  }
})
