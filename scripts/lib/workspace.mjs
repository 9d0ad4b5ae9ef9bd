// Shared by the packaging scripts: the publishable packages, pnpm, and packing them into tarballs.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/**
 * Every package that is published: `packages/*` whose package.json is not `private`.
 * @returns {Array<{ name: string, dir: string, manifest: any }>}
 */
export const publishablePackages = () =>
  fs.readdirSync(path.join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(root, "packages", entry.name, "package.json")))
    .map((entry) => {
      const dir = path.join(root, "packages", entry.name)
      return { name: entry.name, dir, manifest: JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) }
    })
    .filter((pkg) => pkg.manifest.private !== true)
    .sort((a, b) => a.name.localeCompare(b.name))

/**
 * pnpm as the caller ran it: under `pnpm run` that is `npm_execpath`, else `npx --yes pnpm@10`
 * (the README's and CI's way).
 * @returns {[string, Array<string>]}
 */
export const pnpm = () => {
  const execPath = process.env.npm_execpath
  return execPath !== undefined && /pnpm/.test(path.basename(execPath))
    ? [process.execPath, [execPath]]
    : ["npx", ["--yes", "pnpm@10"]]
}

/** Runs a command, inheriting stdio unless told otherwise; throws on a non-zero exit. */
export const run = (command, args, options = {}) =>
  execFileSync(command, args, { stdio: "inherit", encoding: "utf8", ...options })

/**
 * Packs every publishable package with `pnpm pack` (which applies `publishConfig` and rewrites `workspace:`
 * ranges) into `destination`. Needs `pnpm build` first.
 * @returns {Map<string, string>} package name (`@effect-resilience/core`) → tarball path
 */
export const packAll = (destination) => {
  fs.mkdirSync(destination, { recursive: true })
  const [command, prefix] = pnpm()
  const tarballs = new Map()
  for (const pkg of publishablePackages()) {
    if (!fs.existsSync(path.join(pkg.dir, "dist", "index.js"))) {
      throw new Error(`${pkg.manifest.name}: no dist/index.js; run \`pnpm build\` first`)
    }
    const before = new Set(fs.readdirSync(destination))
    run(command, [...prefix, "pack", "--pack-destination", destination], { cwd: pkg.dir, stdio: "pipe" })
    const created = fs.readdirSync(destination).filter((file) => file.endsWith(".tgz") && !before.has(file))
    const expected = `${pkg.manifest.name.replace(/^@/, "").replace("/", "-")}-${pkg.manifest.version}.tgz`
    const file = created.includes(expected) ? expected : created[0] ?? expected
    if (!fs.existsSync(path.join(destination, file))) {
      throw new Error(`${pkg.manifest.name}: pnpm pack wrote no tarball to ${destination}`)
    }
    tarballs.set(pkg.manifest.name, path.join(destination, file))
  }
  return tarballs
}

/** Reads `--name value` from argv. */
export const option = (name) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : process.argv[i + 1]
}
