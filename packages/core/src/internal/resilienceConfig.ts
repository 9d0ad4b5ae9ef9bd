import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidPolicyError } from "../PolicyError.js"
import * as RetryBudget from "../RetryBudget.js"
import * as check from "./validate.js"

// The configuration of a whole pipeline as plain data (numbers, strings, booleans; `Duration`s too), so it can come from
// a JSON file or from effect's `Config`, decoded once with every problem listed. Every problem is worded by
// the checks of `validate.ts`, the ones the policies' own constructors use, so a mistake reads the same in
// `Resilience.validate` as in `Retry.validate`, with the value received.

/**
 * A schema that reads any input and fails with the problem `problem` finds, worded as the policies word it.
 * The encoded side is typed `I`, so a value written in code is checked by the compiler too, while a value
 * of unknown type (a file, the environment) is checked here at run time.
 */
const checked = <A, I = A>(
  to: Schema.Schema<A>,
  problem: (input: unknown) => string | undefined
): Schema.Schema<A, I> =>
  Schema.transformOrFail(Schema.Unknown, to, {
    strict: false,
    decode: (input, _, ast) => {
      const found = problem(input)
      return found === undefined
        ? ParseResult.succeed(input)
        : ParseResult.fail(new ParseResult.Type(ast, input, found))
    },
    encode: ParseResult.succeed
  }) as unknown as Schema.Schema<A, I>

/**
 * A duration: written as effect's `Duration.DurationInput` (a number of milliseconds, `"500 millis"`,
 * `"2 seconds"`, a `Duration`), so a misspelt unit in code is a compile error, as it is for effect's own APIs.
 */
const DurationInput = (options?: { readonly positive?: boolean }): Schema.Schema<
  Duration.Duration,
  Duration.DurationInput
> =>
  Schema.transformOrFail(Schema.Unknown, Schema.DurationFromSelf, {
    strict: false,
    decode: (input, _, ast) => {
      const read = check.readDuration(input, options)
      return Duration.isDuration(read)
        ? ParseResult.succeed(read)
        : ParseResult.fail(new ParseResult.Type(ast, input, read.problem))
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }) as unknown as Schema.Schema<Duration.Duration, Duration.DurationInput>

/** Options as an object, worded as the policies word a value that is not one when it is something else. */
const section = <Fields extends Schema.Struct.Fields>(what: string, fields: Fields) =>
  Schema.Struct(fields).annotations({ message: (issue) => `must be ${what}, got ${check.show(issue.actual)}` })

const WholeNumber = (min: number) => checked(Schema.Number, (n) => check.wholeNumber(n, min))

const Ratio = checked(Schema.Number, (n) => check.numberInRange(n, 0, 1))

const Factor = checked(Schema.Number, (n) => check.numberInRange(n, 1, 1000))

const Positive = checked(Schema.Number, (n) => check.finiteNumber(n, "> 0"))

const NonNegative = checked(Schema.Number, (n) => check.finiteNumber(n, "≥ 0"))

const oneOf = <const L extends ReadonlyArray<string>>(...choices: L) =>
  checked(Schema.Literal(...choices), (input) => check.oneOf(input, choices))

/** The default spread of `jitter: "proportional"`: ±25 %. */
const defaultJitterRatio = 0.25

const BackoffInput = section("an object such as { base: \"500 millis\", max: \"30 seconds\" }", {
  base: DurationInput(),
  factor: Schema.optional(Factor),
  max: DurationInput(),
  jitter: Schema.optional(oneOf("none", "full", "equal", "decorrelated", "proportional")),
  /** The ±ratio of `jitter: "proportional"`, in [0, 1]; 0.25 when omitted. */
  jitterRatio: Schema.optional(Ratio)
})

/** A decoded backoff: what `Backoff.make` takes, proportional jitter as a `Backoff.Jitter` value. */
const BackoffDecoded = Schema.Struct({
  base: Schema.DurationFromSelf,
  factor: Schema.optional(Schema.Number),
  max: Schema.DurationFromSelf,
  jitter: Schema.optional(Schema.Union(
    Schema.Literal("none", "full", "equal", "decorrelated"),
    Schema.Struct({ _tag: Schema.Literal("Proportional"), ratio: Schema.Number })
  ))
})

/**
 * A backoff section. `unlessGiven` is the jitter when the section names none: left to `Backoff.make` (full
 * jitter) for retries, `"none"` for a break duration, which is never randomised unless asked.
 */
const Backoff = (unlessGiven: "none" | undefined) =>
  Schema.transform(BackoffInput, BackoffDecoded, {
    strict: true,
    decode: ({ jitter = unlessGiven, jitterRatio, ...rest }) =>
      jitter === undefined
        ? rest
        : jitter === "proportional"
        ? { ...rest, jitter: { _tag: "Proportional" as const, ratio: jitterRatio ?? defaultJitterRatio } }
        : { ...rest, jitter },
    encode: ({ jitter, ...rest }) =>
      jitter === undefined
        ? rest
        : typeof jitter === "string"
        ? { ...rest, jitter }
        : { ...rest, jitter: "proportional" as const, jitterRatio: jitter.ratio }
  })

/** `false` turns a policy off; omitting it keeps the default. */
const orOff = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.Union(Schema.Literal(false), schema))

