/**
 * npm run bench — the federated benchmark of issue 5: FedHFT beside every baseline of @fedhft/core, on the same
 * encoder, data, partitions, budgets and seeds, through the simulator (every message encoded and measured).
 * Cells: dataset x Dirichlet alpha; in each, every strategy, FedHFT with compressed encoding and at a lower rank,
 * and a centralized reference (one client holding the whole pool); once, both FedHFT and full fine-tuning with
 * memory levers. Runs (one per cell and seed) go to one worker process per core. Writes
 * docs/bench/federated.json, SVG plots in docs/bench/plots/ and the `federated` section of docs/BENCHMARKS.md.
 *
 *   npm run bench                      the suite (sized to finish in under an hour on 2 cores)
 *   npm run bench -- --quick           a few minutes: one dataset, one alpha, one seed, 2 rounds
 *   npm run bench -- --datasets sst2 --alphas 1 --strategies fedhft,fedavg-full --seeds 0 --jobs 1
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { STRATEGY_NAMES } from '@fedhft/core';
import {
  environment,
  REPO_ROOT,
  writeBenchJson,
  writeBenchSection,
} from '../../../../packages/adapters/bench/lib/report';
import { parseConfig, type SimulationConfigInput } from '../simulate/config';
import { writePlots } from '../simulate/plot';
import type { SimulationResult } from '../simulate/run';
import { summarizeRuns } from '../simulate/summary';
import { runOnWorkers, type PoolTask } from './pool';
import { cellClaims, cellSection, memorySection, type Cell } from './report';
import type { CellOutcome } from './run-cell';
import { ablationVariants, FEDHFT_OPTIONS, FULL_FINE_TUNING_LR, variants } from './variants';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    suite: { type: 'string', default: 'main' },
    datasets: { type: 'string' },
    alphas: { type: 'string' },
    strategies: { type: 'string' },
    seeds: { type: 'string' },
    rounds: { type: 'string' },
    clients: { type: 'string' },
    'examples-per-client': { type: 'string' },
    precisions: { type: 'string' },
    ranks: { type: 'string' },
    'no-memory': { type: 'boolean', default: false },
    jobs: { type: 'string' },
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
if (args.suite !== 'main' && args.suite !== 'ablations') {
  throw new Error(`--suite: "${args.suite}" is neither main nor ablations`);
}
/** The ablation suite: FedHFT's design choices one at a time, on the harder (alpha 0.1) cells. */
const ablations = args.suite === 'ablations';
const NAME = ablations ? 'federated-ablations' : 'federated';
const DATASETS = list(args.datasets) ?? (quick ? ['sst2'] : ['sst2', 'ag_news']);
const ALPHAS = numbers(args.alphas) ?? (quick ? [1] : ablations ? [0.1] : [0.1, 1]);
const STRATEGIES = list(args.strategies) ?? [...STRATEGY_NAMES];
const SEEDS = numbers(args.seeds) ?? (quick ? [0] : [0, 1]);
const PRECISIONS = (list(args.precisions) ?? ['int8']) as ('fp16' | 'int8')[];
const RANKS = numbers(args.ranks) ?? (quick ? [] : [16]);
const JOBS = Math.max(1, Number(args.jobs ?? os.cpus().length));
for (const precision of PRECISIONS) {
  if (precision !== 'fp16' && precision !== 'int8') throw new Error(`--precisions: unknown "${precision}"`);
}

/**
 * The shared configuration of every run, sized for the hour on 2 cores: 32 tokens (SST-2 sentences fit;
 * AG News keeps its title and first sentence), one local epoch of batch 16, 4 rounds; FedHFT's reference rank 32
 * and alpha 32, budgets 1 / 0.5 / 0.25 in equal thirds. A large held-out share keeps the personalized figure
 * from resting on a handful of examples per client.
 */
