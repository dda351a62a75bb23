import { markdownTable } from '../../../../packages/adapters/bench/lib/report';
import type { SimulationResult } from '../simulate/run';
import type { SeedsSummary, Spread } from '../simulate/summary';
import type { Variant } from './variants';

/** One (dataset, alpha, variant) of the suite with its seeds merged. */
export interface Cell {
  readonly dataset: string;
  readonly alpha: number;
  readonly variant: Variant;
  result: SimulationResult | null;
  error?: string;
}

type DoneCell = Cell & { result: SimulationResult };

const BUDGETS = ['1', '0.5', '0.25'];

export const pct = (s: Spread | null | undefined) =>
  !s ? '-' : `${(100 * s.mean).toFixed(1)}${s.values.length > 1 ? ` ± ${(100 * s.std).toFixed(1)}` : ''}`;
const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const mib = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 2 ** 20).toFixed(1));
const times = (factor: number) =>
  Number.isFinite(factor) && factor > 0 ? `${factor.toFixed(factor >= 100 ? 0 : 1)}x` : '-';

export function perClientRound(summary: SeedsSummary): number {
  return summary.uploadBytesPerClientRound.mean + summary.downloadBytesPerClientRound.mean;
}

/** Peak client memory of `summary` at each budget level against full fine-tuning's at the same level. */
function memoryRatios(summary: SeedsSummary, full: SeedsSummary | undefined): string {
  if (!full) return '-';
  return BUDGETS.map((b) => {
    const own = summary.peakBytesByBudget[b];
    const reference = full.peakBytesByBudget[b];
    return own && reference ? times(reference / own) : '-';
  }).join(' / ');
}

/** The table, plots line and failures of one (dataset, alpha) cell. */
export function cellSection(title: string, group: readonly Cell[], plotPrefix: string | null): string {
  const done = group.filter((c): c is DoneCell => c.result !== null && c.variant.kind !== 'memory');
  if (done.length === 0) return `### ${title}\n\n${group[0]?.error ?? 'no results'}`;
  const full = done.find((c) => c.variant.label === 'fedavg-full')?.result.summary;
  const fullBytes = full ? perClientRound(full) : NaN;
  const rows = done.map((c) => {
    const s = c.result.summary;
    return [
      c.variant.label,
      pct(s.personalizedAccuracy),
      pct(s.personalizedMacroF1),
      pct(s.globalBestAccuracy),
      kib(s.uploadBytesPerClientRound.mean),
      kib(s.downloadBytesPerClientRound.mean),
      times((full?.uploadBytesPerClientRound.mean ?? NaN) / s.uploadBytesPerClientRound.mean),
      times(fullBytes / perClientRound(s)),
      BUDGETS.map((b) => mib(s.peakBytesByBudget[b])).join(' / '),
      memoryRatios(s, full),
      s.wallSeconds.mean.toFixed(0),
    ];
  });
  const failed = group.filter((c) => c.result === null).map((c) => `- ${c.variant.label}: ${c.error}`);
  return [
    `### ${title}`,
    markdownTable(
      [
        'run',
        'personalized acc %',
        'personalized macro-F1 %',
        'global acc % (best cluster)',
        'up KiB / client-round',
        'down KiB / client-round',
        'upload vs full',
        'up+down vs full',
        'peak MiB at s = 1 / 0.5 / 0.25',
        'memory vs full at s = 1 / 0.5 / 0.25',
        'wall s / seed',
      ],
      rows,
    ),
    ...(plotPrefix
      ? [
          `![accuracy per round](bench/plots/${plotPrefix}-accuracy.svg) ![bytes per round](bench/plots/${plotPrefix}-bytes.svg)`,
        ]
      : []),
    ...(failed.length ? ['Runs that did not finish:', ...failed] : []),
  ].join('\n\n');
}

/** The memory-lever rows (one round each, same clients and levers for both strategies). */
export function memorySection(cells: readonly Cell[]): string | null {
  const rows = cells.filter((c): c is DoneCell => c.variant.kind === 'memory' && c.result !== null);
  if (rows.length === 0) return null;
  const full = rows.find((c) => c.variant.strategy === 'fedavg-full')?.result.summary;
  const first = rows[0]!;
  return [
    `### Client memory with levers (${first.dataset}, Dirichlet alpha ${first.alpha}, one round, seed ${first.result.config.seeds.join(', ')})`,
    'Every client trains with micro-batches of one example and activation checkpointing (gradients unchanged), FedHFT and full fine-tuning alike; peaks are tensor buffers during local training, the frozen encoder included.',
    markdownTable(
      ['run', 'peak MiB at s = 1 / 0.5 / 0.25', 'memory vs full at s = 1 / 0.5 / 0.25'],
      rows.map((c) => [
        c.variant.label,
        BUDGETS.map((b) => mib(c.result.summary.peakBytesByBudget[b])).join(' / '),
        memoryRatios(c.result.summary, full),
      ]),
    ),
  ].join('\n\n');
}

/** Claims of one cell, stated by the numbers whatever they say. */
export function cellClaims(title: string, group: readonly Cell[]): string[] {
  const byLabel = new Map(
    group.flatMap((c) => (c.result && c.variant.kind !== 'memory' ? [[c.variant.label, c] as const] : [])),
  );
  const summaryOf = (label: string) => byLabel.get(label)?.result?.summary;
  const full = summaryOf('fedavg-full');
  const claims: string[] = [];
  if (full) {
    const fullBytes = perClientRound(full);
    for (const [label, cell] of byLabel) {
      if (!label.startsWith('fedhft')) continue;
      const summary = cell.result!.summary;
      const factor = fullBytes / perClientRound(summary);
      if (cell.variant.kind !== 'compressed') {
        claims.push(
          `- ${title}: ${label} (fp32) communicates ${factor.toFixed(0)}x less than FedAvg full fine-tuning per client-round, up + down (target >= 136x: ${factor >= 136 ? 'met' : 'NOT met'}).`,
        );
        continue;
      }
      const sibling = summaryOf(cell.variant.sibling ?? '');
      const cost =
        sibling?.personalizedAccuracy && summary.personalizedAccuracy
          ? 100 * (sibling.personalizedAccuracy.mean - summary.personalizedAccuracy.mean)
          : NaN;
      const change = Number.isNaN(cost)
        ? 'accuracy not comparable'
        : cost >= 0
          ? `personalized accuracy ${cost.toFixed(1)} points lower`
          : `personalized accuracy ${(-cost).toFixed(1)} points higher`;
      claims.push(
        `- ${title}: ${label}: ${factor.toFixed(0)}x less, ${change} than ${cell.variant.sibling} at fp32 (target >= 400x at < 0.5 point: ${factor >= 400 && cost < 0.5 ? 'met' : 'NOT met'}).`,
      );
    }
  }
  const fedhft = summaryOf('fedhft');
  if (fedhft?.personalizedAccuracy) {
    for (const [label, cell] of byLabel) {
      const summary = cell.result!.summary;
      if (label.startsWith('fedhft') || !summary.personalizedAccuracy) continue;
      const diff = 100 * (fedhft.personalizedAccuracy.mean - summary.personalizedAccuracy.mean);
      if (diff <= 0) {
        claims.push(
          `- ${title}: FedHFT does NOT beat ${label} on personalized accuracy (${pct(fedhft.personalizedAccuracy)} vs ${pct(summary.personalizedAccuracy)}).`,
        );
      }
    }
  }
  return claims;
}