/** The schema of a pipeline configuration: plain data in, durations decoded. */
export const Config = Schema.Struct({
  retry: orOff(section("false or an object of retry options", {
    maxAttempts: Schema.optional(WholeNumber(1)),
    backoff: Schema.optional(Backoff(undefined)),
    retryAfterCeiling: Schema.optional(DurationInput()),
    maxElapsed: Schema.optional(DurationInput({ positive: true })),
    onOpenCircuit: Schema.optional(oneOf("wait", "fail"))
  })),
  budget: orOff(
    Schema.Union(
      section("false or an object of budget options", {
        kind: Schema.Literal("tokenBucket"),
        maxTokens: Schema.optional(Positive),
        tokenRatio: Schema.optional(checked(Schema.Number, (n) => check.tokenRatio(n, Infinity)))
      }),
      section("false or an object of budget options", {
        kind: Schema.Literal("ratio"),
        ratio: Schema.optional(Ratio),
        minRetriesPerSecond: Schema.optional(NonNegative),
        window: Schema.optional(DurationInput({ positive: true }))
      })
    ).annotations({
      message: (issue) => `must be false or an object of budget options, got ${check.show(issue.actual)}`
    })
  ),
  circuitBreaker: orOff(section("false or an object of circuit breaker options", {
    trip: Schema.optional(
      Schema.Union(
        section("an object such as { kind: \"consecutive\", threshold: 5 }", {
          kind: Schema.Literal("consecutive"),
          threshold: WholeNumber(1)
        }),
        section("an object such as { kind: \"ratio\", ratio: 0.5, window: \"30 seconds\", minimumThroughput: 10 }", {
          kind: Schema.Literal("ratio"),
          ratio: checked(Schema.Number, check.tripRatio),
          window: DurationInput({ positive: true }),
          minimumThroughput: WholeNumber(1),
          buckets: Schema.optional(WholeNumber(1))
        })
      ).annotations({
        message: (issue) => `must be an object with a kind, "consecutive" or "ratio", got ${check.show(issue.actual)}`
      })
    ),
    breakDuration: Schema.optional(Backoff("none")),
    halfOpenProbes: Schema.optional(WholeNumber(1)),
    successesToClose: Schema.optional(WholeNumber(1))
  })),
  bulkhead: orOff(section("false or an object of bulkhead options", {
    maxConcurrent: WholeNumber(1),
    maxQueue: Schema.optional(WholeNumber(0))
  })),
  rateLimiter: orOff(section("false or an object of rate limiter options", {
    learn: Schema.optional(checked(Schema.Boolean, (u) => check.oneOf(u, [true, false]))),
    requestsPerMinute: Schema.optional(Positive),
    tokensPerMinute: Schema.optional(Positive),
    burst: Schema.optional(section("an object such as { requests: 10, tokens: 20000 }", {
      requests: Schema.optional(WholeNumber(1)),
      tokens: Schema.optional(WholeNumber(1))
    })),
    onExceeded: Schema.optional(oneOf("delay", "fail"))
  })),
  attemptTimeout: orOff(DurationInput({ positive: true })),
  deadline: orOff(DurationInput({ positive: true }))
})

/** A decoded configuration: durations as `Duration`s. */
export type Config = typeof Config.Type
/**
 * A configuration as written: the schema's encoded side, every field optional at every depth, since a section
 * given in part is merged with the default section field by field (what is still missing after the merge, such
 * as the fields of a trip of another kind than the default's, is reported at run time).
 */
