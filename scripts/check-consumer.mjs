// The consumer check: what a user of the published packages meets, outside this workspace.
//
// 1. packs every publishable package (`pnpm pack`, publishConfig applied), or takes the tarballs of
//    `check-packages.mjs --out <dir>` with `--tarballs <dir>`;
// 2. installs them with npm into a throwaway project in a temp dir outside the workspace, together with their
//    peer dependencies at the versions this workspace's lockfile pins;
// 3. runs a small ESM program with plain `node`: it imports every package's entry point and a public subpath,
//    checks that `./internal/*` is closed, and runs a retry and a `Resilience` pipeline against an effect that
//    fails twice, then succeeds;
// 4. type-checks an app made of the README's code blocks (quick start, policies alone, testing kit) and an
//    import of every entry point, under three tsconfigs: TypeScript's defaults for `module: NodeNext` (DOM lib
//    included, no skipLibCheck), the strictest common set, and `moduleResolution: bundler`.
//
// Exits non-zero on the first failure. Needs `pnpm build` first (unless given --tarballs).
//
//   node scripts/check-consumer.mjs [--tarballs <dir>] [--keep]
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { option, packAll, publishablePackages, root, run } from "./lib/workspace.mjs"

const started = Date.now()
let current = "start"
const step = (message) => {
  current = message.split("\n")[0]
  console.log(`\n[consumer ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`)
}
// A failed command has printed its own output: say which step failed, without a stack trace of this script.
process.on("uncaughtException", (error) => {
  if (error.status === undefined) console.error(error)
  console.error(`\nconsumer check FAILED at: ${current}`)
  process.exit(1)
})

// ---------------------------------------------------------------------------------------------------------------
// The project, outside the workspace
// ---------------------------------------------------------------------------------------------------------------

const project = fs.mkdtempSync(path.join(os.tmpdir(), "effect-resilience-consumer-"))
if (!path.relative(root, project).startsWith("..")) {
  throw new Error(`the consumer project ${project} is inside the workspace ${root}`)
}
for (let dir = path.dirname(project); dir !== path.dirname(dir); dir = path.dirname(dir)) {
  if (fs.existsSync(path.join(dir, "node_modules"))) {
    throw new Error(`${dir}/node_modules exists: the consumer project would resolve packages from it`)
  }
}
const keep = process.argv.includes("--keep")
process.on("exit", () => {
  if (!keep) fs.rmSync(project, { recursive: true, force: true })
})

const tarballDir = option("tarballs")
step(tarballDir === undefined ? "packing every package" : `tarballs from ${tarballDir}`)
const packages = publishablePackages()
const tarballs = tarballDir === undefined
  ? packAll(path.join(project, "tarballs"))
  : new Map(packages.map((pkg) => {
    const file = path.join(
      tarballDir,
      `${pkg.manifest.name.replace(/^@/, "").replace("/", "-")}-${pkg.manifest.version}.tgz`
    )
    if (!fs.existsSync(file)) throw new Error(`no tarball for ${pkg.manifest.name}: ${file}`)
    return [pkg.manifest.name, file]
  }))

// The peers at the lockfile's versions: read from what `pnpm install --frozen-lockfile` put in packages/ai (it
// has every peer of every package as a devDependency) and at the root.
const installedVersion = (from, name) =>
  JSON.parse(fs.readFileSync(path.join(from, "node_modules", name, "package.json"), "utf8")).version
const peers = new Set(packages.flatMap((pkg) => Object.keys(pkg.manifest.peerDependencies ?? {})))
// @effect/ai has @effect/rpc as a peer: pin it too rather than let npm choose.
peers.add("@effect/rpc")
const pinned = Object.fromEntries(
  [...peers].sort().map((name) => [name, installedVersion(path.join(root, "packages", "ai"), name)])
)
pinned["@types/node"] = installedVersion(root, "@types/node")

