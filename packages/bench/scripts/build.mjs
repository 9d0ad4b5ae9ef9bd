// Bundles the benchmarks with esbuild, our packages compiled from source, dependencies left external.
//
// Why not run them with tsx: tsx compiles with esbuild's `keepNames`, which wraps every function
// created at run time in a `__name(fn, "name")` call (an Object.defineProperty). Our code, compiled
// that way, would pay for it on every call while effect and cockatiel (plain JS from node_modules)
// would not: the ratios would be wrong. Users run our code compiled by tsc or a bundler, without it.
import { build } from "esbuild"

await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile: "build/main.mjs",
  keepNames: false,
  external: ["effect", "effect/*", "cockatiel", "tinybench", "@effect/*"],
  // ioredis (used by @effect-resilience/redis) is bundled: the bench cannot resolve it from its own
  // node_modules. It is CommonJS and calls `require` for Node's modules, which an ES module lacks.
  banner: {
    js:
      `import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);`
  },
  logLevel: "warning"
})