export type ConfigInput = Partially<typeof Config.Encoded>

/** Every field optional at every depth, down to a duration (a `Duration` or a tuple is a value, not a section). */
type Partially<T> = T extends Duration.DurationInput ? T
  : T extends object ? { readonly [K in keyof T]?: Partially<T[K]> | undefined }
  : T

const sections = Object.keys(Config.fields)

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

/**
 * Fills in the defaults, field by field at every depth: a section (or a section within a section) given in
 * part keeps the default's value of every field it does not name. A section whose `kind` differs from the
 * default's (another kind of budget or trip) replaces it whole, since the default's fields belong to its kind;
 * `false` turns a policy off.
 */
export const withDefaults = (defaults: object, config: unknown): unknown =>
  config === undefined || config === null ? defaults : merge(defaults, config)

const merge = (fallback: unknown, given: unknown): unknown => {
  if (given === undefined) return fallback
  if (!isPlainObject(fallback) || !isPlainObject(given)) return given
  if ("kind" in given && "kind" in fallback && given.kind !== fallback.kind) return given
  const merged: Record<string, unknown> = { ...fallback }
  for (const [key, value] of Object.entries(given)) merged[key] = merge(fallback[key], value)
  return merged
}

/** A section, not a value such as a `Duration`, which is replaced whole. */
const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (!check.isRecord(u)) return false
  const prototype = Object.getPrototypeOf(u)
  return prototype === Object.prototype || prototype === null
}

// ---------------------------------------------------------------------------
// Rules across fields
// ---------------------------------------------------------------------------

// Checked on the raw configuration, beside the schema rather than as its refinements, so that they are listed
// whatever else is wrong in the same section (a schema refinement runs only once its fields are all valid).

/**
 * A limiter section that turns learning off must name a limit, or it would limit nothing (`rateLimiter: false`
 * says that). Any other section is valid without one: `rateLimiter: {}` is the default, learned admission with
 * no ceiling. Checked on the section as given, not as merged with the defaults.
 */
const rateLimiterNeedsALimit = (issues: check.Issues, given: unknown): void => {
  const section = check.isRecord(given) ? given.rateLimiter : undefined
  if (
    check.isRecord(section) && section.learn === false &&
    section.requestsPerMinute === undefined && section.tokensPerMinute === undefined
  ) {
    issues.add(
      "rateLimiter.requestsPerMinute",
      "give requestsPerMinute, tokensPerMinute or both with learn: false (or turn the limiter off with rateLimiter: false)"
    )
  }
}

/** A burst is the capacity of a limit's bucket: there must be that limit. */
const burstNeedsItsLimit = (issues: check.Issues, section: unknown): void => {
  if (!check.isRecord(section) || !check.isRecord(section.burst)) return
  if (section.burst.requests !== undefined && section.requestsPerMinute === undefined) {
    issues.add("burst.requests", "needs requestsPerMinute")
  }
  if (section.burst.tokens !== undefined && section.tokensPerMinute === undefined) {
    issues.add("burst.tokens", "needs tokensPerMinute")
  }
}

const backoffRules = (issues: check.Issues, section: unknown, given: unknown): void => {
  if (!check.isRecord(section)) return
  const base = check.readDuration(section.base)
  const max = check.readDuration(section.max)
  if (Duration.isDuration(base) && Duration.isDuration(max) && Duration.lessThan(max, base)) {
    // A base given above the default cap: say where the cap came from.
    const defaulted = check.isRecord(given) && given.max === undefined ? " (the default max; give one)" : ""
    issues.add("max", check.atLeastBase(base, section.max) + defaulted)
  }
  if (section.jitterRatio !== undefined && section.jitter !== "proportional") {
    issues.add("jitterRatio", "only applies to jitter: \"proportional\"")
  }
}

/** A token bucket's refill per success is at most its size: `RetryBudget`'s own check, its defaults included. */
const tokenBucketRules = (issues: check.Issues, section: unknown): void => {
  if (!check.isRecord(section) || section.kind !== "tokenBucket") return
  const { maxTokens, tokenRatio } = section
  // Only when both are valid alone (or left to the budget's defaults): otherwise the schema lists them.
  const valid = (maxTokens === undefined || check.finiteNumber(maxTokens, "> 0") === undefined) &&
    (tokenRatio === undefined || check.tokenRatio(tokenRatio, Infinity) === undefined)
  if (!valid) return
  const checked = RetryBudget.validateTokenBucket({
    maxTokens: maxTokens as number | undefined,
    tokenRatio: tokenRatio as number | undefined
  })
  if (Either.isLeft(checked)) issues.nest("budget", checked.left.issues)
}

