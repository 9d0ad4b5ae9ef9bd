/**
 * `pnpm sim`: prints the simulator's report, one Markdown table per scenario
 * and the scorecard of the zero-config defaults, on stdout; progress on
 * stderr. `--scenario N` runs one scenario, `--out <dir>` also writes each
 * scenario's Markdown and SVG charts and a README.md with the scorecard (same
 * seed, same bytes); `--help` prints the usage.
 *
 * The `sim` script runs it with a 64 MB young generation (`--max-semi-space-size=64`): a simulation allocates
 * millions of short-lived fibers, effects and timers, and with the default 16 MB the garbage collector took
 * almost half of the contention experiment's time (the whole run: about a fifth less CPU).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Simulator } from "./index.js"
import * as Cli from "./internal/cli.js"

const command = Cli.parse(process.argv.slice(2))
if (command._tag === "Help") {
  console.log(Cli.usage)
  process.exit(0)
}
if (command._tag === "Invalid") {
  console.error(`pnpm sim: ${command.message}\n\n${Cli.usage}`)
  process.exit(2)
}

const started = performance.now()
const plan = Simulator.plan(command.only)
const total = plan.reduce((sum, item) => sum + Simulator.planWeight(item), 0)
const runs = plan.reduce(
  (sum, item) => sum + (item === "contention" ? 1 : Simulator.policiesFor(item, Simulator.policies).length),
  0
)
const tty = process.stderr.isTTY === true
let done = 0
let index = 0
let pending = 0
const reports = Simulator.reports({
  only: command.only,
  onRun: (run) => {
    done += pending
    pending = run.weight
    index++
    const line = Cli.progress({
      index,
      runs,
      scenario: run.scenario,
      policy: run.policy,
      elapsedSeconds: (performance.now() - started) / 1000,
      done,
      total
    })
    process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`)
  }
})
if (tty) process.stderr.write("\r\x1b[K")

for (const report of reports) {
  console.log(`## ${report.title}\n\n${report.table}\n`)
}
console.log(`## Scorecard\n\n${Simulator.scorecard(reports)}\n`)
if (command.out !== undefined) {
  const dir = path.resolve(process.env.INIT_CWD ?? process.cwd(), command.out)
  fs.mkdirSync(dir, { recursive: true })
  for (const report of reports) {
    fs.writeFileSync(path.join(dir, `${report.id}.md`), report.markdown)
    for (const chart of report.charts) fs.writeFileSync(path.join(dir, chart.file), chart.svg)
  }
  fs.writeFileSync(path.join(dir, "README.md"), Simulator.readme(reports))
  console.log(`wrote ${reports.length} reports and README.md to ${dir}`)
}
process.stderr.write(`pnpm sim: ${((performance.now() - started) / 1000).toFixed(1)} s real time\n`)