const BASE: SimulationConfigInput = {
  clients: Number(args.clients ?? 10),
  examplesPerClient: Number(args['examples-per-client'] ?? (quick ? 30 : 36)),
  rounds: Number(args.rounds ?? (quick ? 2 : 4)),
  participation: 1,
  localEpochs: 1,
  batchSize: 16,
  maxSeqLen: 32,
  learningRate: 0.003,
  rank: 32,
  alpha: 32,
  budgets: { levels: [1, 0.5, 0.25], proportions: [1 / 3, 1 / 3, 1 / 3] },
  testExamples: quick ? 100 : 300,
  heldOutFraction: 0.4,
  // Global test accuracy after the last round only: evaluating every cluster every round would cost as much
  // as a third of the training. Personalized accuracy comes every round for free.
  evalEvery: 1000,
  ...(args['data-dir'] ? { dataDir: args['data-dir'] } : {}),
};

const choices = {
  strategies: STRATEGIES,
  precisions: PRECISIONS,
  ranks: RANKS,
  clients: Number(BASE.clients),
  examplesPerClient: Number(BASE.examplesPerClient),
  memory: !args['no-memory'],
};

const cells: Cell[] = [];
for (const [d, dataset] of DATASETS.entries())
  for (const [a, alpha] of ALPHAS.entries())
    for (const variant of ablations
      ? ablationVariants(Number(BASE.rank))
      : variants(choices, d === 0 && a === 0))
      cells.push({ dataset, alpha, variant, result: null });

// One task per cell and seed; most expensive first so the last tasks are short (workers take the next in line).
const cost = (cell: Cell) =>
  (cell.dataset === 'ag_news' || cell.dataset === '20newsgroups' ? 2 : 1) *
  (cell.variant.strategy === 'fedavg-full' ? 1.6 : 1) *
  (cell.variant.kind === 'memory' ? 2 : 1);
const tasks: (PoolTask & { cell: number })[] = [];
for (const [index, cell] of cells.entries()) {
  const seeds = cell.variant.kind === 'memory' ? SEEDS.slice(0, 1) : SEEDS;
  for (const seed of seeds) {
    tasks.push({
      index: tasks.length,
      cell: index,
      name: `${cell.dataset} a=${cell.alpha} ${cell.variant.label} seed ${seed}`,
      config: parseConfig({
        ...BASE,
        dataset: cell.dataset,
        dirichletAlpha: cell.alpha,
        strategy: cell.variant.strategy,
        ...cell.variant.overrides,
        seeds: [seed],
      }),
    });
  }
}
tasks.sort((x, y) => cost(cells[y.cell]!) - cost(cells[x.cell]!));

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
// A bar on a terminal; in logs (where cli-progress prints nothing between start and stop) one line per run.
const bar = process.stdout.isTTY
  ? new cliProgress.SingleBar(
      {
        format: 'bench [{bar}] {value}/{total} runs | {last} | {eta_formatted} left',
        hideCursor: true,
        etaBuffer: 8,
      },
      cliProgress.Presets.shades_classic,
    )
  : null;
console.log(`bench: ${tasks.length} runs on ${Math.min(JOBS, tasks.length)} worker(s)`);
bar?.start(tasks.length, 0, { last: '-' });
const outcomes = new Map<number, { task: (typeof tasks)[number]; outcome: CellOutcome }>();
await runOnWorkers(tasks, JOBS, 'use-lite', (task, outcome) => {
  outcomes.set(task.index, { task: task as (typeof tasks)[number], outcome });
  const status = 'result' in outcome ? 'done' : 'skipped' in outcome ? 'skipped' : 'FAILED';
  if ('error' in outcome) console.error(`\n${task.name} failed: ${outcome.error}`);
  if (bar) bar.update(outcomes.size, { last: `${task.name}: ${status}` });
  else console.log(`bench: ${outcomes.size}/${tasks.length} ${task.name}: ${status} (${elapsed()})`);
});
bar?.stop();
const wallSeconds = (performance.now() - started) / 1000;

// Merge each cell's seeds into one result (runs side by side, summary over them).
for (const [index, cell] of cells.entries()) {
  const mine = [...outcomes.values()].filter((o) => o.task.cell === index);
  const results = mine.flatMap(({ outcome }) => ('result' in outcome ? [outcome.result] : []));
  const problem = mine.find(({ outcome }) => !('result' in outcome))?.outcome;
  if (problem) {
    cell.error = 'skipped' in problem ? problem.skipped : 'error' in problem ? problem.error : 'unknown';
    if (cell.error.startsWith('skipped') || results.length === 0) continue;
  }
  if (results.length === 0) continue;
  const runs = results.flatMap((r) => r.runs).sort((x, y) => x.seed - y.seed);
  const merged: SimulationResult = {
    ...results[0]!,
    config: { ...results[0]!.config, seeds: runs.map((r) => r.seed) },
    runs,
    summary: summarizeRuns(runs.map((r) => r.summary)),
  };
  cell.result = merged;
}

