import { describe, expect, it } from 'vitest';
import type { RoundRecord } from '../src/server/index';
import { replayInProcess } from './helpers/replay';
import {
  BIG,
  TestClient,
  federationConfig,
  nextEvent,
  startServer,
  tempDir,
  tinySchema,
} from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

/**
 * 30 % of a round's clients vanish mid-round: 10 real socket.io clients are offered round 0, 3 of them lose
 * their connection right after the offer (the TCP socket is cut: no socket.io disconnect packet, no word),
 * the other 7 train and upload. The round must close at its deadline with exactly the 7 updates (the same
 * aggregate as an in-process run of the strategy on them), name the 3 as missing, and round 1 must run with
 * the 7 survivors only and close as soon as they have all uploaded.
 */

const env = testEnvironment();

/** Cuts the client's connection as a killed tab or a lost network would: ws.terminate() destroys the socket. */
function vanish(client: TestClient): void {
  const transport = client.socket.io.engine.transport as unknown as { ws?: { terminate(): void } };
  if (transport.ws === undefined) throw new Error('expected a websocket transport');
  transport.ws.terminate();
}

const sorted = (ids: readonly string[]) => [...ids].sort();
const ROUND_TIMEOUT_MS = 2500;
const OVERRIDES = { rounds: 2, roundTimeoutMs: ROUND_TIMEOUT_MS, roundDelayMs: 600 };

describe('coordinator server: clients vanishing mid-round', () => {
  it('closes the round at its deadline with the 7 survivors, records the 3 as missing, and goes on', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [OVERRIDES]);
    const federation = env.coordinator.federations.get('sentiment')!;
    const started0 = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const all = await Promise.all(
      Array.from({ length: 10 }, (_, i) => TestClient.ready(env.coordinator!.url, i, BIG)),
    );
    env.clients.push(...all);
    expect((await started0).selected).toHaveLength(10);

    const gone = all.slice(0, 3);
    const survivors = all.slice(3);
    const goneIds = gone.map((c) => c.clientId);
    const survivorIds = survivors.map((c) => c.clientId);
    const left = Promise.all(
      goneIds.map((id) => nextEvent(env.coordinator!, 'client-left', (e) => e.clientId === id, 5_000)),
    );
    const closed0 = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0, 20_000);
    await Promise.all(gone.map((c) => c.offerFor(0)));
    for (const client of gone) vanish(client);
    await left; // the server noticed each lost connection

    const replies0 = await Promise.all(survivors.map((c) => c.playRound(0)));
    for (const reply of replies0) expect(reply).toMatchObject({ ok: true, round: 0 });
    const record0: RoundRecord = (await closed0).record;
    expect(record0).toMatchObject({ status: 'aggregated', closedBy: 'deadline', attempt: 1 });
    expect(sorted(record0.missing)).toEqual(sorted(goneIds));
    expect(sorted(record0.participants)).toEqual(sorted(survivorIds));
    expect(record0.selected).toHaveLength(10);
    // Closed by its deadline: not before it, and not long after (nothing waited on the vanished clients).
    expect(record0.closedAt).toBeGreaterThanOrEqual(record0.deadline - 5);
    expect(record0.closedAt - record0.deadline).toBeLessThan(1000);
    expect(Object.keys(record0.clientMetrics).sort()).toEqual(sorted(survivorIds));
    const afterRound0 = JSON.stringify(federation.strategySnapshot());

    // Round 1: only the connected survivors are selected; with all 7 in, it closes without waiting.
    const started1 = await nextEvent(env.coordinator, 'round-started', (e) => e.round === 1);
    expect(sorted(started1.selected)).toEqual(sorted(survivorIds));
    const closed1 = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 1, 20_000);
    const replies1 = await Promise.all(survivors.map((c) => c.playRound(1)));
    for (const reply of replies1) expect(reply).toMatchObject({ ok: true, round: 1 });
    const record1 = (await closed1).record;
    expect(record1).toMatchObject({ status: 'aggregated', closedBy: 'all-received', missing: [] });
    expect(record1.closedAt).toBeLessThan(record1.deadline);
    expect(sorted(record1.participants)).toEqual(sorted(survivorIds));

    // Nothing is left open or stuck; the vanished clients show as disconnected, included in no round.
    const state = env.coordinator.state().federations[0]!;
    expect(state).toMatchObject({ phase: 'finished', openRound: null });
    expect(state.history.map((r) => [r.round, r.status])).toEqual([
      [0, 'aggregated'],
      [1, 'aggregated'],
    ]);
    for (const id of goneIds) {
      expect(state.clients.find((c) => c.clientId === id)).toMatchObject({
        connected: false,
        roundsIncluded: 0,
      });
    }
    for (const id of survivorIds) {
      expect(state.clients.find((c) => c.clientId === id)).toMatchObject({
        connected: true,
        roundsIncluded: 2,
      });
    }
    expect(state.refusals.total).toBe(0);

    // The same rounds in-process: every selected client offered, the survivors' updates in arrival order.
    const schema = await tinySchema();
    const config = federationConfig(OVERRIDES);
    const byId = new Map(all.map((c) => [c.clientId, c]));
    const played = [record0, record1].map((record) => ({
      selected: record.selected,
      budgets: record.budgets!,
      uploads: record.participants.map((id) => byId.get(id)!.uploads.get(record.round)!),
    }));
    expect(JSON.stringify(replayInProcess(config, schema, played.slice(0, 1)))).toBe(afterRound0);
    expect(JSON.stringify(federation.strategySnapshot())).toBe(
      JSON.stringify(replayInProcess(config, schema, played)),
    );
  }, 60_000);
});
