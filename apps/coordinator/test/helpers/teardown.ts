import { afterEach } from 'vitest';
import type { Pages, Web } from '../../src/http/index';
import type { Coordinator } from '../../src/server/index';
import { stopCliServers } from './cli-process';
import type { TestClient } from './server-client';

/** Anything closed synchronously: a raw socket.io client socket (dashboard), a page's SocketLink. */
export interface Closable {
  close(): void;
}

/**
 * What a test started and the afterEach of testEnvironment() disposes. Tests assign the fields
 * (`env.coordinator = await startServer(...)`, `env.cleanup = tmp.remove`) or push to the lists
 * (`env.clients.push(client)`); each field is reset after disposal.
 */
export interface TestEnvironment {
  /** Raw sockets and links, closed first. */
  sockets: Closable[];
  /** Test clients, closed next. */
  clients: TestClient[];
  web: Web | null;
  pages: Pages | null;
  coordinator: Coordinator | null;
  /** Run last, after any CLI server (helpers/cli-process.ts) is stopped: usually a temp dir's remove. */
  cleanup: (() => Promise<void>) | null;
}

/**
 * Registers an afterEach (call it at module level) that disposes, in order: sockets, clients, web, pages,
 * coordinator, every CLI server still running (stopCliServers), then cleanup.
 */
export function testEnvironment(): TestEnvironment {
  const env: TestEnvironment = {
    sockets: [],
    clients: [],
    web: null,
    pages: null,
    coordinator: null,
    cleanup: null,
  };
  afterEach(async () => {
    for (const socket of env.sockets.splice(0)) socket.close();
    for (const client of env.clients.splice(0)) client.close();
    await env.web?.close();
    env.web = null;
    await env.pages?.close();
    env.pages = null;
    await env.coordinator?.close();
    env.coordinator = null;
    await stopCliServers();
    await env.cleanup?.();
    env.cleanup = null;
  });
  return env;
}
