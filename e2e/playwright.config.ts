import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const port = Number(process.env.E2E_PORT ?? 5199);
const baseURL = `http://127.0.0.1:${port}`;
// The browser client app has its own dev server (its root is apps/browser-client); client-worker.spec.ts uses it.
const clientPort = Number(process.env.E2E_CLIENT_PORT ?? 5198);

// Playwright's own browser download does not work on these machines: Debian's chromium is used instead
// (.ci/run installs it). Pages must come from 127.0.0.1 (a secure context) or navigator.gpu does not exist.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: path.join(here, 'tests'),
  outputDir: path.join(repoRoot, 'test-results'),
  // WebGPU here is Dawn's SwiftShader CPU adapter: every new shader shape compiles on first use.
  timeout: 240_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    baseURL,
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        '--enable-unsafe-webgpu',
      ],
    },
    trace: 'retain-on-failure',
  },
  webServer: [
    {
      // --configLoader runner: the Vite config imports '@fedhft/adapters/node', a TypeScript workspace package,
      // which the default loader would hand to Node untranspiled.
      command: `npx vite --configLoader runner --config ${JSON.stringify(path.join(here, 'vite.config.ts'))}`,
      cwd: repoRoot,
      url: `${baseURL}/backend-parity.html`,
      env: { E2E_PORT: String(port) },
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `npx vite --configLoader runner --config ${JSON.stringify(path.join(here, 'client.vite.config.ts'))}`,
      cwd: repoRoot,
      url: `http://127.0.0.1:${clientPort}/`,
      env: { E2E_CLIENT_PORT: String(clientPort) },
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
  ],
});
