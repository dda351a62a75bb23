import { existsSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViteDevServer } from 'vite';
import type { RequestHandler } from '../server/http';

/**
 * The pages, served from source by Vite in middleware mode (no build step for `npm start`): the browser client
 * (apps/browser-client, with the root vite.config.ts) at `/`, and the dashboard (apps/coordinator/dashboard) at
 * `/dashboard/`. No HMR, no WebSocket and no file watching: socket.io owns the server's upgrades, and a page
 * must not reload mid-training. Edits to the pages show after a restart.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../../../..');
export const CLIENT_ROOT = path.join(REPO_ROOT, 'apps/browser-client');
export const DASHBOARD_ROOT = path.resolve(here, '../../dashboard');
export const DASHBOARD_PATH = '/dashboard/';

/** Paths the pages never answer: the API, model files and socket.io. */
const RESERVED = ['/api/', '/models/', '/socket.io/'];

export interface PagesOptions {
  /** Serve the browser client at `/` (default true). */
  readonly client?: boolean;
  /** Serve the dashboard at /dashboard/ (default true). */
  readonly dashboard?: boolean;
}

export interface Pages {
  readonly handler: RequestHandler;
  /** '/' when the client page is served, else null. */
  readonly clientPath: string | null;
  readonly dashboardPath: string | null;
  close(): Promise<void>;
}

function viteHandler(vite: ViteDevServer): RequestHandler {
  return (request, response) =>
    new Promise((resolve, reject) => {
      response.once('close', () => resolve(true));
      vite.middlewares(request, response, (error?: unknown) => (error ? reject(error) : resolve(false)));
    });
}

const SERVER = { middlewareMode: true, hmr: false, ws: false, watch: null } as const;

/**
 * What Vite may read and serve (/@fs/ included): the page's folder, the workspace packages it imports and
 * node_modules. Vite's default is the whole workspace, which would expose config files holding tokens and the
 * coordinator's state folder.
 */
function allowed(...folders: string[]) {
  return { strict: true, allow: [...folders, path.join(REPO_ROOT, 'node_modules')] };
}

export async function createPages(options: PagesOptions = {}): Promise<Pages> {
  const { createServer } = await import('vite');
  const servers: ViteDevServer[] = [];
  let dashboard: RequestHandler | null = null;
  let client: RequestHandler | null = null;
  try {
    if (options.dashboard ?? true) {
      const vite = await createServer({
        configFile: false,
        root: DASHBOARD_ROOT,
        base: DASHBOARD_PATH,
        appType: 'mpa',
        cacheDir: path.join(REPO_ROOT, 'node_modules/.vite-dashboard'),
        clearScreen: false,
        logLevel: 'warn',
        server: { ...SERVER, fs: allowed(DASHBOARD_ROOT) },
      });
      servers.push(vite);
      dashboard = viteHandler(vite);
    }
    if (options.client ?? true) {
      if (!existsSync(path.join(CLIENT_ROOT, 'index.html'))) {
        throw new Error(`${CLIENT_ROOT}/index.html is missing: the client page cannot be served`);
      }
      const configFile = path.join(REPO_ROOT, 'vite.config.ts');
      const vite = await createServer({
        // The app's own config (worker format, dependency entries); root, cache and server set here.
        configFile: existsSync(configFile) ? configFile : false,
        root: CLIENT_ROOT,
        base: '/',
        appType: 'mpa',
        cacheDir: path.join(REPO_ROOT, 'node_modules/.vite-coordinator-client'),
        clearScreen: false,
        logLevel: 'warn',
        server: {
          ...SERVER,
          fs: allowed(
            CLIENT_ROOT,
            path.join(REPO_ROOT, 'packages/core'),
            path.join(REPO_ROOT, 'packages/adapters'),
          ),
        },
      });
      servers.push(vite);
      client = viteHandler(vite);
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.close()));
    throw error;
  }
  const handler: RequestHandler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://local');
    if (url.pathname === '/dashboard' && dashboard) {
      response.writeHead(302, { location: `${DASHBOARD_PATH}${url.search}` });
      response.end();
      return true;
    }
    if (url.pathname.startsWith(DASHBOARD_PATH)) return dashboard ? dashboard(request, response) : false;
    if (client === null || url.pathname === '/api' || RESERVED.some((p) => url.pathname.startsWith(p)))
      return false;
    return client(request, response);
  };
  return {
    handler,
    clientPath: client ? '/' : null,
    dashboardPath: dashboard ? DASHBOARD_PATH : null,
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