// ---------------------------------------------------------------------------------------------------------
// Report.

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const sections: string[] = [];
const claims: string[] = [];
const plotsDir = path.join(REPO_ROOT, 'docs', 'bench', 'plots');
let plotCount = 0;
for (const dataset of DATASETS) {
  for (const alpha of ALPHAS) {
    const group = cells.filter((c) => c.dataset === dataset && c.alpha === alpha);
    const title = `${dataset}, Dirichlet alpha ${alpha}`;
    const prefix = `${NAME}-${dataset}-a${alpha}`;
    const plotted = group.filter(
      (c): c is Cell & { result: SimulationResult } =>
        c.result !== null && ['strategy', 'reference', 'ablation'].includes(c.variant.kind),
    );
    let plotPrefix: string | null = null;
    if (!args['no-docs'] && plotted.length > 0) {
      try {
        const written = await writePlots(
          plotted.map((c) => c.result),
          plotsDir,
          { prefix, labels: plotted.map((c) => c.variant.label) },
        );
        plotCount += written.length;
        plotPrefix = prefix;
      } catch (error) {
        console.error(`plots for ${title} failed: ${(error as Error).message}`);
      }
    }
    sections.push(cellSection(title, group, plotPrefix));
    claims.push(...cellClaims(title, group));
  }
}
const memory = memorySection(cells);

const environmentInfo = environment('bench', 'wasm');
const json = {
  ...environmentInfo,
  command,
  jobs: JOBS,
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
  ablations
    ? '### FedHFT ablations (`npm run bench -- --suite ablations`)'
    : '### Federated: FedHFT versus the baselines (`npm run bench`)',
  `Measured ${environmentInfo.date.slice(0, 10)} on ${environmentInfo.cores} cores (${environmentInfo.cpu}), backend wasm, USE Lite, ${tasks.length} runs on ${Math.min(JOBS, tasks.length)} worker processes, in ${(wallSeconds / 60).toFixed(0)} minutes. Command: \`${command}\`.`,
  `Every run: ${BASE.clients} clients (all selected each round), ${BASE.examplesPerClient} examples each (${100 * Number(BASE.heldOutFraction)} % held out), ${BASE.rounds} rounds of ${BASE.localEpochs} local epoch, batch ${BASE.batchSize}, ${BASE.maxSeqLen} tokens, LoRA rank ${BASE.rank} (alpha ${BASE.alpha}) on query and value unless the row says otherwise, budgets 1 / 0.5 / 0.25 in equal thirds, seeds ${SEEDS.join(', ')} (mean ± sample std over seeds). FedHFT and HeteroFL: 2 clusters, memberships fitted after 2 warm-up rounds; FedHFT: pre-masks, mixture downloads. Full fine-tuning: learning rate ${FULL_FINE_TUNING_LR} (LoRA's ${BASE.learningRate} makes it diverge).`,
  '**Personalized** accuracy: each client after its local training in the last round, on its own held-out split, weighted by size. **Global**: the best cluster model (the global model for other strategies) after the last round on the test set, never used for training or selection; local-only has none. The **centralized** reference is one client holding the whole pool (FedAvg-LoRA with one client, IID): its personalized figure is on a held-out share of the pool. Bytes are the lengths of the real encoded messages. Memory is the peak of tensor buffers during local training, frozen encoder included, compared with full fine-tuning at the same budget level (the same clients and data); without levers here, with levers in the last table.',
  ...(claims.length ? ['**Claims, as measured:**', claims.join('\n')] : []),
  ...sections,
  ...(memory ? [memory] : []),
].join('\n\n');

if (!args['no-docs']) {
  const file = await writeBenchJson(NAME, json);
  await writeBenchSection(NAME, markdown);
  console.log(`wrote ${file}, ${plotCount} plots and the ${NAME} section of docs/BENCHMARKS.md`);
}
console.log(markdown);
