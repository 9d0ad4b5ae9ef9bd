import { assert, describe, it } from "@effect/vitest"
import * as Cli from "../src/internal/cli.js"
import * as Simulator from "../src/Simulator.js"

describe("pnpm sim's command line", () => {
  it("prints the usage for --help or -h, whatever else is given", () => {
    assert.deepStrictEqual(Cli.parse(["--help"]), { _tag: "Help" })
    assert.deepStrictEqual(Cli.parse(["--scenario", "2", "-h"]), { _tag: "Help" })
    assert.include(Cli.usage, "--scenario <N>")
  })

  it("selects scenarios by label, repeated or comma-separated, with --out in either form", () => {
    assert.deepStrictEqual(Cli.parse([]), { _tag: "Run", only: undefined, out: undefined })
    assert.deepStrictEqual(Cli.parse(["--scenario", "2'", "--scenario", "6,1", "--out", "docs/sim"]), {
      _tag: "Run",
      only: ["2'", "6", "1"],
      out: "docs/sim"
    })
    assert.deepStrictEqual(Cli.parse(["--scenario=(2')", "--out=x"]), { _tag: "Run", only: ["2'"], out: "x" })
    // Every label the CLI takes selects exactly one shipped report.
    for (const label of Cli.labels) assert.strictEqual(Simulator.plan([label]).length, 1, label)
    assert.strictEqual(Simulator.plan().length, Cli.labels.length)
  })

  it("refuses an unknown scenario, a missing value or an unknown argument with a message", () => {
    assert.deepStrictEqual(Cli.parse(["--scenario", "7"]), {
      _tag: "Invalid",
      message: "unknown scenario \"7\": expected one of 1, 2, 2', 3, 4, 5, 6"
    })
    assert.deepStrictEqual(Cli.parse(["--out"]), { _tag: "Invalid", message: "--out needs a value" })
    assert.deepStrictEqual(Cli.parse(["--scenario", "--out", "x"]), {
      _tag: "Invalid",
      message: "--scenario needs a value"
    })
    assert.deepStrictEqual(Cli.parse(["--verbose"]), { _tag: "Invalid", message: "unknown argument \"--verbose\"" })
  })

  it("shows progress with an estimate of the time left once some work is done", () => {
    const line = (done: number) =>
      Cli.progress({
        index: 3,
        runs: 10,
        scenario: "(2) 600 RPM, 2,000-request burst",
        policy: "library defaults",
        elapsedSeconds: 30,
        done,
        total: 100
      })
    assert.strictEqual(line(0), "[sim 3/10] (2) 600 RPM · library defaults · 30 s so far")
    assert.strictEqual(line(20), "[sim 3/10] (2) 600 RPM · library defaults · 30 s so far, about 2 min 0 s left")
  })
})
