import * as Duration from "effect/Duration"

/** Collects every problem of a set of options, each prefixed with its option's path. */
export class Issues {
  readonly list: Array<string> = []

  add(path: string, problem: string): void {
    this.list.push(`${path}: ${problem}`)
  }

  /** Decodes a duration; records a problem and returns `undefined` when it is not one. */
  duration(path: string, input: unknown, options?: { readonly positive?: boolean }): Duration.Duration | undefined {
    // Duration.decode turns NaN and negative amounts into zero; refuse them before it can.
    const negative = (typeof input === "number" && !(input >= 0)) ||
      (typeof input === "string" && input.trim().startsWith("-"))
    if (negative) {
      this.add(path, `must be ${options?.positive === true ? "> 0" : "≥ 0"}, got ${show(input)}`)
      return undefined
    }
    let duration: Duration.Duration
    try {
      // Duration.decode throws on input it cannot read ("5 sekonds", NaN).
      duration = Duration.decode(input as Duration.DurationInput)
    } catch {
      this.add(path, `must be a duration (e.g. "500 millis", "2 seconds"), got ${show(input)}`)
      return undefined
    }
    const millis = Duration.toMillis(duration)
    if (!Number.isFinite(millis)) {
      this.add(path, `must be finite, got ${show(input)}`)
      return undefined
    }
    if (millis < 0 || (options?.positive === true && millis === 0)) {
      this.add(path, `must be ${options?.positive === true ? "> 0" : "≥ 0"}, got ${show(input)}`)
      return undefined
    }
    return duration
  }

  wholeNumber(path: string, input: unknown, min: number): void {
    if (typeof input !== "number" || !Number.isInteger(input) || input < min) {
      this.add(path, `must be a whole number ≥ ${min}, got ${show(input)}`)
    }
  }

  numberInRange(path: string, input: unknown, min: number, max: number): void {
    if (typeof input !== "number" || !(input >= min && input <= max)) {
      this.add(path, `must be a number in [${min}, ${max}], got ${show(input)}`)
    }
  }
}

const show = (input: unknown): string => {
  if (typeof input === "string") return JSON.stringify(input)
  if (Duration.isDuration(input)) return Duration.format(input)
  return String(input)
}
