/**
 * npm run bench:robust — hostile clients (issue 8): with 10 % of the clients sending scaled or random updates,
 * does robust aggregation keep global accuracy within 2 points of the clean run while plain averaging degrades?
 * FedHFT with one cluster (FedAvg-LoRA with FedHFT's aggregation, which is where the robust options live), on a
 * small SST-2 federation, clean and under each attack, plain and robust (trimmed mean, norm bound at the
 * median). Runs go to one worker process per core. Writes docs/bench/robust.json and the `robust` section of
 * docs/BENCHMARKS.md.
 *
 *   npm run bench:robust                      the suite (about 25 minutes on 2 free cores)
 *   npm run bench:robust -- --seeds 0 --rounds 2 --no-docs
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  environment,
  markdownTable,
  writeBenchJson,
  writeBenchSection,
} from '../../../../packages/adapters/bench/lib/report';
import type { AttackConfig } from '../simulate/attack';
import { parseConfig, type SimulationConfigInput } from '../simulate/config';
import type { SimulationResult } from '../simulate/run';
import { summarizeRuns, type Spread } from '../simulate/summary';
import { runOnWorkers, type PoolTask } from './pool';
import type { CellOutcome } from './run-cell';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    rounds: { type: 'string', default: '6' },
    clients: { type: 'string', default: '20' },
    'examples-per-client': { type: 'string', default: '40' },
    fraction: { type: 'string', default: '0.1' },
    jobs: { type: 'string' },
    'data-dir': { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    /** Rewrite the docs section from docs/bench/robust.json (after a report change), running nothing. */
    'report-only': { type: 'boolean', default: false },
  },
});

const SEEDS = args.seeds.split(',').map(Number);
const JOBS = Math.max(1, Number(args.jobs ?? os.cpus().length));
const FRACTION = Number(args.fraction);
/** Accuracy points robust aggregation may lose to the clean run, and plain averaging must lose to "degrade". */
const TOLERANCE = 2;

const BASE: SimulationConfigInput = {
  dataset: 'sst2',
  strategy: 'fedhft',
  clusters: 1,
  clients: Number(args.clients),
  examplesPerClient: Number(args['examples-per-client']),
  rounds: Number(args.rounds),
  participation: 1,
  localEpochs: 1,
  batchSize: 16,
  maxSeqLen: 32,
  rank: 32,
  alpha: 32,
  budgets: { levels: [1] },
  testExamples: 500,
  heldOutFraction: 0.4,
  evalEvery: 1000,
  ...(args['data-dir'] ? { dataDir: args['data-dir'] } : {}),
};

interface Row {
  readonly label: string;
  readonly attack: AttackConfig | null;
  readonly aggregation: 'plain' | 'trimmed-mean' | 'norm-bounded';
  result: SimulationResult | null;
  error?: string;
}

const ROBUST = {
  plain: undefined,
  'trimmed-mean': { kind: 'trimmed-mean', trim: 0.1 },
  'norm-bounded': { kind: 'norm-bounded', bound: 'median' },
} as const;
const ATTACKS: AttackConfig[] = [
  { fraction: FRACTION, kind: 'scale', factor: -10 },
  { fraction: FRACTION, kind: 'random', factor: 1 },
];
const describeAttack = (attack: AttackConfig | null) =>
  attack === null
    ? 'clean'
    : attack.kind === 'scale'
      ? `${100 * attack.fraction} % scale by ${attack.factor}`
      : `${100 * attack.fraction} % random (std ${attack.factor})`;

const AGGREGATIONS = ['plain', 'trimmed-mean', 'norm-bounded'] as const;
const rows: Row[] = [];
for (const attack of [null, ...ATTACKS]) {
  // Clean plain is the reference every run is compared with; clean robust shows what robustness costs.
  for (const aggregation of AGGREGATIONS) {
    rows.push({ label: `${describeAttack(attack)}, ${aggregation}`, attack, aggregation, result: null });
  }
}

const tasks: (PoolTask & { row: number })[] = [];
for (const [index, row] of rows.entries()) {
  const robust = ROBUST[row.aggregation];
  for (const seed of SEEDS) {
    tasks.push({
      index: tasks.length,
      row: index,
      name: `${row.label} seed ${seed}`,
      config: parseConfig({
        ...BASE,
        ...(robust ? { strategyOptions: { robust } } : {}),
        ...(row.attack ? { attack: row.attack } : {}),
        seeds: [seed],
      }),
    });
  }
}

