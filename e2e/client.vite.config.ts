import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vite';
import { useLitePackageFolder } from '@fedhft/adapters/node';
import appConfig from '../vite.config';
import { serveFolder } from './vite.config';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

/** Port of the browser-client dev server of the e2e run (env E2E_CLIENT_PORT overrides it here and there). */
export const E2E_CLIENT_PORT = Number(process.env.E2E_CLIENT_PORT ?? 5198);

// The browser client (apps/browser-client) as the app config builds it, plus the USE Lite files at
// /models/use-lite/, where the coordinator will serve them.
export default mergeConfig(
  appConfig,
  defineConfig({
    root: path.join(repoRoot, 'apps/browser-client'),
    cacheDir: path.join(repoRoot, 'node_modules/.vite-e2e-client'),
    clearScreen: false,
    server: {
      host: '127.0.0.1',
      port: E2E_CLIENT_PORT,
      strictPort: true,
      // No HMR and no file watching: a source edit during a run must not reload a page mid-training.
      hmr: false,
      watch: null,
    },
    plugins: [serveFolder('/models/use-lite/', useLitePackageFolder())],
  }),
);
