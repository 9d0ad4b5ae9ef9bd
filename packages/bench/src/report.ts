/**
 * Turns tinybench's results into the printed report: a table of per-call
 * costs with ratios, then one summary line per variant of ours.
 *
 * @since 0.1.0
 */
import type { Task } from "tinybench"
import { baselines, batchSize, type Variant } from "./variants.js"

/** One row of the report, in nanoseconds per call. */
export interface Row {
  readonly variant: Variant
  readonly nsPerCall: number
  /** The median sample's time per call: less moved than the mean by a collection or a busy machine. */
  readonly p50NsPerCall: number
  /** Relative margin of error of the mean, in percent (95 % confidence). */
  readonly rme: number
  /** Measured iterations, each of `batchSize` calls. */
  readonly samples: number
}

/** One report row from a finished tinybench task, in nanoseconds per call. */
export const toRow = (variant: Variant, task: Task): Row => {
  const result = task.result
  if (result.state !== "completed") {
    throw new Error(`benchmark "${variant.name}" did not complete: ${result.state}`, {
      cause: result.state === "errored" ? result.error : undefined
    })
  }
  return {
    variant,
    nsPerCall: (result.latency.mean * 1e6) / batchSize,
    p50NsPerCall: (result.latency.p50 * 1e6) / batchSize,
    rme: result.latency.rme,
    samples: result.latency.samplesCount
  }
}

const ratio = (value: number, base: number): string => `${(value / base).toFixed(2)}×`

const pad = (text: string, width: number, align: "left" | "right"): string =>
  align === "left" ? text.padEnd(width) : text.padStart(width)

interface Column {
  readonly title: string
  readonly align: "left" | "right"
  readonly cell: (row: Row) => string
}

const find = (rows: ReadonlyArray<Row>, name: string): Row => {
  const row = rows.find((r) => r.variant.name === name)
  if (row === undefined) throw new Error(`no benchmark named "${name}"`)
  return row
}

/** The table, one line per row, columns sized to their widest cell. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const bareEffect = find(rows, baselines.effect)
  const cockatiel = find(rows, baselines.cockatiel)
  const columns: ReadonlyArray<Column> = [
    { title: "name", align: "left", cell: (row) => row.variant.name },
    { title: "ns/call", align: "right", cell: (row) => row.nsPerCall.toFixed(1) },
    { title: "±rme", align: "right", cell: (row) => `±${row.rme.toFixed(2)}%` },
    { title: "samples", align: "right", cell: (row) => String(row.samples) },
    {
      title: "vs bare effect",
      align: "right",
      cell: (row) => row.variant.family === "effect" ? ratio(row.nsPerCall, bareEffect.nsPerCall) : "—"
    },
    { title: "vs cockatiel retry", align: "right", cell: (row) => ratio(row.nsPerCall, cockatiel.nsPerCall) }
  ]
  return render(columns, rows)
}

/** Renders rows under columns, each column sized to its widest cell. */
const render = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<Row>): string => {
  const cells = [columns.map((c) => c.title), ...rows.map((row) => columns.map((c) => c.cell(row)))]
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => pad(cell, widths[i], columns[i].align)).join("  ").trimEnd()
  const rule = "-".repeat(widths.reduce((sum, w) => sum + w, 2 * (widths.length - 1)))
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n")
}

/**
 * A table of rows in groups, each row compared with its group's bare row
 * (`comparedWith`): the ratio of the means and of the medians, and the
 * microseconds (of the mean) it adds per call.
 */
export const groupTable = (rows: ReadonlyArray<Row>): string => {
  const bare = (row: Row): Row => row.variant.comparedWith === undefined ? row : find(rows, row.variant.comparedWith)
  const columns: ReadonlyArray<Column> = [
    { title: "name", align: "left", cell: (row) => row.variant.name },
    { title: "ns/call", align: "right", cell: (row) => row.nsPerCall.toFixed(1) },
    { title: "±rme", align: "right", cell: (row) => `±${row.rme.toFixed(2)}%` },
    { title: "samples", align: "right", cell: (row) => String(row.samples) },
    { title: "vs bare", align: "right", cell: (row) => ratio(row.nsPerCall, bare(row).nsPerCall) },
    { title: "p50 ns/call", align: "right", cell: (row) => row.p50NsPerCall.toFixed(1) },
    { title: "p50 vs bare", align: "right", cell: (row) => ratio(row.p50NsPerCall, bare(row).p50NsPerCall) },
    {
      title: "µs/call over bare",
      align: "right",
      cell: (row) => {
        const micros = (row.nsPerCall - bare(row).nsPerCall) / 1000
        return `${micros < 0 ? "-" : "+"}${Math.abs(micros).toFixed(3)}`
      }
    }
  ]
  return render(columns, rows)
}

/** One line per variant of ours: what it adds to a call, and how it compares with cockatiel. */
export const summary = (rows: ReadonlyArray<Row>): string => {
  const bareEffect = find(rows, baselines.effect)
  const cockatiel = find(rows, baselines.cockatiel)
  const width = Math.max(...rows.filter((row) => row.variant.ours).map((row) => row.variant.name.length))
  return rows
    .filter((row) => row.variant.ours)
    .map((row) => {
      const overheadMicros = (row.nsPerCall - bareEffect.nsPerCall) / 1000
      const sign = overheadMicros < 0 ? "-" : "+"
      const against = row.variant.comparedWith === undefined ? cockatiel : find(rows, row.variant.comparedWith)
      return `${`${row.variant.name} overhead:`.padEnd(width + 10)} ${sign}${
        Math.abs(overheadMicros).toFixed(3)
      } µs/call over bare effect; ${ratio(row.nsPerCall, against.nsPerCall)} ${against.variant.name}`
    })
    .join("\n")
}
