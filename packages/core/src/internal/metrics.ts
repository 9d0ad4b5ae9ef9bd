import { globalValue } from "effect/GlobalValue"
import type * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"

// ---------------------------------------------------------------------------
// Keys with series of their own
// ---------------------------------------------------------------------------
//
// effect 3's global metric registry keeps every series it has ever been asked
// for (it has no removal), so a metric tagged with an unbounded set of keys
// (one per tenant, per user) grows the heap forever. The first `maxKeys`
// distinct keys get series of their own; every later key is counted under
// `resilience.key: "other"`. A key keeps its label for the life of the
// process, so its series never split; the set is bounded by `maxKeys`.

/** How many distinct keys get series of their own, unless set otherwise (`ResilienceMetrics.setMaxKeys`). */
export const defaultMaxKeys = 1_000

/** The `resilience.key` label of every key beyond the limit. */
export const otherKey = "other"

interface KeyLabels {
  maxKeys: number
  readonly labelled: Set<string>
}

// Process-wide, as the registry it protects is (two copies of this package share it).
const keyLabels = globalValue(
  Symbol.for("@effect-resilience/core/ResilienceMetrics/keyLabels"),
  (): KeyLabels => ({ maxKeys: defaultMaxKeys, labelled: new Set() })
)

/** The `resilience.key` label for `key`: the key itself while there is room for it, else `"other"`. */
export const keyLabel = (key: string): string => {
  if (keyLabels.labelled.has(key)) return key
  if (keyLabels.labelled.size < keyLabels.maxKeys) {
    keyLabels.labelled.add(key)
    return key
  }
  return otherKey
}

/** Implements `ResilienceMetrics.setMaxKeys`: keys labelled already keep their label. */
export const setMaxKeys = (maxKeys: number): void => {
  keyLabels.maxKeys = maxKeys
}

/** How many keys have series of their own. */
export const labelledKeys = (): number => keyLabels.labelled.size

// ---------------------------------------------------------------------------
// Bound metrics
// ---------------------------------------------------------------------------

/**
 * Label arrays made once per distinct set of labels and shared: every key beyond the limit shares the
 * arrays of `"other"`, so a key costs no label array of its own, and effect's per-metric hook cache
 * (keyed by the array) finds one hook for all of them. Bounded: the `resilience.key` values are, and
 * the other labels' values are few.
 */
const tagsCache = globalValue(
  Symbol.for("@effect-resilience/core/ResilienceMetrics/tagsCache"),
  () => new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
)

/** The label array for `labels`, its `resilience.key` through `keyLabel`. */
export const tagsOf = (labels: Readonly<Record<string, string>>): ReadonlyArray<MetricLabel.MetricLabel> => {
  // The cache's key, built without intermediate arrays: this runs for every policy a new key makes.
  let id = ""
  for (const name in labels) {
    id += `${name}\u0000${name === "resilience.key" ? keyLabel(labels[name]) : labels[name]}\u0001`
  }
  let tags = tagsCache.get(id)
  if (tags === undefined) {
    tags = Object.entries(labels).map(([name, value]) =>
      MetricLabel.make(name, name === "resilience.key" ? keyLabel(value) : value)
    )
    tagsCache.set(id, tags)
  }
  return tags
}

/** Bound update functions, one per metric and label array (both bounded), shared like the arrays. */
const boundCache = new WeakMap<object, Map<ReadonlyArray<MetricLabel.MetricLabel>, (input: any) => void>>()

const bound = <In>(
  metric: object,
  tags: ReadonlyArray<MetricLabel.MetricLabel>,
  make: () => (input: In) => void
): (input: In) => void => {
  let byTags = boundCache.get(metric)
  if (byTags === undefined) {
    byTags = new Map()
    boundCache.set(metric, byTags)
  }
  let update = byTags.get(tags)
  if (update === undefined) {
    update = make()
    byTags.set(tags, update)
  }
  return update
}

/**
 * A metric bound to fixed labels, as a plain function that updates it.
 *
 * `Metric.tagged(metric, ...)` builds a new label array on every update, which misses effect's
 * per-metric hook cache and costs a registry lookup (~2.5 µs) per update: too much for a counter
 * or gauge touched on every call. Updating the base metric with one label array made here hits
 * the cache. (Labels a caller adds with `Effect.tagMetrics` are not added to these updates.)
 * A `resilience.key` label goes through `keyLabel`, so the series stay bounded whatever the keys;
 * the function is shared by every key with the same labels (all keys beyond the limit).
 * For counters and histograms: under `"other"` they add up every key beyond the limit.
 */
export const bind = <In>(
  metric: Metric.Metric<any, In, any>,
  labels: Readonly<Record<string, string>>
): (input: In) => void => {
  const tags = tagsOf(labels)
  return bound(metric, tags, () => (input: In) => metric.unsafeUpdate(input, tags))
}

/**
 * A gauge bound to fixed labels, moved by differences (`+1`, `-1`) rather than set, so that the
 * series of `"other"` holds the sum over every key beyond the limit (a set would show whichever
 * key wrote last).
 */
export const bindGaugeDelta = (
  gauge: Metric.Metric.Gauge<number>,
  labels: Readonly<Record<string, string>>
): (delta: number) => void => {
  const tags = tagsOf(labels)
  // Its own cache entry: the same gauge and labels bound by `bind` set rather than move.
  return bound(deltaKey(gauge), tags, () => (delta: number) => gauge.unsafeModify(delta, tags))
}

const deltaKeys = new WeakMap<object, object>()
const deltaKey = (gauge: object): object => {
  let key = deltaKeys.get(gauge)
  if (key === undefined) {
    key = {}
    deltaKeys.set(gauge, key)
  }
  return key
}

const ignore = (_: number): void => {}

/**
 * A gauge that holds a state of one key (a breaker's state, a budget's level), bound to fixed labels:
 * set, and only for a key with series of its own. Under `"other"` it would show whichever key wrote
 * last, which tells nothing, so those keys leave it alone.
 */
export const bindKeyGauge = (
  gauge: Metric.Metric.Gauge<number>,
  labels: Readonly<Record<string, string>>
): (value: number) => void => {
  const tags = tagsOf(labels)
  return tags.some((tag) => tag.key === "resilience.key" && tag.value === otherKey)
    ? ignore
    : bound(gauge, tags, () => (value: number) => gauge.unsafeUpdate(value, tags))
}
