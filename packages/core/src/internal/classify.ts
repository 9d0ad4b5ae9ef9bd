import * as Classify from "../Classify.js"

/**
 * A classifier for a policy given the user's: a value that carries its own
 * verdict (a `ProviderError`, a policy's own error) keeps it; the call's own
 * errors go to `classifyOwn` (default `Classify.standard`).
 */
export const withCarriedVerdicts = (
  classifyOwn: Classify.Classifier<unknown> = Classify.standard
): Classify.Classifier<unknown> =>
(error) => Classify.isClassifiable(error) ? Classify.providerError(error) : classifyOwn(error)
