import { defineConfig } from "vitest/config"

// One configuration every package's `vitest.config.ts` merges, so all packages test alike.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    sequence: { concurrent: false },
    testTimeout: 20_000
  }
})
