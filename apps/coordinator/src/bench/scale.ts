/**
 * npm run bench:scale — the coordinator under many clients (issue 8): for each N, N lightweight socket.io
 * clients in separate processes on loopback join a FedHFT federation and upload real encoded masked updates
 * (random values in the offered shapes, scale-clients.ts) for a few rounds that wait for all N. Measures joining,
 * each round (offers, collection, aggregation after the last update) and the coordinator's memory after forced
 * GCs. Every step has a time limit, and the next N is tried only while the run's time bound allows. Writes
 * docs/bench/scale.json, two SVG plots and the `scale` section of docs/BENCHMARKS.md.
 *
 *   npm run bench:scale                                   N = 100, 300, 1000, 3000, 10000
 *   npm run bench:scale -- --clients 100,1000 --rounds 2 --no-docs
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  environment,
  markdownTable,
  REPO_ROOT,
  writeBenchJson,
  writeBenchSection,
} from '../../../../packages/adapters/bench/lib/report';
import { stepProgress, type StepProgress } from '../../../../packages/adapters/src/cli/progress';
import { lineChart } from '../simulate/plot';
import { runScalePoint, type ScaleOptions, type ScalePoint } from './scale-run';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100,300,1000,3000,10000' },
    processes: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    width: { type: 'string', default: '16' },
    layers: { type: 'string', default: '1' },
    rank: { type: 'string', default: '4' },
    clusters: { type: 'string', default: '2' },
    'time-bound-minutes': { type: 'string', default: '13' },
    /** Another configuration beside the default one: docs/bench/scale-NAME.json, section scale-NAME. */
    name: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
  },
});

const NAME = args.name ? `scale-${args.name}` : 'scale';
const SIZES = args.clients.split(',').map(Number);
const BOUND_MS = Number(args['time-bound-minutes']) * 60_000;
/** One process per 1,250 clients, 4 to 8: few enough for 2 cores, enough that no process hosts a crowd. */
const processesFor = (n: number) =>
  args.processes ? Number(args.processes) : Math.min(8, Math.max(4, Math.ceil(n / 1250)));
const BASE = {
  rounds: Number(args.rounds),
  width: Number(args.width),
  layers: Number(args.layers),
  rank: Number(args.rank),
  clusters: Number(args.clusters),
};

const started = Date.now();
const points: ScalePoint[] = [];
const skipped: { clients: number; reason: string }[] = [];
for (const clients of SIZES) {
  const previous = points.at(-1);
  const left = BOUND_MS - (Date.now() - started);
  // Joining and clustering grow faster than N here, so extrapolate from the last point with some margin.
  const predicted = previous ? 1.5 * previous.wallMs * (clients / previous.clients) : 0;
  if (previous?.error !== undefined) {
    skipped.push({ clients, reason: `not tried: N = ${previous.clients} did not finish` });
    continue;
  }
  if (predicted > left) {
    skipped.push({
      clients,
      reason: `not tried: predicted ${(predicted / 1000).toFixed(0)} s, ${(left / 1000).toFixed(0)} s left of the ${args['time-bound-minutes']}-minute bound`,
    });
    continue;
  }
  let bar: StepProgress | null = null;
  let phase = '';
  const options: ScaleOptions = {
    clients,
    processes: processesFor(clients),
    ...BASE,
    // Generous for the loopback work measured here (about 10 s per 1,000 clients at most on 2 cores).
    joinTimeoutMs: 60_000 + 30 * clients,
    roundTimeoutMs: 60_000 + 20 * clients,
    onProgress: (name, done, total) => {
      if (name !== phase) {
        bar?.stop();
        phase = name;
        bar = stepProgress(`N=${clients} ${name}`, total, 5_000);
      }
      bar?.update(done);
    },
  };
  const point = await runScalePoint(options);
  (bar as StepProgress | null)?.stop();
  points.push(point);
  const summary = point.rounds.map((r) => `round ${r.round} ${(r.roundMs / 1000).toFixed(1)} s`).join(', ');
  console.log(
    `N=${clients}: joined ${point.joined} in ${(point.joinMs / 1000).toFixed(1)} s; ${summary}` +
      (point.error ? `; stopped: ${point.error}` : ''),
  );
}
const wallSeconds = (Date.now() - started) / 1000;