/** A saved run (docs/bench/robust.json) for --report-only. */
interface SavedRun {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly command: string;
  readonly jobs: number;
  readonly wallSeconds: number;
  readonly rows: readonly { readonly label: string; readonly summary?: SimulationResult['summary'] }[];
}
const saved: SavedRun | null = args['report-only']
  ? (JSON.parse(
      await readFile(new URL('../../../../docs/bench/robust.json', import.meta.url), 'utf8'),
    ) as SavedRun)
  : null;

let wallSeconds = saved?.wallSeconds ?? 0;
if (saved !== null) {
  for (const row of rows) {
    const summary = saved.rows.find((r) => r.label === row.label)?.summary;
    // Only the summaries are reported; the rest of a result is not needed for the report.
    if (summary) row.result = { summary } as SimulationResult;
  }
} else {
  const started = performance.now();
  const outcomes = new Map<number, CellOutcome>();
  let finished = 0;
  await runOnWorkers(tasks, JOBS, 'use-lite', (task, outcome) => {
    outcomes.set(task.index, outcome);
    finished++;
    const status = 'error' in outcome ? 'FAILED' : 'skipped' in outcome ? outcome.skipped : 'done';
    console.error(
      `[${finished}/${tasks.length}] ${task.name}: ${status} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    if ('error' in outcome) console.error(outcome.error);
  });
  wallSeconds = (performance.now() - started) / 1000;

  for (const [index, row] of rows.entries()) {
    const results: SimulationResult[] = [];
    for (const task of tasks.filter((t) => t.row === index)) {
      const outcome = outcomes.get(task.index);
      if (!outcome) continue;
      if ('result' in outcome) results.push(outcome.result);
      else row.error = 'error' in outcome ? outcome.error : outcome.skipped;
    }
    if (results.length === 0) continue;
    const runs = results.flatMap((r) => r.runs).sort((x, y) => x.seed - y.seed);
    row.result = {
      ...results[0]!,
      config: { ...results[0]!.config, seeds: runs.map((r) => r.seed) },
      runs,
      summary: summarizeRuns(runs.map((r) => r.summary)),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report.

const pct = (value: number | undefined) => (value === undefined ? '-' : (100 * value).toFixed(1));
const spread = (s: Spread | null | undefined) =>
  s ? `${pct(s.mean)} ± ${pct(s.std)} (${s.values.map((v) => pct(v)).join(', ')})` : '-';
const signed = (points: number) => `${points >= 0 ? '+' : ''}${points.toFixed(1)}`;
const globalOf = (row: Row | undefined) => row?.result?.summary.globalMeanAccuracy?.mean;
const clean = globalOf(rows.find((r) => r.attack === null && r.aggregation === 'plain'));

const table = markdownTable(
  ['run', 'global accuracy % (seeds)', 'vs clean plain (points)', 'personalized accuracy %'],
  rows.map((row) => {
    const global = globalOf(row);
    return [
      row.label,
      row.result ? spread(row.result.summary.globalMeanAccuracy) : `not run: ${row.error?.split('\n')[0]}`,
      global === undefined || clean === undefined ? '-' : signed(100 * (global - clean)),
      spread(row.result?.summary.personalizedAccuracy),
    ];
  }),
);

const claims: string[] = [];
for (const aggregation of ['trimmed-mean', 'norm-bounded'] as const) {
  const robust = globalOf(rows.find((r) => r.attack === null && r.aggregation === aggregation));
  if (robust === undefined || clean === undefined) continue;
  claims.push(
    `- clean, ${aggregation}: ${pct(robust)} % (${signed(100 * (robust - clean))} points against clean plain: ` +
      'what the robust rule costs without an attack).',
  );
}
for (const attack of ATTACKS) {
  const name = describeAttack(attack);
  const of = (aggregation: Row['aggregation']) =>
    globalOf(rows.find((r) => r.attack === attack && r.aggregation === aggregation));
  const plain = of('plain');
  if (clean === undefined || plain === undefined) {
    claims.push(`- ${name}: not measured (a run failed).`);
    continue;
  }
  const drop = 100 * (clean - plain);
  claims.push(
    `- ${name}, plain averaging: ${pct(plain)} % against ${pct(clean)} % clean (${signed(-drop)} points): ` +
      (drop > TOLERANCE ? 'degrades (met).' : `does not lose more than ${TOLERANCE} points (not met).`),
  );
  for (const aggregation of ['trimmed-mean', 'norm-bounded'] as const) {
    const robust = of(aggregation);
    if (robust === undefined) continue;
    const loss = 100 * (clean - robust);
    const sameRule = globalOf(rows.find((r) => r.attack === null && r.aggregation === aggregation));
    const vsSameRule =
      sameRule === undefined ? '' : `; ${signed(100 * (robust - sameRule))} against clean ${aggregation}`;
    claims.push(
      `- ${name}, ${aggregation}: ${pct(robust)} % (${signed(-loss)} points against clean plain${vsSameRule}): ` +
        (loss <= TOLERANCE
          ? `within ${TOLERANCE} points of clean plain (met).`
          : `not within ${TOLERANCE} points of clean plain (not met).`),
    );
  }
}

/** How far one seed's accuracy (and the mean over seeds) moves by test-set sampling alone, in points. */
function noiseNote(): string {
  if (clean === undefined) return '';
  const n = Number(BASE.testExamples);
  const se = 100 * Math.sqrt((clean * (1 - clean)) / n);
  return (
    `Noise: on ${n} test examples one seed's accuracy has a binomial standard error of about ${se.toFixed(1)} ` +
    `points at the clean accuracy (${(se / Math.sqrt(SEEDS.length)).toFixed(1)} for the mean of ${SEEDS.length} ` +
    `seeds); differences of that size are within measurement noise. Chance is about 50 %.`
  );
}

const command =
  saved?.command ??
  `npm run bench:robust${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const environmentInfo = saved ?? environment('bench:robust', 'wasm');
const jobsUsed = saved?.jobs ?? Math.min(JOBS, tasks.length);
const markdown = [
  '### Hostile clients: robust aggregation (`npm run bench:robust`)',
  `Measured ${environmentInfo.date.slice(0, 10)} on ${environmentInfo.cores} cores (${environmentInfo.cpu}), backend wasm, USE Lite, ${tasks.length} runs on ${jobsUsed} worker processes, in ${(wallSeconds / 60).toFixed(1)} minutes. Command: \`${command}\`.`,
  `Every run: SST-2, FedHFT with one cluster (FedAvg-LoRA with FedHFT's aggregation, where the robust options are), ${BASE.clients} clients (all selected each round, budget 1), ${BASE.examplesPerClient} examples each (${100 * Number(BASE.heldOutFraction)} % held out), Dirichlet alpha 1, ${BASE.rounds} rounds of ${BASE.localEpochs} local epoch, batch ${BASE.batchSize}, ${BASE.maxSeqLen} tokens, LoRA rank ${BASE.rank}, seeds ${SEEDS.join(', ')}. Hostile clients (round(${FRACTION} x ${BASE.clients}), a seeded draw per seed) train honestly, then send B and the head multiplied by -10 (scale) or replaced with N(0, 1) noise per coordinate (random). Robust: trimmed mean (trim 0.1: per coordinate the 10 % lowest and highest values dropped) and norm bound at the round's median norm.`,
  `**Global**: the model after the last round on the SST-2 test set (${BASE.testExamples} examples), mean ± sample std over seeds (per-seed values). **Personalized**: each client after local training in the last round on its held-out split (hostile clients included: they train honestly).`,
  `**Claims, as measured** (robust within ${TOLERANCE} points of the clean plain run; plain "degrades" when it loses more than ${TOLERANCE} points):`,
  claims.join('\n'),
  noiseNote(),
  table,
].join('\n\n');

/** Everything the run measured, for docs/bench/robust.json. */
const resultJson = () => ({
  ...environmentInfo,
  command,
  jobs: JOBS,
  wallSeconds,
  base: BASE,
  tolerancePoints: TOLERANCE,
  rows: rows.map((row) => ({
    label: row.label,
    attack: row.attack,
    aggregation: row.aggregation,
    ...(row.error ? { error: row.error } : {}),
    ...(row.result
      ? {
          config: row.result.config,
          summary: row.result.summary,
          runs: row.result.runs.map((run) => ({
            seed: run.seed,
            summary: run.summary,
            hostile: [
              ...new Set(
                run.rounds.flatMap((round) => round.clients.filter((c) => c.hostile).map((c) => c.clientId)),
              ),
            ],
          })),
        }
      : {}),
  })),
});

if (saved !== null) {
  await writeBenchSection('robust', markdown);
  console.log('rewrote the robust section of docs/BENCHMARKS.md from docs/bench/robust.json');
} else if (!args['no-docs']) {
  const file = await writeBenchJson('robust', resultJson());
  await writeBenchSection('robust', markdown);
  console.log(`wrote ${file} and the robust section of docs/BENCHMARKS.md`);
}
console.log(markdown);
