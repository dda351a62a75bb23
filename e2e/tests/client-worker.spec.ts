import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import type { ClientPageState } from '../../apps/browser-client/src/main';

/**
 * The browser client page, end to end without a coordinator: the worker starts tfjs (WebGPU, or wasm when asked),
 * loads USE Lite over HTTP, measures its capability; the page reads a CSV the test makes, refuses a broken one,
 * and trains one local round whose update goes through the outbox. Tiny shapes keep SwiftShader WebGPU quick.
 * Writes test-results/browser-client-speed.json: tokens/s and peak memory per backend.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const CLIENT_URL = `http://127.0.0.1:${Number(process.env.E2E_CLIENT_PORT ?? 5198)}/`;
const SETTINGS = 'seqLen=16&batch=4&probeBatch=4&probeSteps=1&rank=4&epochs=1';

const POSITIVE = [
  'a wonderful film',
  'I loved every minute',
  'brilliant and funny',
  'a joyful, moving story',
];
const NEGATIVE = [
  'a dull and boring film',
  'terrible acting',
  'the worst film this year',
  'I want my time back',
];

/** 16 short reviews with a header: 13 to train on (4 steps of 4), 3 held out. */
function reviewsCsv(): string {
  const rows = ['text,label'];
  for (let i = 0; i < 2; i++) {
    POSITIVE.forEach((t) => rows.push(`"${t}${i ? ' again' : ''}",positive`));
    NEGATIVE.forEach((t) => rows.push(`"${t}${i ? ' again' : ''}",negative`));
  }
  return rows.join('\n');
}

interface BackendRecord {
  backend: string;
  fallback: string | null;
  adapter: unknown;
  capability: ClientPageState['capability'];
  round: {
    steps: number;
    losses: number[];
    tokensPerSecond: number;
    peakBytes: number;
    trainingBytes: number;
    trainSeconds: number;
    updateBytes: number;
    accuracy: number | null;
  };
  page: { framesDuring: number; longestFrameGapMs: number; wallMs: number; evaluateMs: number[] };
}

const records: Record<string, BackendRecord> = {};

async function clientState(page: Page): Promise<ClientPageState> {
  return (await page.evaluate(() => window.__client)) as ClientPageState;
}

async function waitFor(page: Page, what: string, done: (s: ClientPageState) => boolean, timeout: number) {
  const started = Date.now();
  for (;;) {
    const state = await clientState(page);
    if (state.errors.length > 0)
      throw new Error(`page errors while waiting for ${what}: ${state.errors.join('; ')}`);
    if (done(state)) return state;
    if (Date.now() - started > timeout)
      throw new Error(`timed out waiting for ${what} (phase ${state.phase})`);
    await page.waitForTimeout(250);
  }
}

async function runLocalRound(page: Page, choice: 'auto' | 'wasm'): Promise<BackendRecord> {
  page.on('console', (message) => {
    if (message.text().startsWith('[client]')) console.log(`${choice}: ${message.text()}`);
  });
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));
  // The coordinator prefills the form only (nothing connects to it yet); the model comes from this dev server.
  const model = encodeURIComponent(`${CLIENT_URL}models/use-lite/`);
  await page.goto(
    `${CLIENT_URL}?backend=${choice}&${SETTINGS}&token=t0k&coordinator=http://127.0.0.1:1/&model=${model}`,
  );
  // The link prefills the form.
  await expect(page.locator('#token')).toHaveValue('t0k');
  await expect(page.locator('#coordinator')).toHaveValue('http://127.0.0.1:1/');

  const ready = await waitFor(page, 'the capability probe', (s) => s.capability !== undefined, 150_000);
  const backendLine = page.locator('#backend');
  if (choice === 'wasm') {
    expect(ready.backend?.backend).toBe('wasm');
    await expect(backendLine).toHaveText(/^wasm fallback: wasm requested/);
  } else {
    expect(ready.backend?.backend, `fell back: ${ready.backend?.fallback}`).toBe('webgpu');
    expect(ready.backend?.adapter).not.toBeNull();
    await expect(backendLine).toHaveText(/^WebGPU: /);
  }
  await expect(page.locator('#capability')).toHaveText(/tokens\/s/);

  // A broken file is refused with the reason; the good one is summarised.
  await page.setInputFiles('#file', {
    name: 'broken.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('review,stars\ngood,5\n'),
  });
  await expect(page.locator('#data-error')).toHaveText(/broken\.csv: line 1: missing column 'text'/);
  await expect(page.locator('#local-round')).toBeDisabled();
  await page.setInputFiles('#file', {
    name: 'reviews.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(reviewsCsv()),
  });
  await expect(page.locator('#data-summary')).toHaveText(/reviews\.csv: 13 to train on, 3 held out/);
  await expect(page.locator('#data-error')).toBeHidden();

  await page.locator('#local-round').click();
  // While the worker trains, the main thread answers at once.
  const evaluateMs: number[] = [];
  await waitFor(page, 'training to start', (s) => s.training || s.rounds.length > 0, 60_000);
  while ((await clientState(page)).training) {
    const started = Date.now();
    await page.evaluate(() => document.body.childElementCount);
    evaluateMs.push(Date.now() - started);
    await page.waitForTimeout(200);
  }
  const done = await waitFor(page, 'the round notice', (s) => s.notices.length > 0, 150_000);
  const round = done.rounds[0]!;
  const { metrics } = round;
  await expect(page.locator('#memberships')).toHaveText(/cluster 0: 0\.50, cluster 1: 0\.50/);
  await expect(page.locator('#accuracy')).toHaveText(/% on 3 held-out examples/);

  return {
    backend: done.backend!.backend,
    fallback: done.backend!.fallback,
    adapter: done.backend!.adapter,
    capability: done.capability,
    round: {
      steps: metrics.steps,
      losses: metrics.losses,
      tokensPerSecond: metrics.tokensPerSecond,
      peakBytes: metrics.peakBytes,
      trainingBytes: metrics.trainingBytes,
      trainSeconds: metrics.trainSeconds,
      updateBytes: round.updateBytes,
      accuracy: metrics.accuracy,
    },
    page: {
      framesDuring: round.framesDuring,
      longestFrameGapMs: round.longestFrameGapMs,
      wallMs: round.wallMs,
      evaluateMs,
    },
  };
}

