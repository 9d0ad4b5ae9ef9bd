/**
 * Credentials out of errors. The provider clients of `@effect/ai` keep the request's headers in their
 * `HttpRequestError` / `HttpResponseError` (`request.headers`, and the platform error they wrap as `cause`), the
 * API key in clear (`authorization: Bearer sk-...`, `x-api-key: sk-...`); a client that fails while reading a
 * body even JSON-encodes the whole platform error, headers included, into `body`, and so into `message`. Anything
 * that logs, exports or serialises such an error leaks the key.
 *
 * `redact` gives back the same error without the credentials: every `headers` record in it has its sensitive
 * headers replaced by `"<redacted>"`, and every string in it (`body`, `description`, a cause's message) has the
 * values of those headers replaced. Everything else is kept, same classes, same fields, same references where
 * nothing had to change. It is total: it never throws, and an error without credentials comes back as it is.
 *
 * `redactingTracer` applies the same to what the spans of an inner model record (its own
 * `LanguageModel.*` span records its failure, request headers included, before the layer sees the error).
 */
import * as AiError from "@effect/ai/AiError"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"

/** What a credential is replaced with, as `@effect/platform` writes it. */
export const placeholder = "<redacted>"

/**
 * The (lower-case) header names whose values are credentials: `authorization`, `proxy-authorization`, `x-api-key`
 * (Anthropic), `api-key` (Azure OpenAI), `x-goog-api-key` (Google), `cookie` and `set-cookie`.
 */
export const sensitiveHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "cookie",
  "set-cookie"
])

/** Secrets shorter than this are not searched for in strings: they would match ordinary text. */
const minimumSecretLength = 8

/** How deep an error's causes are followed. */
const maxDepth = 8

const isObject = (u: unknown): u is object => typeof u === "object" && u !== null

/** Objects that are data of their own kind, never holding a credential in a field: not walked, not copied. */
const isOpaque = (u: object): boolean =>
  ArrayBuffer.isView(u) || u instanceof ArrayBuffer || u instanceof Date || u instanceof RegExp ||
  u instanceof Promise || u instanceof Map || u instanceof Set || u instanceof WeakMap || u instanceof WeakSet

const headerValue = (value: unknown): string | undefined =>
  typeof value === "string" ? value : Redacted.isRedacted(value) ? String(Redacted.value(value)) : undefined

/** Adds a credential's value, and the token after its scheme (`Bearer sk-...` → `sk-...`), to `secrets`. */
const addSecret = (value: unknown, secrets: Set<string>): void => {
  const text = headerValue(value)
  if (text === undefined) return
  const trimmed = text.trim()
  if (trimmed.length >= minimumSecretLength) secrets.add(trimmed)
  const space = trimmed.indexOf(" ")
  if (space > 0) {
    const token = trimmed.slice(space + 1).trim()
    if (token.length >= minimumSecretLength) secrets.add(token)
  }
}

/** The own data properties of `u`, symbols and non-enumerable ones (an Error's `cause`) included; never a getter. */
const ownData = (u: object): Array<readonly [PropertyKey, unknown]> => {
  const out: Array<readonly [PropertyKey, unknown]> = []
  for (const key of Reflect.ownKeys(u)) {
    const descriptor = Object.getOwnPropertyDescriptor(u, key)
    if (descriptor !== undefined && "value" in descriptor) out.push([key, descriptor.value])
  }
  return out
}

/** Collects the values of the sensitive headers of every `headers` record reachable from `u`. */
const collect = (u: unknown, secrets: Set<string>, seen: Set<object>, depth: number): void => {
  if (!isObject(u) || depth > maxDepth || seen.has(u) || isOpaque(u) || Redacted.isRedacted(u)) return
  seen.add(u)
  for (const [key, value] of ownData(u)) {
    if (key === "headers" && isObject(value)) {
      for (const [name, header] of ownData(value)) {
        if (typeof name === "string" && sensitiveHeaders.has(name.toLowerCase())) addSecret(header, secrets)
      }
    }
    collect(value, secrets, seen, depth + 1)
  }
  // A `cause` behind a getter or on the prototype (some Error subclasses).
  if (u instanceof Error && !Object.prototype.hasOwnProperty.call(u, "cause") && "cause" in u) {
    collect(u.cause, secrets, seen, depth + 1)
  }
}

