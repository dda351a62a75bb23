import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { BIG, SMALL, TOKEN, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

describe('coordinator server: join, a full round, reconnect', () => {
  it('joins with a token, refuses a wrong token or federation, and assigns budgets from capabilities', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir);
    const client = await TestClient.connect(env.coordinator.url);
    env.clients.push(client);

    expect(await client.join({ token: 'wrong-token-xx' })).toMatchObject({ ok: false, code: 'bad-token' });
    expect(await client.join({ federation: 'nope' })).toMatchObject({
      ok: false,
      code: 'unknown-federation',
    });
    expect(await client.request('capabilities', BIG)).toMatchObject({ ok: false, code: 'not-joined' });

    const joined = await client.join();
    expect(joined).toMatchObject({
      ok: true,
      resumed: false,
      federation: { id: 'sentiment', numClasses: 2 },
    });
    expect(client.clientId).toMatch(/^c-/);
    expect(client.secret.length).toBeGreaterThan(30);
    expect(await client.request('capabilities', SMALL)).toEqual({ ok: true, budget: 0.25 });
    expect(await client.request('capabilities', BIG)).toEqual({ ok: true, budget: 1 });
    expect(await client.request('heartbeat', { status: 'idle' })).toMatchObject({
      ok: true,
      phase: 'waiting',
    });

    const state = env.coordinator.state();
    const federation = state.federations[0]!;
    expect(federation.clients).toEqual([
      expect.objectContaining({ clientId: client.clientId, budget: 1, connected: true, status: 'idle' }),
    ]);
    // Only the hash of the secret is stored.
    await env.coordinator.federations.get('sentiment')!.store.flush();
    const saved = await readFile(env.coordinator.federations.get('sentiment')!.store.clientsFile, 'utf8');
    expect(saved).not.toContain(client.secret);
    expect(saved).toContain(client.clientId);
    // Refusals before a join belong to the server, after it (or naming the federation) to the federation.
    expect(federation.refusals.byCode).toEqual({ 'bad-token': 1 });
    expect(state.refusals.byCode).toEqual({ 'unknown-federation': 1, 'not-joined': 1 });
  });

  it('runs a full round over socket.io and keeps identities across reconnects', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir);
    const started = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const [a, b, c] = await Promise.all([
      TestClient.ready(env.coordinator.url, 1, BIG),
      TestClient.ready(env.coordinator.url, 2, SMALL),
      TestClient.ready(env.coordinator.url, 3, BIG),
    ]);
    env.clients.push(a!, b!, c!);
    // minClients 2: the round may start once two are ready, so a third may or may not be in round 0.
    const { selected } = await started;
    const players = env.clients.filter((client) => selected.includes(client.clientId));
    expect(players.length).toBeGreaterThanOrEqual(2);

    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    const replies = await Promise.all(players.map((client) => client.playRound(0)));
    for (const reply of replies) expect(reply).toMatchObject({ ok: true, round: 0 });
    const { record } = await closed;
    expect(record).toMatchObject({
      status: 'aggregated',
      closedBy: 'all-received',
      missing: [],
      personalizedAccuracy: 0.75,
    });
    expect([...record.participants].sort()).toEqual(players.map((p) => p.clientId).sort());
    expect(record.bytes.upload).toBeGreaterThan(0);
    expect(Object.keys(record.memberships).sort()).toEqual(players.map((p) => p.clientId).sort());

    // The small client trained a budget-0.25 plan (pre-masked rows).
    const small = players.find((p) => p === b);
    if (small) {
      const offer = small.offers[0]!.message;
      expect(offer.kind === 'train' && offer.plan.budget).toBe(0.25);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const player of players) {
      // Each notice carries that client's own memberships after the round (the page shows them).
      expect(player.notices).toContainEqual(
        expect.objectContaining({
          round: 0,
          status: 'aggregated',
          included: true,
          memberships: record.memberships[player.clientId],
        }),
      );
    }
    const checkpoint = JSON.parse(
      await readFile(env.coordinator.federations.get('sentiment')!.store.checkpointFile, 'utf8'),
    );
    expect(checkpoint.nextRound).toBe(1);
    expect(checkpoint.history).toHaveLength(1);

    // Reconnect as the same client (a page reload): same id, budget remembered, memberships kept.
    const { clientId, secret } = a!;
    a!.close();
    const again = await TestClient.connect(env.coordinator.url, 1);
    env.clients.push(again);
    expect(await again.join({ clientId, secret: 'not-the-secret' })).toMatchObject({
      ok: false,
      code: 'bad-identity',
    });
    const rejoined = await again.join({ clientId, secret });
    expect(rejoined).toMatchObject({ ok: true, clientId, resumed: true, budget: 1 });
    expect(rejoined).not.toHaveProperty('secret');
    const state = env.coordinator.state().federations[0]!;
    expect(state.clients.filter((x) => x.clientId === clientId)).toHaveLength(1);
    expect(state.clients.find((x) => x.clientId === clientId)).toMatchObject({ connected: true, budget: 1 });
  });

  it('runs several federations side by side, each with its own token', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [
      {},
      {
        id: 'topics',
        token: 'other-token-99',
        strategy: 'fedavg-lora',
        clusters: undefined,
        strategyOptions: {},
      },
    ]);
    const client = await TestClient.connect(env.coordinator.url);
    env.clients.push(client);
    expect(await client.join({ federation: 'topics', token: TOKEN })).toMatchObject({
      ok: false,
      code: 'bad-token',
    });
    expect(await client.join({ federation: 'topics', token: 'other-token-99' })).toMatchObject({
      ok: true,
      federation: { id: 'topics', strategy: 'fedavg-lora' },
    });
    // One federation per connection.
    expect(await client.join()).toMatchObject({ ok: false, code: 'malformed' });
    const ids = env.coordinator.state().federations.map((f) => [f.id, f.clients.length]);
    expect(ids).toEqual([
      ['sentiment', 0],
      ['topics', 1],
    ]);
  });
});
