// What the simulator's and the contention experiment's charts share: cutting a run into time buckets, counting
// events per bucket, and sampling an empirical CDF. Each chart picks its units (seconds or milliseconds, a rate per
// second or a count per bucket); the arithmetic is written so that either choice gives the same bytes it always did.
import * as Svg from "./svg.js"

/** The unit of a chart's time axis: seconds or milliseconds (the data is always in milliseconds). */
export type TimeUnit = "s" | "ms"

const millisPer: Record<TimeUnit, number> = { s: 1000, ms: 1 }

/** How `[0, end]` (ms) is cut into equal buckets: the bucket width (ms) and the number of buckets. */
export interface Buckets {
  readonly width: number
  readonly count: number
}

/** A bucket width (ms) that cuts `[0, end]` into about 60 buckets, at a round number of seconds or millis. */
export const bucketWidth = (end: number): number => Math.max(1, Svg.niceStep(end, 60))

/** About 60 buckets of a round width (see `bucketWidth`) covering `[0, end]` (ms), at least one. */
export const buckets = (end: number): Buckets => {
  const width = bucketWidth(end)
  return { width, count: Math.max(1, Math.ceil(end / width)) }
}

/** The nearest-rank value at quantile `p` of an ascending array (`NaN` when it is empty). */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1))]!

/**
 * Events per bucket as a step series `[bucket start, value]`, closed by a point at the last bucket's end; an event
 * after the last bucket counts in it. `y: "perSecond"` gives the rate per second, `"perBucket"` the count.
 */
export const rateSeries = (
  name: string,
  times: Iterable<number>,
  buckets: Buckets,
  options: { readonly unit: TimeUnit; readonly y: "perSecond" | "perBucket" }
): Svg.Series => {
  const { count, width } = buckets
  const counts = new Array<number>(count).fill(0)
  for (const t of times) counts[Math.min(count - 1, Math.floor(t / width))]!++
  const per = millisPer[options.unit]
  const value = options.y === "perSecond" ? (c: number) => c * 1000 / width : (c: number) => c
  const points: Array<readonly [number, number]> = counts.map((c, i) => [i * width / per, value(c)])
  points.push([count * width / per, value(counts[count - 1] ?? 0)])
  return { name, points }
}

/**
 * The empirical CDF of ascending durations (ms) as a step series `[duration, share]`, sampled at `quantiles`
 * evenly spaced quantiles after a first point at `[minimum, 0]`; empty for no data. With `total`, shares are of
 * `total` rather than of the data (the share of all requests that succeeded by then, when the data are the
 * successes), and the line is continued to the right edge at its final share.
 */
export const cdfSeries = (
  name: string,
  sorted: ReadonlyArray<number>,
  options: { readonly unit: TimeUnit; readonly quantiles: number; readonly total?: number | undefined }
): Svg.Series => {
  const points: Array<readonly [number, number]> = []
  if (sorted.length === 0) return { name, points }
  const per = millisPer[options.unit]
  const q = options.quantiles
  const scale = options.total === undefined ? 1 : sorted.length / options.total
  points.push([sorted[0]! / per, 0])
  for (let k = 1; k <= q; k++) points.push([percentile(sorted, k / q) / per, (k / q) * scale])
  return options.total === undefined ? { name, points } : { name, points, extend: true }
}
