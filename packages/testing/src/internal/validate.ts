import * as Duration from "effect/Duration"

/** Collects every problem of a configuration, each prefixed with its path, so one error can list them all. */
export class Issues {
  readonly list: Array<string> = []

  add(path: string, problem: string): void {
    this.list.push(`${path}: ${problem}`)
  }

  /** Decodes a duration; records a problem and returns `undefined` when it is not a finite one ≥ 0 (> 0 if asked). */
  duration(path: string, input: unknown, options?: { readonly positive?: boolean }): Duration.Duration | undefined {
    const bound = options?.positive === true ? "> 0" : "≥ 0"
    // Duration.decode turns negative amounts into zero; refuse them before it can.
    if ((typeof input === "number" && !(input >= 0)) || (typeof input === "string" && input.trim().startsWith("-"))) {
      this.add(path, `must be ${bound}, got ${show(input)}`)
      return undefined
    }
    let duration: Duration.Duration
    try {
      duration = Duration.decode(input as Duration.DurationInput)
    } catch {
      this.add(path, `must be a duration (e.g. "500 millis", "2 seconds"), got ${show(input)}`)
      return undefined
    }
    const millis = Duration.toMillis(duration)
    if (!Number.isFinite(millis) || (options?.positive === true && millis === 0)) {
      this.add(path, `must be finite and ${bound}, got ${show(input)}`)
      return undefined
    }
    return duration
  }

  probability(path: string, input: unknown): number {
    if (typeof input !== "number" || !(input >= 0 && input <= 1)) {
      this.add(path, `must be a number in [0, 1], got ${show(input)}`)
      return 0
    }
    return input
  }

  wholeNumber(path: string, input: unknown, min: number): number {
    if (typeof input !== "number" || !Number.isInteger(input) || input < min) {
      this.add(path, `must be a whole number ≥ ${min}, got ${show(input)}`)
      return min
    }
    return input
  }
}

const show = (input: unknown): string => {
  if (typeof input === "string") return JSON.stringify(input)
  if (Duration.isDuration(input)) return Duration.format(input)
  return String(input)
}
