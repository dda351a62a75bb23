import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { io, type Socket } from 'socket.io-client';

/**
 * The coordinator dashboard against a real coordinator (`start --demo`, without the client page): a client
 * joins over socket.io and reports its capabilities; the dashboard shows its row and the charts, and the
 * Pause control works with the admin token.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const TOKEN = 'e2e-join-token';
const ADMIN = 'e2e-admin-token';

let server: ChildProcess | null = null;
let dataDir = '';
let base = '';
let socket: Socket | null = null;

test.beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'fedhft-e2e-dashboard-'));
  const args = ['apps/coordinator/src/cli.ts', 'start', '--demo', '--no-client-page', '--port', '0'];
  args.push('--data-dir', dataDir, '--token', TOKEN, '--admin-token', ADMIN);
  server = spawn(path.join(repoRoot, 'node_modules/.bin/tsx'), args, { cwd: repoRoot, stdio: 'pipe' });
  let output = '';
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start banner:\n${output}`)), 90_000);
    server!.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    server!.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /FedHFT coordinator at (http:\/\/\S+)/.exec(output);
      if (match && output.includes('dashboard:')) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    server!.once('exit', (code) => reject(new Error(`coordinator exited (${code}):\n${output}`)));
  });
});

test.afterAll(async () => {
  socket?.close();
  server?.kill('SIGTERM');
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
