import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { reviewCorpus, reviewsCsv } from '../lib/corpus';
import {
  expectedUpdateBytes,
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
 * A federation of browser tabs against a real coordinator (socket.io, HTTP API, model files, the client page
 * and the dashboard, all from one server started in this process): four tabs with different budgets, one on
 * WebGPU (SwiftShader here) with a file the person picks, three on wasm with non-IID demo shards from the
 * coordinator; three FedHFT rounds on USE Lite with tiny shapes. Round 1 loses a tab mid-round (closed while
 * it trains: the round closes at its deadline without it) and, while it is open, another tab reloads and comes
 * back as the same client, which trains round 2. Checks every round, accuracy, upload sizes against the budgets, that nothing of the picked file left
 * its tab, and saves screenshots plus tokens/s and peak memory per backend to test-results/.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const results = path.join(repoRoot, 'test-results');

// Words only the WebGPU tab's file has: none of them may appear in anything that tab sends.
const PRIVATE: [string, number][] = [
  ['the quixotic zebrafinch concert was wonderful', 1],
  ['Bartholomew says the marmalade pasta was awful', 0],
];

const TABS: TabSpec[] = [
  {
    name: 'gpu',
    backend: 'auto',
    budget: 1,
    demo: false,
    file: { name: 'my-reviews.csv', content: reviewsCsv(reviewCorpus(8, 'gpu-file'), PRIVATE) },
  },
  { name: 'half', backend: 'wasm', budget: 0.5, demo: true },
  { name: 'quarter', backend: 'wasm', budget: 0.25, demo: true },
  { name: 'leaver', backend: 'wasm', budget: 1, demo: true },
];

const ROUNDS = 3;

let federation: RunningFederation | null = null;

test.afterAll(async () => {
  await federation?.close();
});

test('a federation of browser tabs: rounds, accuracy, budgets, a closed tab, a reload', async ({
  browser,
}, testInfo) => {
  test.setTimeout(300_000);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  federation = await startFederation({
    corpus: reviewCorpus(180, 'demo'),
    demo: { shards: 3, alpha: 2, seed: 1 },
    config: {
      strategy: 'fedhft',
      clusters: 2,
      strategyOptions: { warmupRounds: 1 },
      rank: 4,
      alpha: 8,
      rounds: ROUNDS,
      minClients: 2,
      roundTimeoutMs: 60_000,
      roundDelayMs: 500,
      heartbeatIntervalMs: 2_000,
      train: { epochs: 1, batchSize: 8, learningRate: 0.002, maxSeqLen: 16, loraDropout: 0 },
    },
  });
  const fed = federation;
  console.log(`coordinator at ${fed.url} (${elapsed()})`);

  // One browser: the tabs share localStorage, so each must still be its own client (identity.ts).
  const context = await browser.newContext({ viewport: { width: 900, height: 1400 } });
  const tabs: Tab[] = [];
  // One after the other: the first while Vite prepares the page's dependencies, then each demo tab once the
  // previous one has its shard, so shards go to tabs in a fixed order (the accuracy check was tuned on it).
  for (const spec of TABS) {
    const tab = await openTab(context, fed, spec);
    tabs.push(tab);
    await waitForTab(tab, 'its data', (s) => s.data !== undefined, 200_000);
  }
  const [gpu, half, quarter, leaver] = tabs as [Tab, Tab, Tab, Tab];

  // Every tab joined with a budget; the federation starts once all are in (it was created paused).
  const joined = await Promise.all(
    tabs.map((tab) => waitForTab(tab, 'the join and budget', (s) => s.budget !== undefined, 200_000)),
  );
  console.log(`all ${tabs.length} tabs joined (${elapsed()})`);
  const gpuState = joined[0]!;
  expect(gpuState.backend?.backend, `fell back: ${gpuState.backend?.fallback}`).toBe('webgpu');
  await expect(gpu.page.locator('#backend')).toHaveText(/^WebGPU: /);
  await expect(half.page.locator('#backend')).toHaveText(/^wasm fallback: wasm requested/);
  joined.forEach((state, i) => expect(state.budget, TABS[i]!.name).toBe(TABS[i]!.budget));
  const ids = joined.map((s) => s.clientId!);
  expect(new Set(ids).size).toBe(tabs.length);
  expect(gpuState.data?.source).toBe('file');
  for (const state of joined.slice(1)) expect(state.data?.source).toBe('demo');
  await expect(half.page.locator('#data-summary')).toContainText('Public demo data from the coordinator');
  const registered = fed.state().clients;
  for (const [i, id] of ids.entries()) {
    expect(registered.find((c) => c.clientId === id)).toMatchObject({
      budget: TABS[i]!.budget,
      connected: true,
    });
  }
  await fed.start();

  // Round 0: everyone.
  const round0 = await fed.waitFor('round-closed', (e) => e.record.round === 0, 150_000);
  console.log(`round 0 closed by ${round0.record.closedBy} (${elapsed()})`);
  expect(round0.record).toMatchObject({ status: 'aggregated', closedBy: 'all-received' });
  expect([...round0.record.participants].sort()).toEqual([...ids].sort());

  // Round 1: the leaver's tab closes while it trains; the round closes at its deadline without it. While the
  // round waits for it, the half tab (its update in) reloads and rejoins as the same client, same demo shard.
  await fed.waitFor('round-started', (e) => e.round === 1);
  await leaver.page.waitForFunction(() => window.__client?.training === true, null, { polling: 50 });
  await leaver.page.close();
  await fed.waitFor('update-accepted', (e) => e.round === 1 && e.clientId === ids[1]);
  const shardBefore = joined[1]!.data;
  await half.page.reload();
  const rejoined = await waitForTab(half, 'the rejoin', (s) => s.budget !== undefined, 120_000);
  expect(rejoined).toMatchObject({ clientId: ids[1], resumed: true, budget: 0.5, data: shardBefore });
  expect(fed.state().openRound?.round, 'the reload happened while round 1 was open').toBe(1);
  await expect(half.page.locator('#client-id')).toContainText('resumed');
  const round1 = await fed.waitFor('round-closed', (e) => e.record.round === 1, 150_000);
  console.log(`round 1 closed by ${round1.record.closedBy} (${elapsed()})`);
  expect(round1.record).toMatchObject({ status: 'aggregated', closedBy: 'deadline', missing: [ids[3]] });
  expect([...round1.record.participants].sort()).toEqual(ids.slice(0, 3).sort());

  // Round 2: the three remaining tabs, the reloaded one included.
  const round2 = await fed.waitFor('round-closed', (e) => e.record.round === 2, 150_000);
  console.log(`round 2 closed by ${round2.record.closedBy} (${elapsed()})`);
  expect(round2.record).toMatchObject({ status: 'aggregated', closedBy: 'all-received' });
  expect([...round2.record.participants].sort()).toEqual(ids.slice(0, 3).sort());
  await fed.waitFor('finished');

  // Every round completed (no failed attempt), as the state and the HTTP API say.
  const state = fed.state();
  expect(state.phase).toBe('finished');
  expect(state.history.map((r) => [r.round, r.status])).toEqual(
    Array.from({ length: ROUNDS }, (_, round) => [round, 'aggregated']),
  );
  const metrics = await fed.metrics();
  expect(metrics.totals).toMatchObject({ aggregated: ROUNDS, failed: 0 });

  // Upload bytes follow the budget: exactly the size of an update with keptRowCount(dOut, budget) rows of B.
  const live = [gpu, half, quarter];
  const uploads = fed.events.filter((e) => e.type === 'update-accepted');
  for (const [i, tab] of live.entries()) {
    const mine = uploads.filter((e) => e.clientId === ids[i]);
    expect(mine.map((e) => e.round)).toEqual([0, 1, 2]);
    for (const upload of mine) {
      const expected = expectedUpdateBytes(fed.schema, ids[i]!, upload.round, tab.spec.budget, fed.precision);
      expect(upload.bytes, `${tab.spec.name} round ${upload.round}`).toBe(expected);
    }
  }
  const bytesOf = (i: number) => uploads.find((e) => e.clientId === ids[i] && e.round === 0)!.bytes;
  expect(bytesOf(0)).toBeGreaterThan(bytesOf(1));
  expect(bytesOf(1)).toBeGreaterThan(bytesOf(2));
  // What the pages say they sent is what arrived.
  const states = await Promise.all(live.map((tab) => tabState(tab.page)));
  for (const [i, s] of states.entries()) {
    for (const record of s.rounds.filter((r) => r.sent)) {
      const arrived = uploads.find((e) => e.clientId === ids[i] && e.round === record.round);
      expect(record.updateBytes, `${live[i]!.spec.name} round ${record.round}`).toBe(arrived?.bytes);
    }
    expect(s.bytesSent).toBeGreaterThan(0);
    expect(s.bytesReceived).toBeGreaterThan(0);
    expect(s.refusals).toEqual([]);
  }

  // Personalized accuracy (each client on its own held-out split, held-out-weighted), over the clients in both
  // rounds: the last round is well above chance (0.5) and no worse than round 0 beyond one held-out example.
  // Round 0 is already measured after a round of local training and the splits are small (about 40 examples
  // in all), so a strict rise is not guaranteed in three rounds: CI once saw 0.880 -> 0.880.
  const accuracyOf = (round: number) => {
    const record = state.history.find((r) => r.round === round && r.status === 'aggregated')!;
    let weight = 0;
    let sum = 0;
    for (const id of ids.slice(0, 3)) {
      const m = record.clientMetrics[id];
      if (m?.accuracy === undefined) throw new Error(`${id} reported no accuracy in round ${round}`);
      weight += m.heldOutExamples ?? 1;
      sum += (m.heldOutExamples ?? 1) * m.accuracy;
    }
    return { accuracy: sum / weight, examples: weight };
  };
  const { accuracy: first, examples } = accuracyOf(0);
  const { accuracy: last } = accuracyOf(ROUNDS - 1);
  console.log(
    `accuracy by round: ${metrics.rounds.map((r) => r.accuracy.overall?.toFixed(3)).join(' ')}; ` +
      `same clients: round 0 ${first.toFixed(3)}, round ${ROUNDS - 1} ${last.toFixed(3)}`,
  );
  expect(last).toBeGreaterThan(0.75);
  expect(last).toBeGreaterThanOrEqual(first - 1 / examples - 1e-9);

  // Memberships after the clustering rounds, on the page as in the notices.
  for (const [i, s] of states.entries()) {
    const notice = s.notices.find((n) => n.round === ROUNDS - 1);
    expect(notice?.memberships, live[i]!.spec.name).toEqual(round2.record.memberships[ids[i]!]);
    await expect(live[i]!.page.locator('#memberships')).toHaveText(
      /cluster 0: \d\.\d\d, cluster 1: \d\.\d\d/,
    );
  }
  await expect(quarter.page.locator('#federation-status')).toContainText('finished');

  // Nothing of the picked file left its tab: no frame the WebGPU tab sent holds any of its texts.
  expect(gpu.framesSent.length).toBeGreaterThan(5);
  for (const frame of gpu.framesSent) {
    const bytes = typeof frame === 'string' ? Buffer.from(frame) : frame;
    for (const [text] of PRIVATE) {
      for (const word of text.split(' ').filter((w) => w.length > 6)) {
        expect(bytes.includes(Buffer.from(word)), word).toBe(false);
        expect(bytes.includes(Buffer.from(word, 'utf16le')), word).toBe(false);
      }
    }
  }

  // Artifacts: screenshots of the dashboard and a client page; tokens/s and peak memory per backend.
  await mkdir(results, { recursive: true });
  const dashboard = await context.newPage();
  await dashboard.goto(`${fed.url}/dashboard/`);
  await expect(dashboard.locator('tr.client-row')).toHaveCount(TABS.length);
  await dashboard.waitForTimeout(500); // charts animate in
  await dashboard.screenshot({ path: path.join(results, 'federation-dashboard.png'), fullPage: true });
  await gpu.page.screenshot({ path: path.join(results, 'federation-client.png'), fullPage: true });
  await testInfo.attach('dashboard', { path: path.join(results, 'federation-dashboard.png') });
  await testInfo.attach('client', { path: path.join(results, 'federation-client.png') });
  const speed = {
    note:
      'Measured in Chromium by e2e/tests/federation.spec.ts: probe = the capability probe (one timed LoRA step, ' +
      'batch 4 x 16 tokens); rounds = the federated rounds each tab trained (batch 8, at most 16 tokens). ' +
      'Peak = tensor buffers alive at the peak, frozen encoder included. WebGPU here is SwiftShader on the CPU, ' +
      'with several tabs sharing 2 cores.',
    backends: speedByBackend(live.map((tab, i) => ({ name: tab.spec.name, state: states[i]! }))),
    accuracy: { round0: first, last },
    durationSeconds: (Date.now() - started) / 1000,
  };
  await writeFile(path.join(results, 'federation-speed.json'), `${JSON.stringify(speed, null, 2)}\n`);
  console.log(`wrote test-results/federation-speed.json (${elapsed()})`);
  await context.close();
});
