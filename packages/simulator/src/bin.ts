/**
 * Prints the simulator's report: one Markdown line per policy per scenario.
 *
 * @since 0.1.0
 */
import { Simulator } from "./index.js"

const started = performance.now()
const rows = Simulator.scenarios.flatMap((scenario) =>
  Simulator.policies.map((policy) => Simulator.run(scenario, policy))
)
console.log(Simulator.table(rows))
console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s real time)`)