function checkRecord(record: BackendRecord, state: ClientPageState): void {
  const { round } = record;
  expect(round.steps).toBe(4);
  expect(round.losses).toHaveLength(4);
  for (const loss of round.losses) expect(Number.isFinite(loss), `loss ${loss}`).toBe(true);
  expect(round.updateBytes).toBeGreaterThan(1000);
  // The update went out through the outbox (with its metadata) and the payload came in.
  expect(state.bytesSent).toBeGreaterThan(round.updateBytes);
  expect(state.bytesReceived).toBeGreaterThan(0);
  expect(state.progress.map((p) => p.step)).toEqual([0, 1, 2, 3]);
  expect(record.capability!.tokensPerSecond).toBeGreaterThan(0);
  expect(record.capability!.peakBytes).toBeGreaterThan(20e6); // the frozen encoder alone is ~27 MB
  expect(round.peakBytes).toBeGreaterThan(record.capability!.peakBytes - record.capability!.trainingBytes);
  // The page stayed responsive: frames kept coming and the main thread answered quickly.
  // At least 10 frames a second over the round (60 when idle) and no gap of half a second.
  expect(record.page.framesDuring, 'requestAnimationFrame stalled while training').toBeGreaterThanOrEqual(
    Math.max(2, Math.floor(record.page.wallMs / 100)),
  );
  expect(record.page.longestFrameGapMs).toBeLessThan(500);
  expect(Math.max(...record.page.evaluateMs, 0)).toBeLessThan(2000);
}

test.describe.configure({ mode: 'serial' });

test.afterAll(async () => {
  if (Object.keys(records).length === 0) return;
  const file = path.join(repoRoot, 'test-results', 'browser-client-speed.json');
  await mkdir(path.dirname(file), { recursive: true });
  const note =
    'Measured in Chromium by e2e/tests/client-worker.spec.ts: capability = one timed LoRA step on a synthetic ' +
    'full-length batch (after a warm-up step); round = a local FedHFT round on 13 short reviews (tokens are ' +
    'padded batch tokens over training seconds). Peak = tensor buffers alive at the peak (memory meter), frozen ' +
    'encoder included. WebGPU here is SwiftShader on the CPU unless the machine has a GPU.';
  await writeFile(file, `${JSON.stringify({ note, settings: SETTINGS, backends: records }, null, 2)}\n`);
  console.log(`wrote ${path.relative(repoRoot, file)}`);
});

for (const choice of ['auto', 'wasm'] as const) {
  test(`one local round in the worker on ${choice === 'auto' ? 'webgpu' : 'wasm'}`, async ({
    page,
  }, testInfo) => {
    const record = await runLocalRound(page, choice);
    const state = await clientState(page);
    records[record.backend] = record;
    await testInfo.attach(`client-${record.backend}.json`, {
      body: JSON.stringify(record, null, 2),
      contentType: 'application/json',
    });
    console.log(
      `${record.backend}: probe ${record.capability!.tokensPerSecond.toFixed(0)} tok/s, peak ` +
        `${(record.capability!.peakBytes / 1e6).toFixed(1)} MB; round ${record.round.tokensPerSecond.toFixed(0)} tok/s, ` +
        `${record.round.trainSeconds.toFixed(1)} s, losses ${record.round.losses.map((l) => l.toFixed(4)).join(' ')}; ` +
        `frames ${record.page.framesDuring}, longest gap ${record.page.longestFrameGapMs.toFixed(0)} ms`,
    );
    checkRecord(record, state);
  });
}
