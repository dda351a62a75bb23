/**
 * npm run bench — the federated benchmark of issue 5: FedHFT beside every baseline of @fedhft/core, on the same
 * encoder, data, partitions, budgets and seeds, through the simulator (every message encoded and measured).
 * Cells: dataset x Dirichlet alpha; in each, every strategy, FedHFT with compressed (fp16, int8) encoding, and a
 * centralized reference (one client holding the whole pool). Writes docs/bench/federated.json, SVG plots in
 * docs/bench/plots/ and the `federated` section of docs/BENCHMARKS.md.
 *
 *   npm run bench                      the suite (sized to finish in under an hour on 2 cores)
 *   npm run bench -- --quick           a few minutes: one dataset, one alpha, one seed, 2 rounds
 *   npm run bench -- --datasets sst2 --alphas 1 --strategies fedhft,fedavg-full --seeds 0
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { activateBackend, installMemoryMeter } from '@fedhft/adapters';
import { DatasetUnavailableError } from '@fedhft/adapters/node';
import { STRATEGY_NAMES } from '@fedhft/core';
import {
  environment,
  markdownTable,
  REPO_ROOT,
  writeBenchJson,
  writeBenchSection,
} from '../../../../packages/adapters/bench/lib/report';
import { parseConfig, type SimulationConfigInput } from '../simulate/config';
import { loadSource, type SourceData } from '../simulate/data';
import { loadEncoder } from '../simulate/encoders';
import { writePlots } from '../simulate/plot';
import { runSimulation, type SimulationResult } from '../simulate/run';
import type { SeedsSummary, Spread } from '../simulate/summary';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    datasets: { type: 'string' },
    alphas: { type: 'string' },
    strategies: { type: 'string' },
    seeds: { type: 'string' },
    rounds: { type: 'string' },
    clients: { type: 'string' },
    'examples-per-client': { type: 'string' },
    'data-dir': { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
  },
});

const list = (value: string | undefined) =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const numbers = (value: string | undefined) => list(value)?.map(Number);

const quick = args.quick;
const DATASETS = list(args.datasets) ?? (quick ? ['sst2'] : ['sst2', 'ag_news']);
const ALPHAS = numbers(args.alphas) ?? (quick ? [1] : [0.1, 1]);
const STRATEGIES = list(args.strategies) ?? [...STRATEGY_NAMES];
const SEEDS = numbers(args.seeds) ?? (quick ? [0] : [0, 1]);

/**
 * The shared configuration of every run. Sized for the hour on 2 cores: short sequences, one local epoch,
 * few rounds; FedHFT's reference rank 32 and alpha 32, budgets 1 / 0.5 / 0.25 in equal thirds.
 */
const BASE: SimulationConfigInput = {
  clients: Number(args.clients ?? 10),
  examplesPerClient: Number(args['examples-per-client'] ?? (quick ? 30 : 60)),
  rounds: Number(args.rounds ?? (quick ? 2 : 5)),
  participation: 1,
  localEpochs: 1,
  batchSize: 16,
  maxSeqLen: 48,
  learningRate: 0.003,
  rank: 32,
  alpha: 32,
  budgets: { levels: [1, 0.5, 0.25], proportions: [1 / 3, 1 / 3, 1 / 3] },
  testExamples: quick ? 100 : 300,
  heldOutFraction: 0.25,
  seeds: SEEDS,
  ...(args['data-dir'] ? { dataDir: args['data-dir'] } : {}),
};

/** FedHFT's options in the suite: two clusters, memberships fitted after two warm-up rounds. */
const FEDHFT_OPTIONS = { clusters: 2, strategyOptions: { warmupRounds: 2 } };

interface Variant {
  /** Row label. */
  readonly label: string;
  readonly strategy: string;
  readonly overrides: SimulationConfigInput;
  readonly kind: 'strategy' | 'compressed' | 'reference';
}

