import type { SimulationConfigInput } from '../simulate/config';

/** One row of a benchmark cell: a strategy with its settings. */
export interface Variant {
  /** Row label. */
  readonly label: string;
  readonly strategy: string;
  readonly overrides: SimulationConfigInput;
  /**
   * strategy: a strategy at the suite's settings; compressed: FedHFT at a lower wire precision (compared with
   * `sibling`); rank: FedHFT at another LoRA rank; reference: centralized training; memory: one round with
   * memory levers, for the memory table only; ablation: FedHFT with one design choice changed.
   */
  readonly kind: 'strategy' | 'compressed' | 'rank' | 'reference' | 'memory' | 'ablation';
  /** For compressed rows: the fp32 row they are compared with. */
  readonly sibling?: string;
}

export interface VariantChoices {
  readonly strategies: readonly string[];
  /** Compressed wire precisions run for FedHFT (at every rank). */
  readonly precisions: readonly ('fp16' | 'int8')[];
  /** Extra LoRA ranks run for FedHFT (alpha = rank keeps the update scale alpha / r at 1, as at rank 32). */
  readonly ranks: readonly number[];
  /** Clients and examples of the suite, for the centralized reference's pool. */
  readonly clients: number;
  readonly examplesPerClient: number;
  /** Add the memory-lever rows (run once, in the first cell). */
  readonly memory: boolean;
}

/** FedHFT's options in the suite: two clusters, memberships fitted after two warm-up rounds. */
export const FEDHFT_OPTIONS = { clusters: 2, strategyOptions: { warmupRounds: 2 } } as const;

/**
 * Every device trains with micro-batches of one example and activation checkpointing (the same gradients, see
 * bench:memory); applied alike to FedHFT and full fine-tuning so the memory ratio compares like with like.
 */
const MEMORY_LEVERS = { microBatchSize: 1, checkpoint: true, rounds: 1 } as const;

/**
 * Full fine-tuning's learning rate, fixed a priori (no test set was looked at): LoRA's 3e-3 (chosen on
 * validation data by bench:learn) moves every encoder weight far too fast; full fine-tuning of transformer
 * encoders is usually run about 10-30x lower. The first suite run used 3e-3 for everyone and full fine-tuning
 * collapsed to chance on AG News.
 */
export const FULL_FINE_TUNING_LR = 1e-4;

/** Settings a strategy needs beyond the suite's (clusters for the clustered ones, its learning rate). */
function strategyOverrides(strategy: string): SimulationConfigInput {
  if (strategy === 'fedhft' || strategy === 'heterofl') return FEDHFT_OPTIONS;
  if (strategy === 'fedavg-full') return { learningRate: FULL_FINE_TUNING_LR };
  return {};
}

export function variants(choices: VariantChoices, firstCell: boolean): Variant[] {
  const out: Variant[] = choices.strategies.map((strategy) => ({
    label: strategy,
    strategy,
    kind: 'strategy' as const,
    overrides: strategyOverrides(strategy),
  }));
  if (!choices.strategies.includes('fedhft')) return out;
  const fedhftAt = (rank: number | undefined) => {
    const suffix = rank === undefined ? '' : ` r${rank}`;
    const rankOverrides = rank === undefined ? {} : { rank, alpha: rank };
    const rows: Variant[] = [];
    if (rank !== undefined) {
      rows.push({
        label: `fedhft${suffix}`,
        strategy: 'fedhft',
        kind: 'rank',
        overrides: { ...FEDHFT_OPTIONS, ...rankOverrides },
      });
    }
    for (const precision of choices.precisions) {
      rows.push({
        label: `fedhft${suffix} ${precision}`,
        strategy: 'fedhft',
        kind: 'compressed',
        sibling: `fedhft${suffix}`,
        overrides: { ...FEDHFT_OPTIONS, ...rankOverrides, precision },
      });
    }
    return rows;
  };
  out.push(...fedhftAt(undefined));
  for (const rank of choices.ranks) out.push(...fedhftAt(rank));
  // The upper reference: centralized LoRA, i.e. one client holding the whole pool (IID by construction).
  out.push({
    label: 'centralized',
    strategy: 'fedavg-lora',
    kind: 'reference',
    overrides: {
      clients: 1,
      examplesPerClient: choices.clients * choices.examplesPerClient,
      dirichletAlpha: 'iid',
      budgets: { levels: [1] },
    },
  });
  if (choices.memory && firstCell && choices.strategies.includes('fedavg-full')) {
    out.push(
      {
        label: 'fedhft + levers',
        strategy: 'fedhft',
        kind: 'memory',
        overrides: { ...FEDHFT_OPTIONS, ...MEMORY_LEVERS },
      },
      {
        label: 'fedavg-full + levers',
        strategy: 'fedavg-full',
        kind: 'memory',
        overrides: { ...strategyOverrides('fedavg-full'), ...MEMORY_LEVERS },
      },
    );
  }
  return out;
}

/**
 * FedHFT's ablations (FEDHFT.md): each row changes one choice of the reference FedHFT row, everything else
 * (data, budgets, seeds, rank) equal. `downloadRank` doubles the download's rank to test how much the rank-r
 * truncation of the mixture costs.
 */
export function ablationVariants(rank: number): Variant[] {
  const row = (
    label: string,
    strategyOptions: Record<string, unknown>,
    extra: SimulationConfigInput = {},
  ) => ({
    label,
    strategy: 'fedhft',
    kind: 'ablation' as const,
    overrides: {
      ...FEDHFT_OPTIONS,
      ...extra,
      strategyOptions: { ...FEDHFT_OPTIONS.strategyOptions, ...strategyOptions },
    },
  });
  return [
    { label: 'fedhft', strategy: 'fedhft', kind: 'strategy', overrides: FEDHFT_OPTIONS },
    row('K_c = 1', {}, { clusters: 1 }),
    row('post masks', { maskTiming: 'post' }),
    row('count normaliser', { normalizer: 'count' }),
    row('exact download', { download: 'exact' }),
    row(`download rank ${2 * rank}`, { downloadRank: 2 * rank }),
    row('adapter features', { featureSource: 'adapters' }),
  ];
}
