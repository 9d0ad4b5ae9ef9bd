import { ProviderError } from "@effect-resilience/core"
import * as Duration from "effect/Duration"
import type * as FaultInjection from "../FaultInjection.js"

/** The provider failures the kit can produce, each as a real provider would answer it. */
export const kinds = {
  rateLimited: { transient: true, reason: "RateLimited", status: 429, message: "rate limit reached" },
  overloaded: { transient: true, reason: "Overloaded", status: 529, message: "overloaded" },
  serverError: { transient: true, reason: "ServerError", status: 500, message: "internal server error" },
  unavailable: { transient: true, reason: "Unavailable", status: 503, message: "service unavailable" },
  timeout: { transient: true, reason: "Timeout", status: 504, message: "gateway timeout" },
  network: { transient: true, reason: "Network", status: undefined, message: "connection reset" },
  unauthorized: { transient: false, reason: "Authentication", status: 401, message: "invalid API key" },
  quotaExhausted: { transient: false, reason: "QuotaExhausted", status: 429, message: "quota exhausted" },
  invalidRequest: { transient: false, reason: "InvalidRequest", status: 400, message: "invalid request" },
  contextLengthExceeded: {
    transient: false,
    reason: "ContextLengthExceeded",
    status: 400,
    message: "context length exceeded"
  }
} as const satisfies Record<
  // Exactly the kinds `FaultInjection.ErrorKind` names, no more, no fewer.
  FaultInjection.ErrorKind,
  {
    readonly transient: boolean
    readonly reason: ProviderError.TransientReason | ProviderError.PermanentReason
    readonly status: number | undefined
    readonly message: string
  }
>

/** The kinds of provider error the kit can make. */
export type Kind = keyof typeof kinds

/** Every kind, in a fixed order: random draws map onto kinds in this order, whatever the order of a config's keys. */
export const allKinds: ReadonlyArray<Kind> = Object.keys(kinds) as Array<Kind>

/** Tells whether a string names a kind of provider error. */
export const isKind = (u: unknown): u is Kind => typeof u === "string" && Object.prototype.hasOwnProperty.call(kinds, u)

/**
 * Makes the error of a kind for a provider. The message reads like the
 * provider's own, e.g. `openai: rate limit reached (injected, 429); retry after 2s`.
 */
export const make = (
  kind: Kind,
  provider: string,
  options?: {
    readonly status?: number | undefined
    readonly retryAfter?: Duration.DurationInput | undefined
    /** Replaces the kind's own description. */
    readonly message?: string | undefined
    /** Said in parentheses before the status, e.g. `"injected"`. */
    readonly note?: string | undefined
  }
): ProviderError.ProviderError => {
  const spec = kinds[kind]
  const status = options?.status ?? spec.status
  const retryAfter = options?.retryAfter === undefined ? undefined : Duration.decode(options.retryAfter)
  const details = [options?.note, status].filter((detail) => detail !== undefined)
  const message = `${provider}: ${options?.message ?? spec.message}` +
    (details.length === 0 ? "" : ` (${details.join(", ")})`) +
    (retryAfter === undefined ? "" : `; retry after ${Duration.format(retryAfter)}`)
  const fields = {
    provider,
    ...(status === undefined ? {} : { status }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
    message
  }
  return spec.transient
    ? new ProviderError.TransientError({ ...fields, reason: spec.reason })
    : new ProviderError.PermanentError({ ...fields, reason: spec.reason })
}
