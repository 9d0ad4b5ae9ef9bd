// Removes every package's build output (`dist/`, `build/`), so the next `pnpm build` emits from scratch
// (tsc -b trusts its .tsbuildinfo: a dist/ deleted by hand is not rebuilt otherwise).
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
for (const name of fs.readdirSync(path.join(root, "packages"))) {
  for (const dir of ["dist", "build"]) {
    fs.rmSync(path.join(root, "packages", name, dir), { recursive: true, force: true })
  }
}
