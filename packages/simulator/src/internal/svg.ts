// Hand-written SVG line charts for the simulator's reports: no dependency, and byte-stable output (fixed
// palette, fixed layout, numbers rounded to one decimal, no timestamps), so the same seed gives the same file.

/** One line of a chart: a name for the legend and its points `[x, y]` in data units, in x order. */
export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number]>
  /** Continue the last point's value to the right edge of the plot (a CDF that has reached its final share). */
  readonly extend?: boolean | undefined
}

/** One plot area of a chart, with its own title; every panel of a chart shares the axes' scales unless told not to. */
export interface Panel {
  readonly title: string
  readonly series: ReadonlyArray<Series>
}

/** A chart: a title, axis labels and one or more panels stacked vertically. */
export interface Chart {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly panels: ReadonlyArray<Panel>
  /** Draw lines as steps (for counts per bucket). Default `false`. */
  readonly step?: boolean | undefined
  /** Fix the y range's top (e.g. 1 for a CDF); otherwise the data's maximum, rounded up to a tick. */
  readonly yMax?: number | undefined
  /** Give each panel its own y range (its own maximum), so that a quiet panel is readable next to a busy one. */
  readonly independentY?: boolean | undefined
  /** Give each panel its own x range, so that a 2-second retry storm is not one bar beside a 200-second run. */
  readonly independentX?: boolean | undefined
  /**
   * Give each series its own dash pattern as well as its own colour (`dashes`), so that two identical series
   * (two policies that behaved the same) do not hide each other.
   */
  readonly dashed?: boolean | undefined
}

/** The colours series get, in order (colour-blind-safe Okabe–Ito palette). */
export const palette: ReadonlyArray<string> = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#F0E442"
]

/** The dash patterns series get, in order, when a chart is `dashed` (the first is solid). */
export const dashes: ReadonlyArray<string> = ["", "8 4", "2 3", "12 3 3 3", "4 4", "1 5", "16 4", "6 2 2 2 2 2"]

/** The stroke widths series get, in order, when a chart is `dashed`: an earlier series is drawn wider, below. */
const widths: ReadonlyArray<number> = [3.5, 2.5, 2, 2, 1.5, 1.5, 1.5, 1.5]

const WIDTH = 800
const LEFT = 64
const RIGHT = 240
const TOP = 40
const PANEL_HEIGHT = 170
const PANEL_GAP = 46
const BOTTOM = 44

/** A number as SVG text: one decimal at most, no `-0`, no exponent. */
export const num = (n: number): string => {
  const rounded = Math.round(n * 10) / 10
  return Object.is(rounded, -0) || rounded === 0 ? "0" : String(rounded)
}

/** Escapes text for SVG content and attribute values. */
export const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about `count` ticks over `range`. */
export const niceStep = (range: number, count = 5): number => {
  if (!(range > 0) || !Number.isFinite(range)) return 1
  const raw = range / count
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)))
  const residual = raw / magnitude
  return (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude
}

const label = (value: number, step: number): string => {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)))
  const text = value.toFixed(decimals)
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text
}

const ticks = (max: number, step: number): Array<number> => {
  const result: Array<number> = []
  for (let i = 0; i * step <= max + step * 1e-9; i++) result.push(i * step)
  return result
}

