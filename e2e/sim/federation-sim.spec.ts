import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { markdownTable, writeBenchSection } from '../../packages/adapters/bench/lib/report';
import { reviewCorpus } from '../lib/corpus';
import {
  openTab,
  speedByBackend,
  startFederation,
  tabState,
  waitForTab,
  type RunningFederation,
  type Tab,
  type TabSpec,
} from '../lib/federation';

/**
 * `npm run e2e:sim`: a larger federation of browser tabs than the one `npm test` runs (six tabs, four FedHFT
 * rounds; one tab on WebGPU, five on wasm; budgets 1, 0.5 and 0.25; non-IID demo shards, Dirichlet alpha 0.5).
 * Nobody leaves: the figures are what a small real federation of tabs does on this machine. Writes
 * docs/bench/e2e-sim.json (per-round accuracy, bytes per tab and round, tokens/s and peak memory per backend)
 * and the 'e2e-sim' section of docs/BENCHMARKS.md.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

const TABS: TabSpec[] = [
  { name: 'gpu', backend: 'auto', budget: 0.5, demo: true },
  { name: 'wasm-1a', backend: 'wasm', budget: 1, demo: true },
  { name: 'wasm-1b', backend: 'wasm', budget: 1, demo: true },
  { name: 'wasm-0.5', backend: 'wasm', budget: 0.5, demo: true },
  { name: 'wasm-0.25a', backend: 'wasm', budget: 0.25, demo: true },
  { name: 'wasm-0.25b', backend: 'wasm', budget: 0.25, demo: true },
];
const ROUNDS = 4;
const TRAIN = { epochs: 1, batchSize: 8, learningRate: 0.002, maxSeqLen: 16, loraDropout: 0 };
const DEMO = { shards: TABS.length, alpha: 0.5, seed: 2 };
const EXAMPLES = 40 * TABS.length;

let federation: RunningFederation | null = null;

test.afterAll(async () => {
  await federation?.close();
});

const fixed = (value: number | null | undefined, digits = 3) =>
  value === null || value === undefined ? '–' : value.toFixed(digits);

test('six tabs, four rounds: accuracy, bytes and speed per backend', async ({ browser }) => {
  test.setTimeout(900_000);
  const started = Date.now();
  federation = await startFederation({
    corpus: reviewCorpus(EXAMPLES, 'sim'),
    demo: DEMO,
    config: {
      strategy: 'fedhft',
      clusters: 2,
      strategyOptions: { warmupRounds: 1 },
      rank: 4,
      alpha: 8,
      rounds: ROUNDS,
      minClients: TABS.length,
      roundTimeoutMs: 300_000,
      roundDelayMs: 500,
      heartbeatIntervalMs: 5_000,
      train: TRAIN,
    },
  });
  const fed = federation;
  const context = await browser.newContext();
  const tabs: Tab[] = [];
  for (const spec of TABS) {
    const tab = await openTab(context, fed, spec, false);
    tabs.push(tab);
    // One at a time while Vite prepares the page; then they load side by side.
    if (tabs.length === 1) await waitForTab(tab, 'the first join', (s) => s.budget !== undefined, 300_000);
  }
  const joined = await Promise.all(
    tabs.map((tab) => waitForTab(tab, 'the join', (s) => s.budget !== undefined, 300_000)),
  );
  const ids = joined.map((s) => s.clientId!);
  joined.forEach((s, i) => expect(s.budget, TABS[i]!.name).toBe(TABS[i]!.budget));
  expect(joined[0]!.backend?.backend).toBe('webgpu');
  await fed.start();
  for (let round = 0; round < ROUNDS; round++) {
    const { record } = await fed.waitFor('round-closed', (e) => e.record.round === round, 600_000);
    console.log(
      `round ${round}: ${record.status} by ${record.closedBy}, ${record.participants.length} updates, ` +
        `accuracy ${fixed(record.personalizedAccuracy)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
    expect(record.status).toBe('aggregated');
  }
  await fed.waitFor('finished');

  const metrics = await fed.metrics();
  const state = fed.state();
  const states = await Promise.all(tabs.map((tab) => tabState(tab.page)));
  const uploads = fed.events.filter((e) => e.type === 'update-accepted');
  const perTab = TABS.map((spec, i) => {
    const s = states[i]!;
    const shard = state.demo?.find((d) => d.clients.includes(ids[i]!));
    return {
      tab: spec.name,
      clientId: ids[i],
      backend: s.backend?.backend,
      budget: s.budget,
      shard: shard ? { index: shard.index, size: shard.size, labelCounts: shard.labelCounts } : null,
      uploadBytes: uploads.filter((e) => e.clientId === ids[i]).map((e) => e.bytes),
      downloadBytes: s.bytesReceived,
      accuracy: s.rounds.map((r) => r.metrics.accuracy),
      memberships: s.memberships ?? null,
    };
  });
  const speed = speedByBackend(TABS.map((spec, i) => ({ name: spec.name, state: states[i]! })));
  const result = {
    command: 'npm run e2e:sim',
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, browser: browser.version() },
    setup: {
      tabs: TABS.map(({ name, backend, budget }) => ({ name, backend, budget })),
      rounds: ROUNDS,
      strategy: 'fedhft, 2 clusters, 1 warm-up round, rank 4, USE Lite (query, value)',
      train: TRAIN,
      demo: { ...DEMO, examples: EXAMPLES, corpus: 'templated reviews (e2e/lib/corpus.ts)' },
    },
    rounds: metrics.rounds.map((r) => ({
      round: r.round,
      durationSeconds: r.durationMs / 1000,
      participants: r.participants,
      accuracy: r.accuracy.overall,
      accuracyPerCluster: r.accuracy.perCluster,
      loss: r.loss,
      uploadBytes: r.bytes.upload,
      downloadBytes: r.bytes.download,
    })),
    tabs: perTab,
    backends: speed,
    durationSeconds: (Date.now() - started) / 1000,
  };
  const file = path.join(repoRoot, 'docs', 'bench', 'e2e-sim.json');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);

  const rounds = markdownTable(
    ['round', 'seconds', 'updates', 'accuracy', 'per cluster', 'mean loss', 'upload', 'download'],
    result.rounds.map((r) => [
      r.round,
      r.durationSeconds.toFixed(0),
      r.participants,
      fixed(r.accuracy),
      r.accuracyPerCluster.map((a) => fixed(a)).join(' / '),
      fixed(r.loss),
      `${(r.uploadBytes / 1024).toFixed(0)} KiB`,
      `${(r.downloadBytes / 1024).toFixed(0)} KiB`,
    ]),
  );
  const bytes = markdownTable(
    ['tab', 'backend', 'budget', 'shard (size, labels)', 'upload per round', 'final memberships'],
    perTab.map((t) => [
      t.tab,
      t.backend ?? '?',
      t.budget ?? '?',
      t.shard ? `${t.shard.index} (${t.shard.size}, ${t.shard.labelCounts.join('/')})` : '–',
      `${((t.uploadBytes[0] ?? 0) / 1024).toFixed(1)} KiB`,
      t.memberships ? t.memberships.map((m) => m.toFixed(2)).join(' / ') : '–',
    ]),
  );
  const backendRows = Object.entries(speed).map(([backend, value]) => {
    const v = value as {
      tabs: string[];
      probeTokensPerSecond: number | null;
      probePeakBytes: number;
      roundTokensPerSecond: number | null;
      roundPeakBytes: number | null;
    };
    return [
      backend,
      v.tabs.length,
      fixed(v.probeTokensPerSecond, 0),
      `${(v.probePeakBytes / 2 ** 20).toFixed(1)} MiB`,
      fixed(v.roundTokensPerSecond, 0),
      v.roundPeakBytes === null ? '–' : `${(v.roundPeakBytes / 2 ** 20).toFixed(1)} MiB`,
    ];
  });
  const backends = markdownTable(
    ['backend', 'tabs', 'probe tokens/s', 'probe peak', 'round tokens/s (mean)', 'round peak (max)'],
    backendRows,
  );
  await writeBenchSection(
    'e2e-sim',
    [
      '## Browser federation (e2e:sim)',
      '',
      `\`npm run e2e:sim\` (${result.date.slice(0, 10)}, ${result.machine.cores} cores, ${result.machine.cpu}, ` +
        `Chromium ${result.machine.browser}): ${TABS.length} tabs of one browser against a real coordinator, ` +
        `${ROUNDS} FedHFT rounds on USE Lite (rank 4, 2 clusters), batch ${TRAIN.batchSize} x at most ` +
        `${TRAIN.maxSeqLen} tokens, one epoch per round over non-IID demo shards (Dirichlet alpha ${DEMO.alpha}) ` +
        'of a templated review corpus. Accuracy: each client on its own held-out split after its local round ' +
        '(held-out-weighted). WebGPU is SwiftShader on the CPU here, sharing the 2 cores with every other tab: ' +
        'its speed says nothing about a real GPU. Peak memory: tensor buffers alive at the peak, frozen encoder ' +
        `included. Total ${result.durationSeconds.toFixed(0)} s. Raw figures: \`docs/bench/e2e-sim.json\`.`,
      '',
      rounds,
      '',
      bytes,
      '',
      backends,
    ].join('\n'),
  );
  console.log(`wrote docs/bench/e2e-sim.json and the e2e-sim section of docs/BENCHMARKS.md`);
  await context.close();
});
