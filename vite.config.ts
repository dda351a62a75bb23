import { defineConfig } from 'vite';

// Root Vite config: the browser client page (apps/browser-client) is the app; e2e test pages live beside it.
export default defineConfig({
  root: 'apps/browser-client',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  build: { outDir: '../../dist/browser-client', emptyOutDir: true },
  // The training worker is an ES module (it imports tfjs and the workspace packages).
  worker: { format: 'es' },
  // The dependency scan starts from index.html and does not follow `new Worker(new URL(...))`: name the worker,
  // or its imports are discovered mid-run and the dev server re-optimizes (and invalidates) them.
  optimizeDeps: { entries: ['index.html', 'src/worker/worker.ts'] },
});