// ---------------------------------------------------------------------------------------------------------
// Report.

const MIB = 2 ** 20;
const mib = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / MIB).toFixed(1));
const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const seconds = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');
/** Live bytes (V8 heap plus buffers outside it) after a forced GC. */
const live = (m: { heapUsed: number; external: number } | null | undefined) =>
  m ? m.heapUsed + m.external : undefined;
const perClient = (point: ScalePoint, bytes: number | undefined) =>
  bytes === undefined ? '-' : kib(bytes / point.clients);

const roundRows = points.flatMap((p) =>
  p.rounds.map((r) => [
    p.clients,
    r.round,
    r.participants,
    r.offersMs,
    seconds(r.collectMs),
    r.aggregateMs,
    r.closeMs,
    seconds(r.roundMs),
    kib(r.uploadBytes / r.participants),
    kib(r.downloadBytes / r.participants),
    mib(live(r.memoryAllReceived)),
    mib(live(r.memoryAfter)),
    mib(r.peakRss),
    r.diagnostics.membershipsUpdated ? `fit (${r.diagnostics.componentCount} components)` : '-',
    r.clientsLeft,
  ]),
);
const roundTable = markdownTable(
  [
    'N',
    'round',
    'updates',
    'offers ms',
    'collect s',
    'aggregate ms',
    'close ms',
    'round s',
    'up KiB / client',
    'down KiB / client',
    'live MiB, all received',
    'live MiB, after',
    'peak RSS MiB',
    'clustering',
    'connections lost',
  ],
  roundRows,
);

const memoryRows = points.map((p) => {
  const base = live(p.memoryBaseline)!;
  const joined = live(p.memoryJoined);
  const after = live(p.rounds.at(-1)?.memoryAfter);
  const inRound = p.rounds.map((r) => live(r.memoryAllReceived)).filter((v) => v !== undefined);
  const maxInRound = inRound.length ? Math.max(...inRound) : undefined;
  return [
    p.clients,
    p.processes,
    p.joined,
    seconds(p.joinMs),
    mib(base),
    mib(joined),
    perClient(p, joined === undefined ? undefined : joined - base),
    perClient(p, maxInRound === undefined || joined === undefined ? undefined : maxInRound - joined),
    perClient(p, after === undefined ? undefined : after - base),
    kib(4 * p.aggregatorFloats),
    `${p.clientsLeft} / ${p.clientStats?.reconnects ?? '-'}`,
    p.error ?? 'done',
  ];
});
const memoryTable = markdownTable(
  [
    'N',
    'client processes',
    'joined',
    'join s',
    'live MiB at start',
    'live MiB, all joined',
    'KiB / client joined',
    'KiB / client in a round (max)',
    `KiB / client after ${BASE.rounds} rounds`,
    'aggregator state KiB',
    'connections lost / rejoined',
    'outcome',
  ],
  memoryRows,
);

const last = points.filter((p) => p.error === undefined).at(-1);
const limits = [
  ...points.filter((p) => p.error !== undefined).map((p) => `- N = ${p.clients}: ${p.error}`),
  ...skipped.map((s) => `- N = ${s.clients}: ${s.reason}`),
];

