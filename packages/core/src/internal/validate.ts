import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

// One wording for every problem, whichever door the options came through: a policy's own `validate` (`Issues`)
// and the pipeline's configuration schema (`resilienceConfig.ts`) both take their messages from the checks
// below, so the same mistake reads the same way, with the value received, wherever it is made.

/** The longest value shown in a problem, in characters. */
const maxShown = 80

/** How a value received is shown in a problem: NaN and Infinity as such, text quoted, a Duration formatted. */
export const show = (input: unknown): string => {
  if (typeof input === "string") return JSON.stringify(input)
  if (typeof input === "number" || typeof input === "boolean" || input === undefined || input === null) {
    return String(input)
  }
  if (typeof input === "bigint") return `${input}n`
  if (typeof input === "function") return "a function"
  if (Duration.isDuration(input)) return Duration.format(input)
  try {
    // JSON would show NaN and Infinity as null: a number that is not finite is shown as itself.
    const text = JSON.stringify(
      input,
      (_, value) => typeof value === "number" && !Number.isFinite(value) ? `<${value}>` : value
    )
    const shown = text === undefined ? String(input) : text.replace(/"<(NaN|-?Infinity)>"/g, "$1")
    // An object passed by mistake (an Effect, a Layer) can be large: enough of it to recognise it.
    return shown.length > maxShown ? `${shown.slice(0, maxShown - 1)}…` : shown
  } catch {
    return String(input)
  }
}

/** `input` read as a duration, or the problem with it. Accepts what effect's `Duration.decode` accepts. */
export const readDuration = (
  input: unknown,
  options?: { readonly positive?: boolean | undefined }
): Duration.Duration | { readonly problem: string } => {
  const bound = options?.positive === true ? "> 0" : "≥ 0"
  // Duration.decode turns NaN and negative amounts into zero; refuse them before it can.
  const negative = (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "string" && input.trim().startsWith("-"))
  if (negative) return { problem: `must be ${bound}, got ${show(input)}` }
  const readable = Duration.isDuration(input) || typeof input === "number" || typeof input === "bigint" ||
    typeof input === "string" ||
    (Array.isArray(input) && input.length === 2 && input.every((n) => typeof n === "number"))
  let duration: Duration.Duration | undefined
  if (readable) {
    try {
      // Duration.decode throws on text it cannot read ("5 sekonds").
      duration = Duration.decode(input as Duration.DurationInput)
    } catch {
      duration = undefined
    }
  }
  if (duration === undefined) {
    return { problem: `must be a duration (e.g. "500 millis", "2 seconds"), got ${show(input)}` }
  }
  const millis = Duration.toMillis(duration)
  if (!Number.isFinite(millis)) return { problem: `must be finite, got ${show(input)}` }
  if (millis < 0 || (options?.positive === true && millis === 0)) {
    return { problem: `must be ${bound}, got ${show(input)}` }
  }
  return duration
}

/** The problem of a value that should be a whole number ≥ `min`, if any. */
export const wholeNumber = (input: unknown, min: number): string | undefined =>
  typeof input === "number" && Number.isInteger(input) && input >= min
    ? undefined
    : `must be a whole number ≥ ${min}, got ${show(input)}`

/** The problem of a value that should be a number in `[min, max]`, if any. */
export const numberInRange = (input: unknown, min: number, max: number): string | undefined =>
  typeof input === "number" && input >= min && input <= max
    ? undefined
    : `must be a number in [${min}, ${max}], got ${show(input)}`

/** The problem of a value that should be a finite number above (`> min`) or at least (`≥ min`) a bound, if any. */
export const finiteNumber = (input: unknown, bound: "> 0" | "≥ 0"): string | undefined =>
  typeof input === "number" && Number.isFinite(input) && (bound === "> 0" ? input > 0 : input >= 0)
    ? undefined
    : `must be a finite number ${bound}, got ${show(input)}`

/** The problem of a token bucket's refill per success, which must be in (0, maxTokens], if any. */
export const tokenRatio = (input: unknown, maxTokens: number): string | undefined =>
  typeof input === "number" && input > 0 && input <= maxTokens
    ? undefined
    : `must be a number in (0, maxTokens], got ${show(input)}`

/** The problem of a breaker's failure ratio, which must be in (0, 1], if any. */
export const tripRatio = (input: unknown): string | undefined =>
  typeof input === "number" && input > 0 && input <= 1 ? undefined : `must be a number in (0, 1], got ${show(input)}`

/** The problem of a value that should be one of a few literals, if any. */
export const oneOf = (input: unknown, choices: ReadonlyArray<string | boolean>, or?: string): string | undefined =>
  choices.includes(input as string) ? undefined : `must be ${listChoices(choices, or)}, got ${show(input)}`

/** `"a", "b" or "c"`. */
export const listChoices = (choices: ReadonlyArray<string | boolean>, or?: string): string => {
  const shown = choices.map((choice) => typeof choice === "string" ? JSON.stringify(choice) : String(choice))
  if (or !== undefined) shown.push(or)
  return shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`
}

/** The problem of a backoff's cap below its base. */
export const atLeastBase = (base: Duration.Duration, max: unknown): string =>
  `must be ≥ base (${Duration.format(base)}), got ${show(max)}`

/** The problem of an option nobody defined: the words effect's `Schema` uses for an excess property. */
export const unexpected = (allowed: ReadonlyArray<string>): string =>
  `is unexpected, expected: ${allowed.map((key) => JSON.stringify(key)).join(" | ")}`

/** The problem of a required option left out: the words effect's `Schema` uses. */
export const missing = "is missing"

/** Whether a value is a plain object (not null, not an array). */
export const isRecord = (u: unknown): u is Record<string, unknown> =>
  Predicate.isObject(u) && !Array.isArray(u) && typeof u !== "function"

/** Collects every problem of a set of options, each prefixed with its option's path. */
export class Issues {
  constructor(readonly list: Array<string> = [], private readonly prefix: string = "") {}

  /** The same list, for the options under `path` (their paths are prefixed with `path.`). */
  under(path: string): Issues {
    return new Issues(this.list, `${this.prefix}${path}.`)
  }

  add(path: string, problem: string): void {
    this.list.push(`${this.prefix}${path}: ${problem}`)
  }

  /** Records the problems another check listed for the options under `path` (e.g. an `InvalidPolicyError`'s). */
  nest(path: string, problems: ReadonlyArray<string>): void {
    for (const problem of problems) this.list.push(`${this.prefix}${path}.${problem}`)
  }

  /** Records a problem found by one of the checks above, if there is one. */
  check(path: string, problem: string | undefined): void {
    if (problem !== undefined) this.add(path, problem)
  }

  /** Decodes a duration; records a problem and returns `undefined` when it is not one. */
  duration(path: string, input: unknown, options?: { readonly positive?: boolean }): Duration.Duration | undefined {
    const read = readDuration(input, options)
    if (Duration.isDuration(read)) return read
    this.add(path, read.problem)
    return undefined
  }

  wholeNumber(path: string, input: unknown, min: number): void {
    this.check(path, wholeNumber(input, min))
  }

  numberInRange(path: string, input: unknown, min: number, max: number): void {
    this.check(path, numberInRange(input, min, max))
  }

  /**
   * Records every key of `input` that is not an option. `allowed` is a record with every option's name, so
   * that a new option added to the options' type and not here is a compile error, not a rejected option.
   */
  unexpectedKeys(input: object, allowed: Readonly<Record<string, true>>): void {
    const names = Object.keys(allowed)
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(allowed, key)) this.add(key, unexpected(names))
    }
  }
}
