import type { RunResult, SimulationResult } from './run';
import type { Spread } from './summary';

/** Plain-text tables of a simulation, for the terminal. */

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const pct = (value: number | undefined | null) =>
  typeof value === 'number' ? `${(100 * value).toFixed(1)}` : '-';
const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const mib = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 2 ** 20).toFixed(1));

function budgetsOf(result: SimulationResult): string[] {
  return [...result.config.budgets.levels].sort((a, b) => b - a).map(String);
}

/** One row per round of one seed. */
export function roundsTable(result: SimulationResult, run: RunResult): string {
  const budgets = budgetsOf(result);
  const header = [
    'round',
    'trained',
    'pers. acc %',
    'pers. F1 %',
    'global mean %',
    'global best %',
    'up KiB/client',
    'down KiB/client',
    ...budgets.map((b) => `peak MiB s=${b}`),
    'wall s',
  ];
  const rows = run.rounds.map((r) => {
    const accuracies = r.global?.map((g) => g.accuracy) ?? [];
    return [
      String(r.round),
      String(r.clients.length),
      pct(r.personalized?.accuracy),
      pct(r.personalized?.macroF1),
      accuracies.length ? pct(accuracies.reduce((s, a) => s + a, 0) / accuracies.length) : '-',
      accuracies.length ? pct(Math.max(...accuracies)) : '-',
      kib(r.bytes.uploadPerClient),
      kib(r.bytes.downloadPerClient),
      ...budgets.map((b) => mib(r.peakBytesByBudget[b])),
      r.wallSeconds.toFixed(1),
    ];
  });
  return table(header, rows);
}

const spreadText = (s: Spread | null, format: (v: number) => string) =>
  s === null ? '-' : s.values.length > 1 ? `${format(s.mean)} ± ${format(s.std)}` : format(s.mean);

/** The run's headline figures over seeds (mean ± sample std when there are several). */
export function summaryTable(result: SimulationResult): string {
  const s = result.summary;
  const rows: string[][] = [
    ['strategy', result.config.strategy],
    ['dataset', `${result.config.dataset} (${result.runs[0]?.data.labelNames.length ?? '?'} classes)`],
    ['seeds', result.config.seeds.join(', ')],
    ['personalized accuracy % (last round)', spreadText(s.personalizedAccuracy, pct)],
    ['personalized macro-F1 % (last round)', spreadText(s.personalizedMacroF1, pct)],
    ['global test accuracy %, mean of clusters', spreadText(s.globalMeanAccuracy, pct)],
    ['global test accuracy %, best cluster', spreadText(s.globalBestAccuracy, pct)],
    ['upload KiB per client-round', spreadText(s.uploadBytesPerClientRound, kib)],
    ['download KiB per client-round', spreadText(s.downloadBytesPerClientRound, kib)],
    ...budgetsOf(result).map((b) => [
      `peak client MiB at budget ${b} (training part)`,
      s.peakBytesByBudget[b] === undefined
        ? '-'
        : `${mib(s.peakBytesByBudget[b])} (${mib(s.trainingBytesByBudget[b])})`,
    ]),
    ['wall seconds per run', spreadText(s.wallSeconds, (v) => v.toFixed(1))],
  ];
  return table(['figure', 'value'], rows);
}

export function fullReport(result: SimulationResult): string {
  const parts = result.runs.map((run) => `seed ${run.seed}\n${roundsTable(result, run)}`);
  return [...parts, summaryTable(result)].join('\n\n');
}