const manifest = {
  name: "effect-resilience-consumer",
  private: true,
  type: "module",
  dependencies: {
    ...Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`])),
    ...pinned
  }
}
fs.writeFileSync(path.join(project, "package.json"), JSON.stringify(manifest, null, 2))
step(`npm install in ${project}\n${JSON.stringify(manifest.dependencies, null, 2)}`)
run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: project })
for (const name of tarballs.keys()) {
  const installed = path.join(project, "node_modules", name)
  if (fs.existsSync(path.join(installed, "src", "index.ts")) && !fs.existsSync(path.join(installed, "dist"))) {
    throw new Error(`${name} was installed without dist/`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Plain node
// ---------------------------------------------------------------------------------------------------------------

const entryImports = [...tarballs.keys()].map((name, i) => `import * as entry${i} from "${name}"`).join("\n")
const program = `${entryImports}
import * as Retry from "@effect-resilience/core/Retry"
import { ProviderError, Resilience } from "@effect-resilience/core"
import { Effect } from "effect"
import assert from "node:assert/strict"

const entries = { ${[...tarballs.keys()].map((name, i) => `"${name}": entry${i}`).join(", ")} }
for (const [name, module] of Object.entries(entries)) {
  assert.ok(Object.keys(module).length > 0, name + " exports nothing")
  console.log("import " + name + ": " + Object.keys(module).sort().join(", "))
}

// ./internal/* is closed.
await assert.rejects(import("@effect-resilience/core/internal/retry"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" })
console.log("import @effect-resilience/core/internal/retry: ERR_PACKAGE_PATH_NOT_EXPORTED")

// An effect that fails twice with a transient error, then succeeds.
const flaky = () => {
  let calls = 0
  const effect = Effect.suspend(() => {
    calls++
    return calls < 3
      ? Effect.fail(new ProviderError.TransientError({ provider: "fake", reason: "ServerError", status: 503, message: "503" }))
      : Effect.succeed("ok after " + calls + " calls")
  })
  return { effect, calls: () => calls }
}

const backoff = { base: "5 millis", max: "20 millis" }
const retried = flaky()
const viaRetry = await Effect.runPromise(retried.effect.pipe(Retry.retry(Retry.policy({ maxAttempts: 3, backoff }))))
assert.equal(viaRetry, "ok after 3 calls")
console.log("Retry.retry: " + viaRetry)

const piped = flaky()
const viaPipeline = await Effect.runPromise(
  Effect.gen(function*() {
    const resilience = yield* Resilience.Resilience
    return yield* resilience.run(piped.effect, { key: "fake/model" })
  }).pipe(Effect.provide(Resilience.layer({ retry: { maxAttempts: 3, backoff } })))
)
assert.equal(viaPipeline, "ok after 3 calls")
console.log("Resilience pipeline: " + viaPipeline)
`
fs.writeFileSync(path.join(project, "app.mjs"), program)
step(`node app.mjs (node ${process.version})`)
run(process.execPath, ["app.mjs"], { cwd: project })

// ---------------------------------------------------------------------------------------------------------------
// 2. Type-check under three tsconfigs
// ---------------------------------------------------------------------------------------------------------------

// Every code block of the README that stands for a file of the demo (`<!-- file: ... -->`), as the user copies it.
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const blocks = [...readme.matchAll(/<!-- file: ([^\n]*?) -->\n```ts\n([\s\S]*?)\n```/g)]
if (!blocks.some(([, file]) => file.endsWith("quickstart.ts"))) throw new Error("README: no quick start block")
fs.mkdirSync(path.join(project, "src"))
for (const [, file, code] of blocks) {
  fs.writeFileSync(path.join(project, "src", path.basename(file)), `${code}\n`)
}
fs.writeFileSync(
  path.join(project, "src", "entries.ts"),
  `${entryImports}\nimport * as Retry from "@effect-resilience/core/Retry"\n\n` +
    `export const entries = [${[...tarballs.keys()].map((_, i) => `entry${i}`).join(", ")}, Retry] as const\n`
)

const tsconfigs = {
  // `tsc --init`-free defaults: only the module system is chosen; lib is the default (DOM included), not strict,
  // no skipLibCheck, so every .d.ts of every package is checked too.
  "tsconfig.defaults.json": { compilerOptions: { module: "NodeNext", noEmit: true }, include: ["src"] },
  "tsconfig.strictest.json": {
    compilerOptions: {
      module: "NodeNext",
      noEmit: true,
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noPropertyAccessFromIndexSignature: true,
      noImplicitOverride: true,
      noImplicitReturns: true,
      noFallthroughCasesInSwitch: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: false
    },
    include: ["src"]
  },
  "tsconfig.bundler.json": {
    compilerOptions: {
      target: "ES2022",
      module: "ESNext",
      moduleResolution: "bundler",
      noEmit: true,
      strict: true,
      skipLibCheck: false
    },
    include: ["src"]
  }
}
// The workspace's compiler: the same TypeScript version the lockfile pins. The three runs are independent and
// tsc is single-threaded: they run at once (CI has 2 cores).
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
step(`tsc -p on ${blocks.map(([, f]) => path.basename(f)).join(", ")}, entries.ts`)
const checks = await Promise.all(
  Object.entries(tsconfigs).map(([file, config]) => {
    fs.writeFileSync(path.join(project, file), JSON.stringify(config, null, 2))
    const begun = Date.now()
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [tsc, "-p", file, "--pretty", "false"], { cwd: project })
      let output = ""
      child.stdout.on("data", (chunk) => (output += chunk))
      child.stderr.on("data", (chunk) => (output += chunk))
      child.on("close", (code) => resolve({ file, code, output, seconds: (Date.now() - begun) / 1000 }))
    })
  })
)
for (const { code, file, output, seconds } of checks) {
  console.log(`tsc -p ${file}: ${code === 0 ? "ok" : "FAILED"} (${seconds.toFixed(1)}s)`)
  if (code !== 0) console.log(output)
}
const failedChecks = checks.filter((check) => check.code !== 0)
if (failedChecks.length > 0) {
  current = `tsc -p ${failedChecks.map((check) => check.file).join(", ")}`
  throw Object.assign(new Error(current), { status: 1 })
}

step(`consumer check passed${keep ? ` (kept ${project})` : ""}`)
