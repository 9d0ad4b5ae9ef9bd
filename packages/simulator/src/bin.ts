/**
 * Prints the simulator's report: one Markdown table per scenario, one line per
 * policy. With `--out <dir>`, also writes per scenario `<id>.md` and two SVG
 * charts into that folder (same seed, same bytes).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Simulator } from "./index.js"

const args = process.argv.slice(2)
const outIndex = args.indexOf("--out")
const out = outIndex === -1 ? undefined : args[outIndex + 1]
if (outIndex !== -1 && (out === undefined || out.startsWith("--"))) {
  console.error("usage: pnpm sim [--out <dir>]")
  process.exit(2)
}

const started = performance.now()
const reports = Simulator.reports()
for (const report of reports) {
  console.log(`## ${report.title}\n\n${report.table}\n`)
}
if (out !== undefined) {
  const dir = path.resolve(process.env.INIT_CWD ?? process.cwd(), out)
  fs.mkdirSync(dir, { recursive: true })
  for (const report of reports) {
    fs.writeFileSync(path.join(dir, `${report.id}.md`), report.markdown)
    for (const chart of report.charts) fs.writeFileSync(path.join(dir, chart.file), chart.svg)
  }
  console.log(`wrote ${reports.length} reports to ${dir}`)
}
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s real time)`)