const scrubString = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(placeholder)
  return out
}

/** A copy of `u` (same prototype, same property descriptors) with some data properties replaced. */
const cloneWith = <A extends object>(u: A, replaced: ReadonlyMap<PropertyKey, unknown>): A => {
  const copy = Object.create(Object.getPrototypeOf(u))
  for (const key of Reflect.ownKeys(u)) {
    const descriptor = Object.getOwnPropertyDescriptor(u, key)!
    if ("value" in descriptor && replaced.has(key)) descriptor.value = replaced.get(key)
    Object.defineProperty(copy, key, descriptor)
  }
  return copy
}

/**
 * Rebuilds `u` without credentials; gives `u` itself back when it holds none. `done` maps what was already
 * rebuilt to its copy, so that an object reached twice (an effect error's `cause` is also in its
 * `plainArgs`, which `toJSON` reads) gets the same copy both times.
 */
const scrub = (
  u: unknown,
  secrets: ReadonlyArray<string>,
  done: Map<object, unknown>,
  depth: number,
  key?: PropertyKey
): unknown => {
  if (typeof u === "string") return secrets.length === 0 ? u : scrubString(u, secrets)
  if (!isObject(u) || depth > maxDepth || isOpaque(u) || Redacted.isRedacted(u)) return u
  if (done.has(u)) return done.get(u)
  // A cycle back to an object being rebuilt sees it as it is.
  done.set(u, u)
  const replaced = new Map<PropertyKey, unknown>()
  for (const [name, value] of ownData(u)) {
    const next = key === "headers" && typeof name === "string" && sensitiveHeaders.has(name.toLowerCase())
      ? (value === placeholder || Redacted.isRedacted(value) ? value : placeholder)
      : scrub(value, secrets, done, depth + 1, name)
    if (next !== value) replaced.set(name, next)
  }
  const inheritedCause = u instanceof Error && !Object.prototype.hasOwnProperty.call(u, "cause") && "cause" in u
  if (inheritedCause) {
    const next = scrub(u.cause, secrets, done, depth + 1, "cause")
    if (next !== u.cause) replaced.set("cause", next)
  }
  if (replaced.size === 0) return u
  let copy: object
  if (Array.isArray(u)) {
    copy = u.map((item, index) => replaced.has(String(index)) ? replaced.get(String(index)) : item)
  } else {
    copy = cloneWith(u, replaced)
    if (inheritedCause && replaced.has("cause")) {
      Object.defineProperty(copy, "cause", { value: replaced.get("cause"), configurable: true, writable: true })
    }
  }
  done.set(u, copy)
  return copy
}

/**
 * Any value (an error, a cause, a record) without credentials: the sensitive headers of every `headers` record
 * in it replaced by `"<redacted>"`, and their values replaced in every string in it. The value itself when it
 * holds none.
 */
export const redactUnknown = (u: unknown): unknown => {
  if (!isObject(u)) return u
  const found = new Set<string>()
  collect(u, found, new Set(), 0)
  // The longest first, so that `Bearer sk-...` goes before `sk-...`.
  const secrets = Array.from(found).sort((a, b) => b.length - a.length)
  try {
    return scrub(u, secrets, new Map(), 0)
  } catch {
    return u
  }
}

/**
 * An `AiError` without credentials: the same class with the same fields, except that the sensitive headers
 * (`authorization`, `x-api-key`, `api-key`, `proxy-authorization`, `cookie`...) of its `request` (and of the
 * platform error it wraps) read `"<redacted>"`, and their values are cut out of its `body`, `description` and
 * causes. The error itself when it holds none.
 */
