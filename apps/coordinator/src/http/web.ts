import { useLitePackageFolder } from '@fedhft/adapters/node';
import type { Coordinator } from '../server/coordinator';
import type { FederationEvent } from '../server/federation';
import { AdapterExports } from './adapters';
import { createApi } from './api';
import { attachDashboardNamespace } from './dashboard-socket';
import { createPages, type Pages, type PagesOptions } from './pages';
import { staticFolder } from './static-files';

/**
 * Everything a browser needs from the coordinator, attached to a running one: the HTTP JSON API (/api), the USE
 * Lite model files (/models/use-lite/, from the npm package, so clients need no hub), the adapter exports after
 * each aggregated round, the read-only `/dashboard` socket.io namespace, and the pages (client at `/`,
 * dashboard at `/dashboard/`) through Vite.
 */

export const USE_LITE_PATH = '/models/use-lite/';

export interface WebOptions {
  /** Serve the pages through Vite (false in API tests; default true). */
  readonly pages?: boolean | PagesOptions;
  readonly log?: (line: string) => void;
}

export interface Web {
  readonly exports: ReadonlyMap<string, AdapterExports>;
  readonly clientPath: string | null;
  readonly dashboardPath: string | null;
  close(): Promise<void>;
}

export async function attachWeb(coordinator: Coordinator, options: WebOptions = {}): Promise<Web> {
  const log = options.log ?? (() => {});
  const exports = new Map(
    [...coordinator.federations.values()].map((f) => [f.id, new AdapterExports(f)] as const),
  );
  const onEvent = (event: FederationEvent) => {
    if (event.type === 'round-closed' && event.record.status === 'aggregated') {
      void exports.get(event.federation)?.exportLatest(log);
    }
  };
  coordinator.on('event', onEvent);
  const pagesOption = options.pages ?? true;
  const pages: Pages | null =
    pagesOption === false ? null : await createPages(pagesOption === true ? {} : pagesOption);
  coordinator.use(
    createApi(coordinator, {
      exports,
      models: { 'use-lite': USE_LITE_PATH },
      clientPath: pages?.clientPath ?? null,
    }),
  );
  coordinator.use(staticFolder(USE_LITE_PATH, useLitePackageFolder()));
  if (pages) coordinator.use(pages.handler);
  const detach = attachDashboardNamespace(coordinator);
  return {
    exports,
    clientPath: pages?.clientPath ?? null,
    dashboardPath: pages?.dashboardPath ?? null,
    close: async () => {
      coordinator.off('event', onEvent);
      detach();
      await Promise.all([...exports.values()].map((e) => e.index()));
      await pages?.close();
    },
  };
}
