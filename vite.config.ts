import { defineConfig } from 'vite';

// Root Vite config: the browser client page (apps/browser-client) is the app; e2e test pages live beside it.
export default defineConfig({
  root: 'apps/browser-client',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  build: { outDir: '../../dist/browser-client', emptyOutDir: true },
});
