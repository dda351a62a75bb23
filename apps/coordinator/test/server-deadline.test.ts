import { describe, expect, it } from 'vitest';
import { BIG, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

async function readyClients(url: string, seeds: number[]): Promise<TestClient[]> {
  const ready = await Promise.all(seeds.map((seed) => TestClient.ready(url, seed, BIG)));
  env.clients.push(...ready);
  return ready;
}

describe('coordinator server: deadlines and stragglers', () => {
  it('aggregates what arrived by the deadline and refuses the dropped client’s late update', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    // All three connect well within the start delay, so all three are selected.
    env.coordinator = await startServer(tmp.dir, [{ rounds: 1, roundTimeoutMs: 1500, roundDelayMs: 400 }]);
    const started = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const [a, b, dropped] = await readyClients(env.coordinator.url, [1, 2, 3]);
    expect((await started).selected).toHaveLength(3);

    // The third client gets its offer, trains, then its tab closes before it uploads.
    const droppedOffer = await dropped!.offerFor(0);
    const lateUpdate = await dropped!.train(droppedOffer);
    const { clientId, secret } = dropped!;
    dropped!.close();

    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    await Promise.all([a!.playRound(0), b!.playRound(0)]);
    const { record } = await closed;
    expect(record).toMatchObject({ status: 'aggregated', closedBy: 'deadline', missing: [clientId] });
    expect([...record.participants].sort()).toEqual([a!.clientId, b!.clientId].sort());
    expect(record.closedAt - record.startedAt).toBeGreaterThanOrEqual(1400);

    // It comes back with its identity and uploads anyway: refused, with the reason.
    const back = await TestClient.connect(env.coordinator.url, 3);
    env.clients.push(back);
    expect(await back.join({ clientId, secret })).toMatchObject({ ok: true, clientId, resumed: true });
    const reply = await back.upload(droppedOffer, lateUpdate);
    expect(reply).toMatchObject({ ok: false, code: 'wrong-round' });
    expect(reply.reason).toMatch(/round 0 was aggregated at .*deadline.*late update refused/);
    const state = env.coordinator.state().federations[0]!;
    expect(state.phase).toBe('finished');
    expect(state.refusals.byCode).toEqual({ 'wrong-round': 1 });
    expect(state.refusals.recent[0]).toMatchObject({ clientId, event: 'update', code: 'wrong-round' });
  });

  it('fails a round below the minimum, rolls the strategy back and repeats the round number', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [{ rounds: 1, roundTimeoutMs: 1000, roundDelayMs: 200 }]);
    const federation = env.coordinator.federations.get('sentiment')!;
    const before = JSON.stringify(federation.strategySnapshot());
    const first = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const [a, b] = await readyClients(env.coordinator.url, [1, 2]);
    await first;

    // Only one of the two required updates arrives.
    const failed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    const retry = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0 && e.deadline > 0);
    expect(await a!.playRound(0)).toMatchObject({ ok: true });
    const { record } = await failed;
    expect(record).toMatchObject({
      status: 'failed',
      attempt: 1,
      participants: [a!.clientId],
      missing: [b!.clientId],
    });
    expect(record.reason).toMatch(/1 of the required 2 updates/);
    // Nothing of the failed attempt is kept.
    expect(JSON.stringify(federation.strategySnapshot())).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(a!.notices).toContainEqual(
      expect.objectContaining({ round: 0, status: 'failed', included: false }),
    );

    // The round is offered again (new offer ids); the old offer's upload is refused as stale.
    await retry;
    const stale = a!.offers[0]!;
    const fresh = await new Promise<void>((resolve) => {
      const poll = () => (a!.offers.length > 1 && b!.offers.length > 1 ? resolve() : setTimeout(poll, 10));
      poll();
    }).then(() => [a!.offers[1]!, b!.offers[1]!]);
    expect(fresh[0]!.message.kind === 'train' && fresh[0]!.message.offerId).not.toBe(
      stale.message.kind === 'train' && stale.message.offerId,
    );
    const staleReply = await a!.upload(stale, a!.uploads.get(0)!);
    expect(staleReply).toMatchObject({ ok: false, code: 'not-offered' });

    const done = nextEvent(
      env.coordinator,
      'round-closed',
      (e) => e.record.round === 0 && e.record.attempt === 2,
    );
    const replies = await Promise.all(
      [a!, b!].map(async (client, i) => client.upload(fresh[i]!, await client.train(fresh[i]!))),
    );
    for (const reply of replies) expect(reply).toMatchObject({ ok: true, round: 0 });
    expect((await done).record).toMatchObject({ status: 'aggregated', attempt: 2, missing: [] });
    expect(JSON.stringify(federation.strategySnapshot())).not.toBe(before);
    expect(env.coordinator.state().federations[0]!.history.map((r) => r.status)).toEqual([
      'failed',
      'aggregated',
    ]);
  });
});