const environmentInfo = environment('bench:scale', 'none (clients do not train)');
const command = environmentInfo.command;
const model = `${BASE.layers} layer(s) x (query, value) of ${BASE.width}x${BASE.width}, rank ${BASE.rank}, ${BASE.clusters} clusters`;
const markdown = [
  `### Coordinator scale${args.name ? `: ${args.name}` : ''} (\`${command}\`)`,
  `Measured ${environmentInfo.date.slice(0, 10)} on ${environmentInfo.cores} cores (${environmentInfo.cpu}), Node ${environmentInfo.node}, in ${(wallSeconds / 60).toFixed(1)} minutes. Command: \`${command}\`.`,
  `One coordinator (in the bench process) and N socket.io clients in 4-8 child processes on loopback, all on the same 2 cores. FedHFT, ${model} (${BASE.width === 16 && BASE.layers === 1 ? "a synthetic model of the tiny test encoder's shape" : 'a synthetic model'}: the server needs only names and dims), warm-up 1 round, budgets 1 / 0.5 / 0.25 in turn, fp32, ${BASE.rounds} rounds that start once all N clients are in and close when all N updates arrived (deadline 60 s + 20 ms x N). Clients decode their offer, draw random LoRA factors for the offered pre-mask rows, encode them with the wire codec and upload them; the server validates, decodes and folds in each one (streaming). Heartbeats every 15 s per client.`,
  '**Round phases** (coordinator events): offers = round start to every offer built and emitted; collect = offers out to the last update accepted; aggregate = last update to the aggregated round checkpointed (finishRound, snapshot, checkpoint write; from round 1 on, the GMM fit of the memberships); close = last update to the round notices sent (adds the client registry write). **Live** = V8 heap + external buffers of the coordinator process after a forced GC (so not garbage); "all received" is taken when the last update is folded in, before aggregation. **Connections lost**: sockets the server dropped (the clients rejoin with their identity, as the client page does, and get the open round\'s offer again).',
  roundTable,
  '**Memory per client**: (live bytes all joined - at start) / N is what the server keeps per connected client (socket.io socket, registry entry, channel); "in a round" adds the round state per client (its encoded offer kept for resends, its received record, features, offer bookkeeping); "after" is what stays after the rounds (history records, memberships, previous row importance for the pre-masks). The aggregator state is K_c x (adapted weights + head) floats, fixed by the model whatever N.',
  memoryTable,
  ...(last ? [`Largest N completed: ${last.clients}.`] : []),
  ...(limits.length ? ['Not measured:', limits.join('\n')] : []),
  `![round time vs N](bench/plots/${NAME}-time.svg) ![coordinator memory vs N](bench/plots/${NAME}-memory.svg)`,
].join('\n\n');

const done = points.filter((p) => p.rounds.length > 0);
const timeChart = lineChart({
  title: 'Coordinator: join and round times vs clients',
  xLabel: 'clients N',
  yLabel: 'seconds',
  series: [
    { name: 'join all N', points: done.map((p) => [p.clients, p.joinMs / 1000]) },
    ...Array.from({ length: BASE.rounds }, (_, r) => ({
      name: `round ${r}`,
      points: done.flatMap((p) => {
        const round = p.rounds.find((x) => x.round === r);
        return round ? [[p.clients, round.roundMs / 1000] as [number, number]] : [];
      }),
    })),
    ...Array.from({ length: BASE.rounds }, (_, r) => ({
      name: `aggregate ${r}`,
      dashed: true,
      colorOf: r + 1,
      points: done.flatMap((p) => {
        const round = p.rounds.find((x) => x.round === r);
        return round ? [[p.clients, round.aggregateMs / 1000] as [number, number]] : [];
      }),
    })),
  ],
});
const memoryChart = lineChart({
  title: 'Coordinator live memory vs clients (after forced GC)',
  xLabel: 'clients N',
  yLabel: 'MiB',
  series: [
    { name: 'at start', points: done.map((p) => [p.clients, live(p.memoryBaseline)! / MIB]) },
    { name: 'all joined', points: done.map((p) => [p.clients, (live(p.memoryJoined) ?? NaN) / MIB]) },
    {
      name: 'all received (max)',
      points: done.map((p) => [
        p.clients,
        Math.max(...p.rounds.map((r) => live(r.memoryAllReceived) ?? NaN)) / MIB,
      ]),
    },
    {
      name: 'after rounds',
      points: done.map((p) => [p.clients, (live(p.rounds.at(-1)?.memoryAfter) ?? NaN) / MIB]),
    },
  ],
});

const json = {
  ...environmentInfo,
  wallSeconds,
  options: { ...BASE, sizes: SIZES, timeBoundMinutes: Number(args['time-bound-minutes']) },
  points,
  skipped,
};

if (!args['no-docs']) {
  const plots = path.join(REPO_ROOT, 'docs', 'bench', 'plots');
  await mkdir(plots, { recursive: true });
  await writeFile(path.join(plots, `${NAME}-time.svg`), timeChart);
  await writeFile(path.join(plots, `${NAME}-memory.svg`), memoryChart);
  const file = await writeBenchJson(NAME, json);
  await writeBenchSection(NAME, markdown);
  console.log(`wrote ${file}, docs/bench/plots/${NAME}-*.svg and the ${NAME} section of docs/BENCHMARKS.md`);
}
console.log(markdown);