function variants(): Variant[] {
  const out: Variant[] = STRATEGIES.map((strategy) => ({
    label: strategy,
    strategy,
    kind: 'strategy' as const,
    overrides: strategy === 'fedhft' || strategy === 'heterofl' ? FEDHFT_OPTIONS : {},
  }));
  if (STRATEGIES.includes('fedhft')) {
    for (const precision of ['fp16', 'int8'] as const) {
      out.push({
        label: `fedhft ${precision}`,
        strategy: 'fedhft',
        kind: 'compressed',
        overrides: { ...FEDHFT_OPTIONS, precision },
      });
    }
  }
  // The upper reference: centralized LoRA, i.e. one client holding the whole pool (IID by construction).
  out.push({
    label: 'centralized',
    strategy: 'fedavg-lora',
    kind: 'reference',
    overrides: {
      clients: 1,
      examplesPerClient: Number(BASE.clients) * Number(BASE.examplesPerClient),
      dirichletAlpha: 'iid',
      budgets: { levels: [1] },
    },
  });
  return out;
}

interface Cell {
  readonly dataset: string;
  readonly alpha: number;
  readonly variant: Variant;
  result: SimulationResult | null;
  error?: string;
}

const cells: Cell[] = [];
for (const dataset of DATASETS)
  for (const alpha of ALPHAS)
    for (const variant of variants()) cells.push({ dataset, alpha, variant, result: null });

