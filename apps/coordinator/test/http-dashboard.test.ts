import { describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { attachWeb, createPages, REPO_ROOT, type DashboardSnapshot } from '../src/http/index';
import type { FederationEvent } from '../src/server/index';
import { BIG, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

describe('dashboard', () => {
  it('pushes a snapshot on connect, then the events and snapshots of a round; it is read-only', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir);
    env.web = await attachWeb(env.coordinator, { pages: false });
    const socket = io(`${env.coordinator.url}/dashboard`, { transports: ['websocket'], forceNew: true });
    env.sockets.push(socket);
    const events: FederationEvent[] = [];
    const snapshots: DashboardSnapshot[] = [];
    socket.on('event', (event: FederationEvent) => void events.push(event));
    socket.on('snapshot', (snapshot: DashboardSnapshot) => void snapshots.push(snapshot));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    await expect.poll(() => snapshots.length).toBeGreaterThan(0);
    expect(snapshots[0]!.federations[0]!.state).toMatchObject({ id: 'sentiment', clients: [] });

    const refusal = (await socket.timeout(5_000).emitWithAck('pause', {})) as Record<string, unknown>;
    expect(refusal).toMatchObject({ ok: false, reason: expect.stringMatching(/read-only/) });

    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    const a = await TestClient.ready(env.coordinator.url, 1, BIG);
    const b = await TestClient.ready(env.coordinator.url, 2, BIG);
    env.clients.push(a, b);
    await Promise.all([a.playRound(0), b.playRound(0)]);
    await closed;
    const types = () => events.map((e) => e.type);
    await expect.poll(types).toContain('round-closed');
    expect(types()).toEqual(
      expect.arrayContaining(['client-joined', 'capabilities', 'round-started', 'update-accepted']),
    );
    await expect.poll(() => snapshots.at(-1)!.federations[0]!.metrics.rounds.length).toBe(1);
    const last = snapshots.at(-1)!.federations[0]!;
    expect(last.state.clients).toHaveLength(2);
    expect(last.metrics.rounds[0]).toMatchObject({ round: 0, status: 'aggregated', participants: 2 });
  });

  it('serves the dashboard page and its script through Vite at /dashboard/', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir);
    env.pages = await createPages({ client: false, dashboard: true });
    env.coordinator.use(env.pages.handler);
    const redirect = await fetch(`${env.coordinator.url}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/dashboard/');
    const html = await (await fetch(`${env.coordinator.url}/dashboard/`)).text();
    expect(html).toContain('id="accuracy-chart"');
    expect(html).toContain('/dashboard/@vite/client');
    const script = await fetch(`${env.coordinator.url}/dashboard/src/views.ts`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    // Vite reads only the page's folder and node_modules: not the repository's other files (configs, state).
    expect((await fetch(`${env.coordinator.url}/dashboard/@fs${REPO_ROOT}/package.json`)).status).toBe(403);
    expect(
      (await fetch(`${env.coordinator.url}/dashboard/@fs${REPO_ROOT}/node_modules/chart.js/package.json`))
        .status,
    ).toBe(200);
    // Not the client page's: nothing is served at / without it.
    expect((await fetch(`${env.coordinator.url}/`)).status).toBe(404);
  });
});