const crossFieldRules = (issues: check.Issues, merged: unknown, given: unknown): void => {
  if (!check.isRecord(merged)) return
  const within = (config: unknown, section: string, field: string) =>
    check.isRecord(config) && check.isRecord(config[section]) ? config[section][field] : undefined
  const backoffAt = (section: string, field: string) =>
    backoffRules(issues.under(`${section}.${field}`), within(merged, section, field), within(given, section, field))
  backoffAt("retry", "backoff")
  tokenBucketRules(issues, merged.budget)
  backoffAt("circuitBreaker", "breakDuration")
  rateLimiterNeedsALimit(issues, given)
  burstNeedsItsLimit(issues.under("rateLimiter"), merged.rateLimiter)
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

const decodeConfig = Schema.decodeUnknownEither(Config, { errors: "all", onExcessProperty: "error" })

/** Where an issue sorts: by its section, in the order of the schema; unknown sections first. */
const sectionIndex = (issue: string): number => sections.indexOf(issue.split(/[.:]/, 1)[0]!)

/**
 * The schema's own words for a `kind` it does not know (`Expected "tokenBucket" | "ratio", actual "bogus"`),
 * in the words of the policies' checks (`must be "tokenBucket" or "ratio", got "bogus"`).
 */
const reword = (message: string): string => {
  const literals = /^Expected ("[^"]*"(?: \| "[^"]*")*), actual (.*)$/s.exec(message)
  if (literals === null) return message
  const choices = literals[1]!.split(" | ").map((choice) => JSON.parse(choice) as string)
  return `must be ${check.listChoices(choices)}, got ${literals[2]}`
}

/**
 * A section that names no `kind` takes the default's, with which it is merged: an option of another kind is
 * then unexpected, and the problem says which kind the section was taken to be.
 */
const kindTaken = (given: unknown, merged: unknown, issue: ParseResult.ArrayFormatterIssue): string => {
  if (issue._tag !== "Unexpected" || issue.path.length < 2) return ""
  const at = (config: unknown) =>
    issue.path.slice(0, -1).reduce<unknown>((u, key) => check.isRecord(u) ? u[key as string] : undefined, config)
  const mergedSection = at(merged)
  const givenSection = at(given)
  return check.isRecord(givenSection) && givenSection.kind === undefined && check.isRecord(mergedSection) &&
      typeof mergedSection.kind === "string"
    ? ` (a section with no kind is merged with the default, of kind ${JSON.stringify(mergedSection.kind)})`
    : ""
}

/**
 * Decodes a configuration, merged with `defaults` field by field, or lists every problem with its path,
 * e.g. `retry.maxAttempts: must be a whole number ≥ 1, got 0`.
 */
export const decode = (input: unknown, defaults: object = {}): Either.Either<Config, InvalidPolicyError> => {
  if (input !== undefined && input !== null && !check.isRecord(input)) {
    return Either.left(
      new InvalidPolicyError({
        policy: "resilience",
        issues: [`config: must be an object of policy sections (retry, budget, ...), got ${check.show(input)}`]
      })
    )
  }
  const merged = withDefaults(defaults, input)
  const rules = new check.Issues()
  crossFieldRules(rules, merged, input)
  const decoded = decodeConfig(merged)
  const schemaIssues = Either.isLeft(decoded)
    ? ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
      // `false | {...}` and optional fields are unions: their other branches only add noise.
      .filter((issue) => !/^Expected (false|undefined), actual/.test(issue.message))
      .map((issue) =>
        `${issue.path.length === 0 ? "config" : issue.path.join(".")}: ${reword(issue.message)}${
          kindTaken(input, merged, issue)
        }`
      )
    : []
  if (schemaIssues.length === 0 && rules.list.length === 0 && Either.isRight(decoded)) {
    return Either.right(decoded.right)
  }
  // Stable: within a section, the schema's problems (in field order), then the rules across its fields.
  const issues = [...schemaIssues, ...rules.list].sort((a, b) => sectionIndex(a) - sectionIndex(b))
  return Either.left(new InvalidPolicyError({ policy: "resilience", issues }))
}