const backend = await activateBackend(['wasm']);
// Before the encoder loads, so client peaks include its weights.
installMemoryMeter();
const encoder = await loadEncoder('use-lite');
const sources = new Map<string, SourceData>();
const started = performance.now();
// A bar on a terminal; in logs (where cli-progress printed nothing between start and stop) one line per run.
const tty = process.stdout.isTTY;
const bar = tty
  ? new cliProgress.SingleBar(
      {
        format: 'bench [{bar}] {value}/{total} runs | {cell} | {eta_formatted} left',
        hideCursor: true,
        etaBuffer: 4,
      },
      cliProgress.Presets.shades_classic,
    )
  : {
      start: () => {},
      stop: () => {},
      update: (done: number, payload: { cell: string }) =>
        console.log(
          `bench: run ${done + 1}/${cells.length} ${payload.cell} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
        ),
    };
bar.start(cells.length, 0, { cell: '-' });
for (const [i, cell] of cells.entries()) {
  const name = `${cell.dataset} a=${cell.alpha} ${cell.variant.label}`;
  bar.update(i, { cell: name });
  const config = parseConfig({
    ...BASE,
    dataset: cell.dataset,
    dirichletAlpha: cell.alpha,
    strategy: cell.variant.strategy,
    ...cell.variant.overrides,
  });
  try {
    let source = sources.get(cell.dataset);
    if (!source) {
      source = await loadSource(config);
      sources.set(cell.dataset, source);
    }
    cell.result = await runSimulation(config, { command: `bench ${name}` }, { encoder, source });
  } catch (error) {
    if (error instanceof DatasetUnavailableError) {
      cell.error = `skipped: ${error.message}`;
    } else {
      cell.error = (error as Error).stack ?? String(error);
      console.error(`\n${name} failed: ${cell.error}`);
    }
  }
}
if (tty) bar.update(cells.length, { cell: 'done' });
bar.stop();
encoder.dispose();
const wallSeconds = (performance.now() - started) / 1000;

// ---------------------------------------------------------------------------------------------------------
// Report.

const pct = (s: Spread | null) =>
  s === null
    ? '-'
    : `${(100 * s.mean).toFixed(1)}${s.values.length > 1 ? ` ± ${(100 * s.std).toFixed(1)}` : ''}`;
const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const mib = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 2 ** 20).toFixed(1));
const ratio = (reference: number | undefined, value: number) =>
  reference === undefined || !(value > 0)
    ? '-'
    : `${(reference / value).toFixed(reference / value >= 100 ? 0 : 1)}x`;

function perClientRound(summary: SeedsSummary): number {
  return summary.uploadBytesPerClientRound.mean + summary.downloadBytesPerClientRound.mean;
}

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const sections: string[] = [];
const claims: string[] = [];
const plotsDir = path.join(REPO_ROOT, 'docs', 'bench', 'plots');
const plotFiles: string[] = [];

for (const dataset of DATASETS) {
  for (const alpha of ALPHAS) {
    const group = cells.filter((c) => c.dataset === dataset && c.alpha === alpha);
    const done = group.filter((c): c is Cell & { result: SimulationResult } => c.result !== null);
    const title = `${dataset}, Dirichlet alpha ${alpha}`;
    if (done.length === 0) {
      sections.push(`### ${title}\n\n${group[0]?.error ?? 'no results'}`);
      continue;
    }
    const full = done.find((c) => c.variant.label === 'fedavg-full')?.result.summary;
    const fullBytes = full ? perClientRound(full) : undefined;
    const fullUpload = full?.uploadBytesPerClientRound.mean;
    const fullPeak = full ? Math.max(...Object.values(full.peakBytesByBudget)) : undefined;
    const rows = done.map((c) => {
      const s = c.result.summary;
      const total = perClientRound(s);
      return [
        c.variant.label,
        pct(s.personalizedAccuracy),
        pct(s.globalBestAccuracy),
        kib(s.uploadBytesPerClientRound.mean),
        kib(s.downloadBytesPerClientRound.mean),
        ratio(fullUpload, s.uploadBytesPerClientRound.mean),
        ratio(fullBytes, total),
        ...['1', '0.5', '0.25'].map((b) => mib(s.peakBytesByBudget[b])),
        ratio(fullPeak, s.peakBytesByBudget['0.25'] ?? NaN),
        s.wallSeconds.mean.toFixed(0),
      ];
    });
    const failed = group.filter((c) => c.result === null).map((c) => `- ${c.variant.label}: ${c.error}`);
    const prefix = `federated-${dataset}-a${alpha}`;
    if (!args['no-docs']) {
      const plotted = done.filter((c) => c.variant.kind !== 'compressed');
      try {
        const written = await writePlots(
          plotted.map((c) => c.result),
          plotsDir,
          { prefix, labels: plotted.map((c) => c.variant.label) },
        );
        plotFiles.push(...written);
      } catch (error) {
        console.error(`plots for ${title} failed: ${(error as Error).message}`);
      }
    }
    sections.push(
      [
        `### ${title}`,
        markdownTable(
          [
            'run',
            'personalized acc %',
            'global acc % (best cluster)',
            'up KiB / client-round',
            'down KiB / client-round',
            'upload vs full',
            'up+down vs full',
            'peak MiB s=1',
            'peak MiB s=0.5',
            'peak MiB s=0.25',
            'memory vs full at s=0.25',
            'wall s / seed',
          ],
          rows,
        ),
        `![accuracy per round](bench/plots/${prefix}-accuracy.svg) ![bytes per round](bench/plots/${prefix}-bytes.svg)`,
        ...(failed.length ? ['Runs that did not finish:', ...failed] : []),
      ].join('\n\n'),
    );

    // Claims, stated by the numbers whatever they say.
    const byLabel = new Map(done.map((c) => [c.variant.label, c.result.summary]));
    const fedhft = byLabel.get('fedhft');
    if (fedhft && fullBytes !== undefined) {
      const fp32 = fullBytes / perClientRound(fedhft);
      claims.push(
        `- ${title}: FedHFT fp32 communicates ${fp32.toFixed(0)}x less than FedAvg full fine-tuning per client-round (target >= 136x: ${fp32 >= 136 ? 'met' : 'NOT met'}).`,
      );
      for (const precision of ['fp16', 'int8']) {
        const compressed = byLabel.get(`fedhft ${precision}`);
        if (!compressed) continue;
        const factor = fullBytes / perClientRound(compressed);
        const cost =
          fedhft.personalizedAccuracy && compressed.personalizedAccuracy
            ? 100 * (fedhft.personalizedAccuracy.mean - compressed.personalizedAccuracy.mean)
            : NaN;
        claims.push(
          `- ${title}: FedHFT ${precision}: ${factor.toFixed(0)}x less, personalized accuracy ${cost >= 0 ? `${cost.toFixed(1)} points lower` : `${(-cost).toFixed(1)} points higher`} than fp32 (target >= 400x at < 0.5 point: ${factor >= 400 && cost < 0.5 ? 'met' : 'NOT met'}).`,
        );
      }
    }
    if (fedhft?.personalizedAccuracy) {
      for (const [label, summary] of byLabel) {
        if (label.startsWith('fedhft') || !summary.personalizedAccuracy) continue;
        const diff = 100 * (fedhft.personalizedAccuracy.mean - summary.personalizedAccuracy.mean);
        if (diff <= 0) {
          claims.push(
            `- ${title}: FedHFT does NOT beat ${label} on personalized accuracy (${pct(fedhft.personalizedAccuracy)} vs ${pct(summary.personalizedAccuracy)}).`,
          );
        }
      }
    }
  }
}

