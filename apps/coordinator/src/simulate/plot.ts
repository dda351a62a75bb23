import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SimulationResult } from './run';

/** Dependency-free SVG line charts of simulation results: accuracy and bytes per round, one line per run. */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Dashed line (e.g. the global test figure beside the personalized one). */
  readonly dashed?: boolean;
  /** Shares a colour with the series of this index (default: its own). */
  readonly colorOf?: number;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Logarithmic y axis (bytes span orders of magnitude between full fine-tuning and LoRA). */
  readonly logY?: boolean;
  readonly yFormat?: (value: number) => string;
  readonly yMin?: number;
  readonly yMax?: number;
}

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 190, top: 40, bottom: 50 };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** About five round numbers covering [min, max]. */
function niceTicks(min: number, max: number): number[] {
  if (min === max) return [min];
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function lineChart(options: ChartOptions): string {
  const { series, logY = false } = options;
  const format = options.yFormat ?? ((v: number) => String(Number(v.toPrecision(3))));
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => (logY ? Math.log10(y) : y));
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs, xMin + 1) : 1;
  let yMin = options.yMin !== undefined ? options.yMin : ys.length ? Math.min(...ys) : 0;
  let yMax = options.yMax !== undefined ? options.yMax : ys.length ? Math.max(...ys) : 1;
  if (logY) {
    yMin = Math.floor(yMin);
    yMax = Math.max(Math.ceil(yMax), yMin + 1);
  } else {
    // A little air above and below the data, unless the caller fixed the range.
    const pad = yMin === yMax ? 0.5 : 0.05 * (yMax - yMin);
    if (options.yMin === undefined) yMin -= pad;
    if (options.yMax === undefined) yMax += pad;
  }
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  const yTicks = logY
    ? Array.from({ length: yMax - yMin + 1 }, (_, i) => yMin + i)
    : niceTicks(yMin, yMax).filter((t) => t >= yMin && t <= yMax);
  for (const t of yTicks) {
    const y = sy(t);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end">${escapeXml(format(logY ? 10 ** t : t))}</text>`,
    );
  }
  const xTicks = niceTicks(xMin, xMax).filter((t) => Number.isInteger(t) && t >= xMin && t <= xMax);
  for (const t of xTicks) {
    parts.push(
      `<text x="${sx(t)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${t}</text>`,
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 4}" stroke="black"/>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="black"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[(s.colorOf ?? i) % PALETTE.length]!;
    const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
    const points = s.points.filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
    if (points.length > 0) {
      const d = points
        .map(([x, y]) => `${sx(x).toFixed(1)},${sy(logY ? Math.log10(y) : y).toFixed(1)}`)
        .join(' ');
      parts.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const [x, y] of points) {
        parts.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(logY ? Math.log10(y) : y).toFixed(1)}" r="2.5" fill="${color}"/>`,
        );
      }
    }
    const ly = MARGIN.top + 10 + i * 18;
    const lx = MARGIN.left + plotW + 12;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 28}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Mean over seeds of a per-round figure (rounds where some seed lacks it are left out). */
function meanPerRound(
  result: SimulationResult,
  pick: (round: SimulationResult['runs'][number]['rounds'][number]) => number | null | undefined,
): [number, number][] {
  const rounds = result.runs[0]?.rounds.length ?? 0;
  const points: [number, number][] = [];
  for (let r = 0; r < rounds; r++) {
    const values = result.runs.map((run) => (run.rounds[r] ? pick(run.rounds[r]!) : null));
    if (values.every((v): v is number => typeof v === 'number' && Number.isFinite(v))) {
      points.push([r + 1, values.reduce((s, v) => s + v, 0) / values.length]);
    }
  }
  return points;
}

/** Distinct legend names: the label given, else the strategy, numbered when repeated. */
function seriesNames(
  results: readonly SimulationResult[],
  labels?: readonly (string | undefined)[],
): string[] {
  const base = results.map((r, i) => labels?.[i] ?? r.config.strategy);
  return base.map((name, i) => (base.filter((n) => n === name).length > 1 ? `${name} #${i + 1}` : name));
}

/** Accuracy per round: personalized (solid) and best cluster on the global test set (dashed), mean over seeds. */
export function accuracyChart(
  results: readonly SimulationResult[],
  labels?: readonly (string | undefined)[],
): string {
  const names = seriesNames(results, labels);
  const series: Series[] = [];
  results.forEach((result, i) => {
    series.push({
      name: `${names[i]} pers.`,
      points: meanPerRound(result, (r) => r.personalized?.accuracy),
      colorOf: i,
    });
    const global = meanPerRound(result, (r) =>
      r.global && r.global.length > 0 ? Math.max(...r.global.map((g) => g.accuracy)) : null,
    );
    if (global.length > 0)
      series.push({ name: `${names[i]} global`, points: global, dashed: true, colorOf: i });
  });
  return lineChart({
    title: 'Accuracy per round (mean over seeds)',
    xLabel: 'round',
    yLabel: 'accuracy %',
    series,
    yFormat: (v) => `${(100 * v).toFixed(0)}`,
  });
}

/** Decimal units, so that the log axis's powers of ten read 1 kB, 10 kB, 100 kB, 1 MB... */
function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(3))} ${units[unit]}`;
}

/** Upload + download bytes per participating client per round, log scale, mean over seeds. */
export function bytesChart(
  results: readonly SimulationResult[],
  labels?: readonly (string | undefined)[],
): string {
  const names = seriesNames(results, labels);
  return lineChart({
    title: 'Communication per client and round (upload + download)',
    xLabel: 'round',
    yLabel: 'bytes (log scale)',
    logY: true,
    series: results.map((result, i) => ({
      name: names[i]!,
      points: meanPerRound(result, (r) => r.bytes.uploadPerClient + r.bytes.downloadPerClient),
    })),
    yFormat: humanBytes,
  });
}

/** Writes accuracy.svg and bytes.svg (prefixed) into `folder`; returns the files written. */
export async function writePlots(
  results: readonly SimulationResult[],
  folder: string,
  options: { readonly prefix?: string; readonly labels?: readonly (string | undefined)[] } = {},
): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  const prefix = options.prefix ? `${options.prefix}-` : '';
  const files = [
    [path.join(folder, `${prefix}accuracy.svg`), accuracyChart(results, options.labels)],
    [path.join(folder, `${prefix}bytes.svg`), bytesChart(results, options.labels)],
  ] as const;
  for (const [file, svg] of files) await writeFile(file, svg);
  return files.map(([file]) => file);
}
