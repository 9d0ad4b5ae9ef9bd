// Packs every publishable package as the registry would receive it (`pnpm pack`, publishConfig applied) and
// lints each tarball with publint and @arethetypeswrong/cli (attw). Exits non-zero on the first package with an
// error. Needs `pnpm build` first.
//
//   node scripts/check-packages.mjs [--out <dir>]   (tarballs are kept in <dir>, default a temp dir)
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { option, packAll, publishablePackages, root, run } from "./lib/workspace.mjs"

const out = option("out") ?? fs.mkdtempSync(path.join(os.tmpdir(), "effect-resilience-pack-"))
const bin = (name) => path.join(root, "node_modules", ".bin", name)

// attw does not expand the `./*` pattern: name every public module (`src/<Module>.ts`) as an entry point.
const publicModules = (dir) =>
  fs.readdirSync(path.join(dir, "src"))
    .filter((file) => /^[A-Z].*\.ts$/.test(file) && !file.endsWith(".d.ts"))
    .map((file) => `./${file.slice(0, -".ts".length)}`)

const packages = new Map(publishablePackages().map((pkg) => [pkg.manifest.name, pkg]))
const tarballs = packAll(out)
const failed = []
for (const [name, tarball] of tarballs) {
  console.log(`\n=== ${name}: ${path.basename(tarball)}`)
  try {
    // publint: exports, files and types point at files that are in the tarball; exits 1 on an error or a warning.
    run(bin("publint"), ["run", tarball, "--level", "warning", "--strict"])
    // attw: every entry point's types resolve the way its JavaScript does. ESM only (see README, Install):
    // the `esm-only` profile ignores the node16-from-CommonJS resolution, every other problem fails.
    run(bin("attw"), [
      tarball,
      "--profile",
      "esm-only",
      "--include-entrypoints",
      ...publicModules(packages.get(name).dir),
      "--format",
      "table-flipped",
      "--no-emoji",
      "--no-color"
    ])
  } catch {
    failed.push(name)
  }
}

console.log("\npackage                          size      files")
for (const [name, tarball] of tarballs) {
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").length
  const kib = (fs.statSync(tarball).size / 1024).toFixed(1)
  console.log(`${name.padEnd(32)} ${`${kib} KiB`.padStart(9)} ${String(files).padStart(6)}`)
}
console.log(`tarballs in ${out}`)
if (failed.length > 0) {
  console.error(`\npublint/attw found errors in: ${failed.join(", ")}`)
  process.exit(1)
}
console.log("publint + attw: every package clean")
