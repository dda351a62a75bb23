import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';
import { useLitePackageFolder } from '@fedhft/adapters/node';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

/** Port of the e2e dev server; playwright.config.ts uses the same one (env E2E_PORT overrides both). */
export const E2E_PORT = Number(process.env.E2E_PORT ?? 5199);

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Read-only static route: serves the files inside `folder` (and nothing outside it) at `prefix`, the way the
 * coordinator will serve model files to browser clients. Weight shards have no extension: octet-stream.
 */
export function serveFolder(prefix: string, folder: string): Plugin {
  const root = path.resolve(folder);
  const handler: Connect.NextHandleFunction = (req: IncomingMessage, res: ServerResponse, next) => {
    // Mounted at `prefix`, so req.url is the path below it.
    const url = new URL(req.url ?? '/', 'http://local');
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    } catch {
      return send(res, 400, 'bad path');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'read-only');
    }
    const full = path.resolve(root, relative);
    if (relative.includes('\0') || !full.startsWith(root + path.sep)) return send(res, 403, 'forbidden');
    stat(full).then(
      (info) => {
        if (!info.isFile()) return send(res, 404, 'not found');
        res.statusCode = 200;
        res.setHeader('Content-Type', CONTENT_TYPES[path.extname(full)] ?? 'application/octet-stream');
        res.setHeader('Content-Length', String(info.size));
        res.setHeader('Cache-Control', 'no-cache');
        if (req.method === 'HEAD') return void res.end();
        createReadStream(full)
          .on('error', (error) => next(error))
          .pipe(res);
      },
      () => send(res, 404, 'not found'),
    );
  };
  const mount = prefix.replace(/\/+$/, '');
  return {
    name: `serve-folder:${mount}`,
    configureServer(server) {
      server.middlewares.use(mount, handler);
    },
    configurePreviewServer(server) {
      server.middlewares.use(mount, handler);
    },
  };
}

function send(res: ServerResponse, status: number, message: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(message);
}

// Test pages for the browser suite (Playwright). The USE Lite model is served over HTTP from its npm package,
// as the coordinator will serve it to real clients.
export default defineConfig({
  root: path.join(here, 'pages'),
  cacheDir: path.join(repoRoot, 'node_modules/.vite-e2e'),
  clearScreen: false,
  server: {
    host: '127.0.0.1',
    port: E2E_PORT,
    strictPort: true,
    // No HMR and no file watching: a source edit during a run must not reload a page mid-training.
    hmr: false,
    watch: null,
  },
  plugins: [serveFolder('/models/use-lite/', useLitePackageFolder())],
});