/** Renders a chart as a standalone SVG document. */
export const lineChart = (chart: Chart): string => {
  const all = chart.panels.flatMap((panel) => panel.series.flatMap((series) => series.points))
  const xRange = (points: ReadonlyArray<readonly [number, number]>) => {
    const dataXMax = points.reduce((max, [x]) => Math.max(max, x), 0)
    const xStep = niceStep(dataXMax)
    return { xStep, xMax: Math.max(xStep, Math.ceil(dataXMax / xStep - 1e-9) * xStep) }
  }
  const sharedX = xRange(all)
  const yRange = (points: ReadonlyArray<readonly [number, number]>) => {
    const dataYMax = points.reduce((max, [, y]) => Math.max(max, y), 0)
    const yStep = niceStep(chart.yMax ?? dataYMax, 4)
    return { yStep, yMax: chart.yMax ?? Math.max(yStep, Math.ceil(dataYMax / yStep - 1e-9) * yStep) }
  }
  const shared = yRange(all)
  const plotWidth = WIDTH - LEFT - RIGHT
  // A title too long for one line breaks after its first ": " (the scenario, then what the chart shows).
  const split = chart.title.indexOf(": ")
  const titleLines = chart.title.length > 90 && split > 0
    ? [chart.title.slice(0, split + 1), chart.title.slice(split + 2)]
    : [chart.title]
  const firstTop = TOP + (titleLines.length - 1) * 26
  const height = firstTop + chart.panels.length * (PANEL_HEIGHT + PANEL_GAP) - PANEL_GAP + BOTTOM
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="system-ui, sans-serif" font-size="11">`
  )
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`)
  titleLines.forEach((line, i) =>
    out.push(`<text x="${LEFT}" y="${20 + i * 18}" font-size="14" font-weight="bold">${escape(line)}</text>`)
  )
  chart.panels.forEach((panel, p) => {
    const top = firstTop + p * (PANEL_HEIGHT + PANEL_GAP)
    const { yMax, yStep } = chart.independentY === true
      ? yRange(panel.series.flatMap((series) => series.points))
      : shared
    const { xMax, xStep } = chart.independentX === true
      ? xRange(panel.series.flatMap((series) => series.points))
      : sharedX
    const sx = (x: number) => LEFT + (x / xMax) * plotWidth
    const sy = (y: number) => top + PANEL_HEIGHT - (Math.min(y, yMax) / yMax) * PANEL_HEIGHT
    out.push(`<g class="panel" data-panel="${escape(panel.title)}">`)
    out.push(`<text x="${LEFT}" y="${num(top - 8)}" font-weight="bold">${escape(panel.title)}</text>`)
    for (const y of ticks(yMax, yStep)) {
      out.push(
        `<line x1="${LEFT}" y1="${num(sy(y))}" x2="${LEFT + plotWidth}" y2="${num(sy(y))}" stroke="#e5e5e5"/>` +
          `<text x="${LEFT - 6}" y="${num(sy(y) + 4)}" text-anchor="end">${label(y, yStep)}</text>`
      )
    }
    for (const x of ticks(xMax, xStep)) {
      out.push(
        `<line x1="${num(sx(x))}" y1="${top + PANEL_HEIGHT}" x2="${num(sx(x))}" y2="${top + PANEL_HEIGHT + 4}" ` +
          `stroke="#333333"/>` +
          `<text x="${num(sx(x))}" y="${top + PANEL_HEIGHT + 16}" text-anchor="middle">${label(x, xStep)}</text>`
      )
    }
    out.push(
      `<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#333333"/>`
    )
    out.push(
      `<text transform="translate(16 ${num(top + PANEL_HEIGHT / 2)}) rotate(-90)" text-anchor="middle">` +
        `${escape(chart.yLabel)}</text>`
    )
    panel.series.forEach((series, s) => {
      const colour = palette[s % palette.length]!
      const dash = chart.dashed === true ? dashes[s % dashes.length]! : ""
      const width = chart.dashed === true ? widths[s % widths.length]! : 1.5
      const style = `stroke="${colour}"${dash === "" ? "" : ` stroke-dasharray="${dash}"`}`
      const coordinates: Array<string> = []
      series.points.forEach(([x, y], i) => {
        if (chart.step === true && i > 0) coordinates.push(`${num(sx(x))},${num(sy(series.points[i - 1]![1]))}`)
        coordinates.push(`${num(sx(x))},${num(sy(y))}`)
      })
      const last = series.points.at(-1)
      if (series.extend === true && last !== undefined && last[0] < xMax) {
        coordinates.push(`${num(sx(xMax))},${num(sy(last[1]))}`)
      }
      out.push(
        `<polyline class="series" data-series="${escape(series.name)}" fill="none" ${style} ` +
          `stroke-width="${width}" points="${coordinates.join(" ")}"/>`
      )
      const legendY = top + 12 + s * 16
      out.push(
        `<line x1="${LEFT + plotWidth + 12}" y1="${legendY - 4}" x2="${LEFT + plotWidth + 40}" y2="${legendY - 4}" ` +
          `${style} stroke-width="${chart.dashed === true ? 2.5 : 3}"/>` +
          `<text x="${LEFT + plotWidth + 46}" y="${legendY}">${escape(series.name)}</text>`
      )
    })
    out.push(`</g>`)
  })
  out.push(
    `<text x="${num(LEFT + plotWidth / 2)}" y="${height - 8}" text-anchor="middle">${escape(chart.xLabel)}</text>`
  )
  out.push(`</svg>`)
  return out.join("\n") + "\n"
}
