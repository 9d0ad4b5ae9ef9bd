import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidPolicyError } from "../PolicyError.js"

// The configuration of a whole pipeline as plain data (numbers, strings, booleans), so it can come from
// a JSON file or from effect's `Config`, decoded once with every problem listed.

const readDuration = (input: number | string): Duration.Duration | string => {
  if (typeof input === "number") {
    return Number.isFinite(input) && input >= 0 ? Duration.millis(input) : `must be a finite number of milliseconds ≥ 0`
  }
  if (input.trim().startsWith("-")) return "must be ≥ 0"
  try {
    const duration = Duration.decode(input as Duration.DurationInput)
    return Duration.isFinite(duration) ? duration : "must be finite"
  } catch {
    return `must be a duration such as "500 millis" or "2 seconds", or a number of milliseconds`
  }
}

/** A duration written as a number of milliseconds or as text (`"500 millis"`, `"2 seconds"`). */
const DurationInput = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      const duration = readDuration(input)
      return typeof duration === "string"
        ? ParseResult.fail(new ParseResult.Type(ast, input, `${duration}, got ${JSON.stringify(input)}`))
        : ParseResult.succeed(duration)
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }
).annotations({ identifier: "DurationInput" })

const PositiveDuration = DurationInput.pipe(
  Schema.filter((duration) => Duration.toMillis(duration) > 0 || "must be > 0")
)

const WholeNumber = (min: number) =>
  Schema.Number.pipe(Schema.filter((n) => (Number.isInteger(n) && n >= min) || `must be a whole number ≥ ${min}`))

const Ratio = Schema.Number.pipe(Schema.filter((n) => (n >= 0 && n <= 1) || "must be a number in [0, 1]"))

const Factor = Schema.Number.pipe(Schema.filter((n) => (n >= 1 && n <= 1000) || "must be a number in [1, 1000]"))

/** The default spread of `jitter: "proportional"`: ±25 %. */
const defaultJitterRatio = 0.25

const BackoffInput = Schema.Struct({
  base: DurationInput,
  factor: Schema.optional(Factor),
  max: DurationInput,
  jitter: Schema.optional(Schema.Literal("none", "full", "equal", "decorrelated", "proportional")),
  /** The ±ratio of `jitter: "proportional"`, in [0, 1]; 0.25 when omitted. */
  jitterRatio: Schema.optional(Ratio)
}).pipe(
  Schema.filter((backoff) =>
    Duration.greaterThanOrEqualTo(backoff.max, backoff.base) || {
      path: ["max"],
      message: "must be ≥ base"
    }
  ),
  Schema.filter((backoff) =>
    backoff.jitterRatio === undefined || backoff.jitter === "proportional" || {
      path: ["jitterRatio"],
      message: "only applies to jitter: \"proportional\""
    }
  )
)

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

const Backoff = Schema.transform(BackoffInput, BackoffDecoded, {
  strict: true,
  decode: ({ jitter, jitterRatio, ...rest }) =>
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
  retry: orOff(Schema.Struct({
    maxAttempts: Schema.optional(WholeNumber(1)),
    backoff: Schema.optional(Backoff),
    retryAfterCeiling: Schema.optional(DurationInput),
    maxElapsed: Schema.optional(PositiveDuration)
  })),
  budget: orOff(Schema.Union(
    Schema.Struct({
      kind: Schema.Literal("tokenBucket"),
      maxTokens: Schema.optional(Schema.Number.pipe(Schema.filter((n) => n > 0 || "must be > 0"))),
      tokenRatio: Schema.optional(Schema.Number.pipe(Schema.filter((n) => n > 0 || "must be > 0")))
    }),
    Schema.Struct({
      kind: Schema.Literal("ratio"),
      ratio: Schema.optional(Ratio),
      minRetriesPerSecond: Schema.optional(Schema.Number.pipe(Schema.filter((n) => n >= 0 || "must be ≥ 0"))),
      window: Schema.optional(PositiveDuration)
    })
  )),
  circuitBreaker: orOff(Schema.Struct({
    trip: Schema.optional(Schema.Union(
      Schema.Struct({ kind: Schema.Literal("consecutive"), threshold: WholeNumber(1) }),
      Schema.Struct({
        kind: Schema.Literal("ratio"),
        ratio: Ratio.pipe(Schema.filter((n) => n > 0 || "must be > 0")),
        window: PositiveDuration,
        minimumThroughput: WholeNumber(1),
        buckets: Schema.optional(WholeNumber(1))
      })
    )),
    breakDuration: Schema.optional(Backoff),
    halfOpenProbes: Schema.optional(WholeNumber(1)),
    successesToClose: Schema.optional(WholeNumber(1))
  })),
  bulkhead: orOff(Schema.Struct({
    maxConcurrent: WholeNumber(1),
    maxQueue: Schema.optional(WholeNumber(0))
  })),
  rateLimiter: orOff(Schema.Struct({
    learn: Schema.optional(Schema.Boolean),
    requestsPerMinute: Schema.optional(Schema.Number.pipe(Schema.filter((n) => n > 0 || "must be > 0"))),
    tokensPerMinute: Schema.optional(Schema.Number.pipe(Schema.filter((n) => n > 0 || "must be > 0"))),
    burst: Schema.optional(Schema.Struct({
      requests: Schema.optional(WholeNumber(1)),
      tokens: Schema.optional(WholeNumber(1))
    })),
    onExceeded: Schema.optional(Schema.Literal("delay", "fail"))
  })),
  attemptTimeout: orOff(PositiveDuration),
  deadline: orOff(PositiveDuration)
})

/** A decoded configuration: durations as `Duration`s. */
export type Config = typeof Config.Type
/** A configuration as written (the schema's encoded side). */
export type ConfigInput = typeof Config.Encoded

const decodeConfig = Schema.decodeUnknownEither(Config, { errors: "all", onExcessProperty: "error" })

/** Decodes a configuration, or lists every problem with its path, e.g. `retry.maxAttempts: must be ...`. */
export const decode = (input: unknown): Either.Either<Config, InvalidPolicyError> =>
  Either.mapLeft(decodeConfig(input ?? {}), (error) =>
    new InvalidPolicyError({
      policy: "resilience",
      issues: ParseResult.ArrayFormatter.formatErrorSync(error)
        // `false | {...}` and optional fields are unions: their other branches only add noise.
        .filter((issue) => !/^Expected (false|undefined), actual/.test(issue.message))
        .map((issue) => `${issue.path.length === 0 ? "config" : issue.path.join(".")}: ${issue.message}`)
    }))
