import { describe, expect, it } from 'vitest';
import { runScalePoint, scaleSchema } from '../src/bench/scale-run';

/**
 * The scale benchmark's pieces at a small N: 2 client processes x 5 lightweight clients, 2 rounds (the second
 * fits the memberships). Every client's update must be decoded and aggregated, and the figures the benchmark
 * reports must be present and agree with what the clients counted on their side.
 */

/** A small point: the tiny 16-wide model, deadlines far beyond what these sizes need. */
const SMALL = {
  processes: 2,
  width: 16,
  layers: 1,
  rank: 4,
  clusters: 2,
  joinTimeoutMs: 30_000,
  roundTimeoutMs: 30_000,
};

describe('bench:scale', () => {
  it('aggregates every client update each round and reports sane figures', async () => {
    const point = await runScalePoint({ ...SMALL, clients: 10, rounds: 2 });
    expect(point.error).toBeUndefined();
    expect(point).toMatchObject({ clients: 10, processes: 2, joined: 10 });
    expect(point.rounds.map((r) => [r.round, r.status, r.participants, r.closedBy])).toEqual([
      [0, 'aggregated', 10, 'all-received'],
      [1, 'aggregated', 10, 'all-received'],
    ]);
    // Round 1 is the first after the warm-up: the memberships are fitted there.
    expect(point.rounds[1]!.diagnostics.membershipsUpdated).toBe(1);

    const stats = point.clientStats!;
    expect(stats).toMatchObject({ uploads: 20, refusedUploads: 0, notices: { 0: 10, 1: 10 }, reconnects: 0 });
    expect(point.clientsLeft).toBe(0);
    // The server's byte counts are the clients' own.
    expect(point.rounds.reduce((sum, r) => sum + r.uploadBytes, 0)).toBe(stats.bytesUp);
    expect(point.rounds.reduce((sum, r) => sum + r.downloadBytes, 0)).toBe(stats.bytesDown);
    for (const round of point.rounds) {
      // Budgets 1, 0.5, 0.25 in turn: updates differ in size but none is empty.
      expect(round.uploadBytes / 10).toBeGreaterThan(500);
      for (const ms of [round.offersMs, round.collectMs, round.aggregateMs, round.closeMs]) {
        expect(ms).toBeGreaterThanOrEqual(0);
      }
      expect(round.closeMs).toBeGreaterThanOrEqual(round.aggregateMs);
      expect(round.roundMs).toBeGreaterThanOrEqual(round.collectMs + round.closeMs);
      expect(round.roundMs).toBeLessThan(30_000);
      expect(round.memoryAllReceived!.heapUsed).toBeGreaterThan(0);
      expect(round.memoryAfter.rss).toBeGreaterThan(round.memoryAfter.heapUsed);
    }
    expect(point.joinMs).toBeGreaterThan(0);
    expect(point.memoryJoined!.heapUsed).toBeGreaterThan(0);
    // K_c = 2 clusters x (2 adapted 16x16 weights + a 16x2 head and its bias).
    expect(point.aggregatorFloats).toBe(2 * (2 * 16 * 16 + 17 * 2));
  });

  it('clients the server drops mid-round rejoin, get their offer again and the round still has every update', async () => {
    const point = await runScalePoint({ ...SMALL, clients: 6, rounds: 1, dropConnections: 2 });
    expect(point.error).toBeUndefined();
    expect(point.rounds.map((r) => [r.status, r.participants])).toEqual([['aggregated', 6]]);
    expect(point.clientsLeft).toBe(2);
    expect(point.clientStats).toMatchObject({ uploads: 6, reconnects: 2, failedReconnects: 0 });
    expect(point.clientStats!.disconnects['io server disconnect']).toBe(2);
  });

  it('builds the synthetic model from its width, layers and rank', () => {
    const schema = scaleSchema(32, 2, 8);
    expect(schema.adapted.map((w) => [w.name, w.dOut, w.dIn])).toEqual([
      ['layers.0.attention.query', 32, 32],
      ['layers.0.attention.value', 32, 32],
      ['layers.1.attention.query', 32, 32],
      ['layers.1.attention.value', 32, 32],
    ]);
    expect(schema).toMatchObject({ embeddingSize: 32, numClasses: 2, rank: 8, alpha: 16 });
  });
});