const environmentInfo = environment(command, backend);
const json = {
  ...environmentInfo,
  wallSeconds,
  base: BASE,
  fedhftOptions: FEDHFT_OPTIONS,
  cells: cells.map((c) => ({
    dataset: c.dataset,
    alpha: c.alpha,
    label: c.variant.label,
    kind: c.variant.kind,
    ...(c.error ? { error: c.error } : {}),
    ...(c.result
      ? {
          config: c.result.config,
          summary: c.result.summary,
          // Per-round aggregates of every seed; per-client detail is left out to keep the file small.
          runs: c.result.runs.map((run) => ({
            seed: run.seed,
            summary: run.summary,
            rounds: run.rounds.map(({ clients: _clients, memberships: _memberships, ...round }) => round),
          })),
        }
      : {}),
  })),
};

const markdown = [
  '### Federated: FedHFT versus the baselines (`npm run bench`)',
  `Measured ${environmentInfo.date.slice(0, 10)} on ${environmentInfo.cores} cores (${environmentInfo.cpu}), backend ${backend}, USE Lite, in ${(wallSeconds / 60).toFixed(0)} minutes. Command: \`${command}\`.`,
  `Every run: ${BASE.clients} clients (all selected each round), ${BASE.examplesPerClient} examples each (a quarter held out), ${BASE.rounds} rounds of ${BASE.localEpochs} local epoch, batch ${BASE.batchSize}, ${BASE.maxSeqLen} tokens, LoRA rank ${BASE.rank} on query and value, budgets 1 / 0.5 / 0.25 in equal thirds, seeds ${SEEDS.join(', ')} (mean ± sample std). FedHFT: 2 clusters, memberships fitted after 2 warm-up rounds, pre-masks, mixture downloads.`,
  '**Personalized** accuracy: each client after its local training in the last round, on its own held-out split, weighted by size. **Global**: the best cluster model (the global model for other strategies) on the test set, never used for training or selection; local-only has none. The **centralized** reference is one client holding the whole pool (FedAvg-LoRA with one client): its personalized figure is on a held-out quarter of the pool. Bytes are the lengths of the real encoded messages; memory is the peak of tensor buffers during local training, frozen encoder included, without memory levers (see Client memory above for what levers do).',
  ...(claims.length ? ['**Claims, as measured:**', claims.join('\n')] : []),
  ...sections,
].join('\n\n');

if (!args['no-docs']) {
  const file = await writeBenchJson('federated', json);
  await writeBenchSection('federated', markdown);
  console.log(`wrote ${file}, ${plotFiles.length} plots and the federated section of docs/BENCHMARKS.md`);
}
console.log(markdown);
