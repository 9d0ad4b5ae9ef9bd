// The command line of `pnpm sim`: its arguments, read without side effects so that they can be tested.

/** What `pnpm sim` was asked to do. */
export type Command =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Run"; readonly only: ReadonlyArray<string> | undefined; readonly out: string | undefined }
  | { readonly _tag: "Invalid"; readonly message: string }

/** The labels `--scenario` takes, in report order. */
export const labels: ReadonlyArray<string> = ["1", "2", "2'", "3", "4", "5", "6"]

/** What `pnpm sim --help` prints, and what an invalid command line is answered with. */
export const usage = `usage: pnpm sim [--scenario <N>]... [--out <dir>] [--help]

Runs the simulator's scenarios in virtual time and prints, on stdout, one Markdown table per scenario and the
scorecard of the zero-config defaults; progress (scenario, policy, time left) goes to stderr.

  --scenario <N>  run only scenario N: ${labels.join(", ")} (quote 2' in a shell: --scenario "2'");
                  repeat it, or give a comma-separated list, for several (--scenario 2,2',6)
  --out <dir>     also write <id>.md, <id>-timeline.svg and <id>-latency.svg per scenario and README.md
                  (the scorecard and an index) into <dir>, relative to where pnpm was run
  --help, -h      print this and exit

Scenarios: (1) 60 s outage; (2) 2,000-request burst vs 600 RPM with rate-limit headers; (2') the same with
Retry-After only; (3) 20 % random 503s; (4) OCC contention and jitter; (5) token-bound burst vs 200k TPM;
(6) failover to a second provider while the primary is down. Same seed, same bytes.`

/** Reads `pnpm sim`'s arguments. */
export const parse = (args: ReadonlyArray<string>): Command => {
  const only: Array<string> = []
  let out: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--help" || arg === "-h") return { _tag: "Help" }
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined]
    if (name === "--scenario" || name === "--out") {
      const value = inline ?? args[++i]
      if (value === undefined || value === "" || value.startsWith("--")) {
        return { _tag: "Invalid", message: `${name} needs a value` }
      }
      if (name === "--out") {
        out = value
        continue
      }
      for (const label of value.split(",").map((s) => s.trim().replace(/^\((.*)\)$/, "$1").replace(/[’′]/g, "'"))) {
        if (!labels.includes(label)) {
          return { _tag: "Invalid", message: `unknown scenario "${label}": expected one of ${labels.join(", ")}` }
        }
        if (!only.includes(label)) only.push(label)
      }
      continue
    }
    return { _tag: "Invalid", message: `unknown argument "${arg}"` }
  }
  return { _tag: "Run", only: only.length === 0 ? undefined : only, out }
}

/** Seconds as a short estimate: `"8 s"`, `"2 min 5 s"`. */
export const duration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}

/**
 * A progress line: where the run is, how long it took so far and, once some work is done, an estimate of the
 * time left from the pace so far.
 */
export const progress = (options: {
  readonly index: number
  readonly runs: number
  readonly scenario: string
  readonly policy: string
  readonly elapsedSeconds: number
  readonly done: number
  readonly total: number
}): string => {
  const left = options.done > 0
    ? `, about ${duration(options.elapsedSeconds / options.done * (options.total - options.done))} left`
    : ""
  return `[sim ${options.index}/${options.runs}] ${options.scenario.split(", ")[0]} · ${options.policy} · ${
    duration(options.elapsedSeconds)
  } so far${left}`
}