export const redact = <E extends AiError.AiError>(error: E): E => {
  const redacted = redactUnknown(error)
  return AiError.isAiError(redacted) && Predicate.isTagged(redacted, error._tag) ? redacted as E : error
}

// ---------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------

/** The credentials `known`, longest first (so that `Bearer sk-...` goes before `sk-...`). */
const ordered = (known: ReadonlySet<string>): ReadonlyArray<string> =>
  Array.from(known).sort((a, b) => b.length - a.length)

/** Adds to `known` the credentials held by `u`, then gives `u` back without any credential of `known`. */
const redactKnown = (u: unknown, known: Set<string>): unknown => {
  if (typeof u === "string") return known.size === 0 ? u : scrubString(u, ordered(known))
  if (!isObject(u)) return u
  try {
    collect(u, known, new Set(), 0)
    return scrub(u, ordered(known), new Map(), 0)
  } catch {
    return u
  }
}

const redactRecord = (
  record: Readonly<Record<string, unknown>>,
  known: Set<string>
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(record)) out[key] = redactKnown(value, known)
  return out
}

/** A cause without credentials: every failure and defect in it redacted, with the credentials of all of them. */
const redactCause = (cause: Cause.Cause<unknown>, known: Set<string>): Cause.Cause<unknown> => {
  for (const error of Cause.failures(cause)) collect(error, known, new Set(), 0)
  for (const defect of Cause.defects(cause)) collect(defect, known, new Set(), 0)
  if (known.size === 0) return cause
  return Cause.match(cause, {
    onEmpty: Cause.empty,
    onFail: (error) => Cause.fail(redactKnown(error, known)),
    onDie: (defect) => Cause.die(redactKnown(defect, known)),
    onInterrupt: Cause.interrupt,
    onSequential: Cause.sequential,
    onParallel: Cause.parallel
  })
}

/**
 * Takes the credentials out of what `span` is given from now on: attribute values, events, links, and the exit it
 * ends with (which an exporter turns into an exception event and a status message). The span keeps its class.
 */
const redactSpan = (span: Tracer.Span, known: Set<string>): Tracer.Span => {
  const { addLinks, attribute, end, event } = span
  span.attribute = (key, value) => attribute.call(span, key, redactKnown(value, known))
  span.event = (name, startTime, attributes) =>
    event.call(
      span,
      redactKnown(name, known) as string,
      startTime,
      attributes === undefined ? undefined : redactRecord(attributes, known)
    )
  span.addLinks = (links) => addLinks.call(span, links.map((link) => redactLink(link, known)))
  span.end = (endTime, exit) =>
    end.call(span, endTime, Exit.isFailure(exit) ? Exit.failCause(redactCause(exit.cause, known)) : exit)
  return span
}

const redactLink = (link: Tracer.SpanLink, known: Set<string>): Tracer.SpanLink => ({
  ...link,
  attributes: redactRecord(link.attributes, known)
})

/**
 * A tracer that makes its spans with `underlying` and takes the credentials out of everything they record: the
 * sensitive headers of any object given to them, and the values of those headers (`known`, shared and grown by
 * every credential seen) in any string. For the inner model's call, whose own spans see its errors before the
 * layer redacts them.
 */
export const redactingTracer = (underlying: Tracer.Tracer, known: Set<string>): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) =>
      redactSpan(
        underlying.span(
          name,
          parent,
          context,
          links.map((link) => redactLink(link, known)),
          startTime,
          kind,
          options
        ),
        known
      ),
    context: (f, fiber) => underlying.context(f, fiber)
  })

/** Adds to `known` the credentials held by `u` (an error the inner model failed with). */
export const learnSecrets = (u: unknown, known: Set<string>): void => {
  try {
    collect(u, known, new Set(), 0)
  } catch {
    // Nothing learnt.
  }
}
