import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { io, type Socket } from 'socket.io-client';

/**
 * The coordinator dashboard against a real coordinator (`start --demo`, without the client page): a client
 * joins over socket.io and reports its capabilities; the dashboard shows its row and the charts, and the
 * Pause control works with the admin token. The differential privacy readout: off for the demo, and the
 * accountant's epsilon for a second coordinator whose federation has strategyOptions.dp.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const TOKEN = 'e2e-join-token';
const ADMIN = 'e2e-admin-token';

let server: ChildProcess | null = null;
let dataDir = '';
let base = '';
let socket: Socket | null = null;

/** Spawns `cli.ts start` and resolves with its URL once the start banner names the dashboard. */
function startCoordinator(args: string[]): { child: ChildProcess; url: Promise<string> } {
  const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
  const child = spawn(tsx, ['apps/coordinator/src/cli.ts', ...args], { cwd: repoRoot, stdio: 'pipe' });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start banner:\n${output}`)), 90_000);
    child.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /FedHFT coordinator at (http:\/\/\S+)/.exec(output);
      if (match && output.includes('dashboard:')) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited (${code}):\n${output}`)));
  });
  return { child, url };
}

/** A second coordinator whose only federation has strategyOptions.dp (no client joins it: epsilon stays 0). */
const DP = { noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5, expectedParticipants: 4, samplingRate: 1 };
let dpServer: ChildProcess | null = null;
let dpBase = '';

test.beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'fedhft-e2e-dashboard-'));
  const args = ['start', '--demo', '--no-client-page', '--port', '0'];
  args.push('--data-dir', dataDir, '--token', TOKEN, '--admin-token', ADMIN);
  const config = path.join(dataDir, 'dp-coordinator.json');
  const federation = { id: 'private', token: 'e2e-private-token', strategyOptions: { dp: DP } };
  await writeFile(config, JSON.stringify({ dataDir: path.join(dataDir, 'dp'), federations: [federation] }));
  // Both start at once: the second costs little extra time.
  const demo = startCoordinator(args);
  const dp = startCoordinator(['start', '--config', config, '--no-client-page', '--port', '0']);
  server = demo.child;
  dpServer = dp.child;
  [base, dpBase] = await Promise.all([demo.url, dp.url]);
});

test.afterAll(async () => {
  socket?.close();
  server?.kill('SIGTERM');
  dpServer?.kill('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

test('dashboard shows a joined client, the charts, and pauses with the admin token', async ({ page }) => {
  socket = io(base, { transports: ['websocket'], forceNew: true, reconnection: false });
  const join = (await socket
    .timeout(10_000)
    .emitWithAck('join', { protocolVersion: 1, federation: 'demo', token: TOKEN })) as { clientId: string };
  const report = { backend: 'wasm', memoryBytes: 1.5 * 2 ** 30, tokensPerSecond: 300 };
  expect(await socket.timeout(10_000).emitWithAck('capabilities', report)).toEqual({ ok: true, budget: 0.5 });

  await page.goto(`${base}/dashboard/`);
  const row = page.locator('tr.client-row', { hasText: join.clientId });
  await expect(row).toContainText('wasm');
  await expect(row).toContainText('0.5');
  await expect(page.locator('#connection')).toHaveText('live');
  // The demo federation runs without differential privacy: the readout says so, the epsilon chart is hidden.
  await expect(page.locator('#privacy')).toHaveText('differential privacy: off');
  await expect(page.locator('#privacy-figure')).toBeHidden();
  const canvas = page.locator('#memory-chart');
  await expect(canvas).toBeVisible();
  expect((await canvas.boundingBox())!.width).toBeGreaterThan(100);

  await page.click('#pause');
  await expect(page.locator('#control-message')).toContainText('refused (401)');
  await page.fill('#admin-token', ADMIN);
  await page.click('#pause');
  await expect(page.locator('#control-message')).toContainText('paused');
  await expect(page.locator('#phase')).toContainText('paused');
});

test('with differential privacy the dashboard shows the epsilon readout and its chart', async ({ page }) => {
  await page.goto(`${dpBase}/dashboard/`);
  await expect(page.locator('#privacy')).toHaveText('privacy: epsilon = 0 at delta = 1e-5 after 0 rounds');
  await expect(page.locator('#privacy-figure')).toBeVisible();
});
