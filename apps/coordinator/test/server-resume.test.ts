import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { BIG, SMALL, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

describe('coordinator server: persistence and resume', () => {
  it('stopped mid-round, resumes bit-identical to the last completed round and repeats the round', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    const settings = { rounds: 3, roundDelayMs: 100 };
    env.coordinator = await startServer(tmp.dir, [settings]);
    const first = env.coordinator;
    const file = first.federations.get('sentiment')!.store.checkpointFile;
    const started0 = nextEvent(first, 'round-started', (e) => e.round === 0);
    const [a, b] = await Promise.all([
      TestClient.ready(first.url, 1, BIG),
      TestClient.ready(first.url, 2, SMALL),
    ]);
    env.clients.push(a!, b!);
    await started0;

    const saved = nextEvent(first, 'checkpoint', (e) => e.nextRound === 1);
    const started1 = nextEvent(first, 'round-started', (e) => e.round === 1);
    await Promise.all([a!.playRound(0), b!.playRound(0)]);
    await saved;
    const afterRound0 = JSON.stringify(first.federations.get('sentiment')!.strategySnapshot());
    expect(JSON.stringify(JSON.parse(await readFile(file, 'utf8')).strategy)).toBe(afterRound0);

    // Round 1 is under way: one update is in, then the server stops.
    await started1;
    expect(await a!.playRound(1)).toMatchObject({ ok: true, round: 1, received: 1 });
    const identities = [a!, b!].map((c) => ({ clientId: c.clientId, secret: c.secret }));
    for (const client of env.clients) client.close();
    env.clients = [];
    await first.close();
    env.coordinator = null;

    // The file holds the last completed round; a restart without --resume refuses to overwrite it.
    const onDisk = JSON.parse(await readFile(file, 'utf8'));
    expect(onDisk.nextRound).toBe(1);
    expect(JSON.stringify(onDisk.strategy)).toBe(afterRound0);
    await expect(startServer(tmp.dir, [settings])).rejects.toThrow(/--resume/);

    env.coordinator = await startServer(tmp.dir, [settings], true);
    const federation = env.coordinator.federations.get('sentiment')!;
    expect(JSON.stringify(federation.strategySnapshot())).toBe(afterRound0);
    const state = federation.state();
    expect(state).toMatchObject({ round: 1, phase: 'waiting', openRound: null });
    expect(state.history.map((r) => [r.round, r.status])).toEqual([[0, 'aggregated']]);
    expect(state.clients.map((c) => c.clientId).sort()).toEqual(identities.map((i) => i.clientId).sort());

    // The clients come back with their secrets: same identities and budgets, and round 1 runs again.
    const repeated = nextEvent(env.coordinator, 'round-started', (e) => e.round === 1);
    const back = await Promise.all(
      identities.map(async ({ clientId, secret }, i) => {
        const client = await TestClient.connect(env.coordinator!.url, i + 1);
        env.clients.push(client);
        expect(await client.join({ clientId, secret })).toMatchObject({
          ok: true,
          clientId,
          resumed: true,
          budget: i === 0 ? 1 : 0.25,
        });
        client.secret = secret;
        return client;
      }),
    );
    expect((await repeated).selected.sort()).toEqual(identities.map((i) => i.clientId).sort());
    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 1);
    for (const reply of await Promise.all(back.map((client) => client.playRound(1)))) {
      expect(reply).toMatchObject({ ok: true, round: 1 });
    }
    expect((await closed).record).toMatchObject({ status: 'aggregated', attempt: 1 });
    expect(federation.state().history.map((r) => r.round)).toEqual([0, 1]);
  });
});
