import { describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { DEFAULT_RDP_ORDERS, RdpAccountant } from '@fedhft/core';
import { attachWeb, type DashboardSnapshot, type FederationMetrics } from '../src/http/index';
import { BIG, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

/**
 * Differential privacy through the coordinator: a live federation with strategyOptions.dp runs two rounds, and
 * the metrics API and the dashboard snapshot must carry the strategy accountant's epsilon after each round,
 * equal to an independent computation (core's RdpAccountant composed round by round, and the closed form of
 * the plain Gaussian mechanism at sampling rate 1), while a federation without dp says privacy is off.
 */

const env = testEnvironment();

const DP = { noiseMultiplier: 1.2, clipNorm: 1, delta: 1e-5, expectedParticipants: 2, samplingRate: 1 };

/** At q = 1 one round has RDP(alpha) = alpha / (2 sigma^2); epsilon = min_alpha T RDP(alpha) + log(1/delta)/(alpha-1). */
function gaussianEpsilon(rounds: number): number {
  return Math.min(
    ...DEFAULT_RDP_ORDERS.map(
      (alpha) => (rounds * alpha) / (2 * DP.noiseMultiplier ** 2) + Math.log(1 / DP.delta) / (alpha - 1),
    ),
  );
}

async function metrics(id: string): Promise<FederationMetrics> {
  const response = await fetch(`${env.coordinator!.url}/api/federations/${id}/metrics`);
  expect(response.status).toBe(200);
  return (await response.json()) as FederationMetrics;
}

describe('differential privacy in the metrics API and the dashboard', () => {
  it("reports the accountant's epsilon after each round, growing, and 'off' without dp", async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [
      { rounds: 2, roundDelayMs: 200, strategyOptions: { warmupRounds: 1, dp: DP } },
      { id: 'plain', token: 'plain-token-4567', rounds: 1, minClients: 5 },
    ]);
    env.web = await attachWeb(env.coordinator, { pages: false });
    const socket = io(`${env.coordinator.url}/dashboard`, { transports: ['websocket'], forceNew: true });
    env.sockets.push(socket);
    const snapshots: DashboardSnapshot[] = [];
    socket.on('snapshot', (snapshot: DashboardSnapshot) => void snapshots.push(snapshot));

    expect((await metrics('plain')).privacy).toEqual({ enabled: false });
    expect((await metrics('sentiment')).privacy).toEqual({ enabled: true, ...DP, epsilon: 0, rounds: 0 });

    const [a, b] = await Promise.all([1, 2].map((seed) => TestClient.ready(env.coordinator!.url, seed, BIG)));
    env.clients.push(a!, b!);
    const accountant = new RdpAccountant();
    const expected: number[] = [];
    for (const round of [0, 1]) {
      const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === round);
      const replies = await Promise.all([a!.playRound(round), b!.playRound(round)]);
      for (const reply of replies) expect(reply).toMatchObject({ ok: true, round });
      expect((await closed).record).toMatchObject({
        status: 'aggregated',
        diagnostics: { dpSteps: round + 1 },
      });
      accountant.compose(DP.samplingRate, DP.noiseMultiplier);
      expected.push(accountant.epsilon(DP.delta).epsilon);
      expect(expected[round]).toBeCloseTo(gaussianEpsilon(round + 1), 9);

      const now = await metrics('sentiment');
      expect(now.rounds).toHaveLength(round + 1);
      expect(now.rounds[round]!.epsilon).toBeCloseTo(expected[round]!, 9);
      expect(now.privacy).toMatchObject({ enabled: true, delta: DP.delta, rounds: round + 1 });
      expect(now.privacy.enabled && now.privacy.epsilon).toBe(now.rounds[round]!.epsilon);
    }
    const final = await metrics('sentiment');
    const perRound = final.rounds.map((r) => r.epsilon!);
    expect(perRound[1]).toBeGreaterThan(perRound[0]!);
    expect(perRound[0]).toBeGreaterThan(0);

    // The dashboard's snapshot carries the same figures.
    await expect
      .poll(
        () => snapshots.at(-1)?.federations.find((f) => f.state.id === 'sentiment')?.metrics.rounds.length,
      )
      .toBe(2);
    const last = snapshots.at(-1)!.federations;
    expect(last.find((f) => f.state.id === 'sentiment')!.metrics.privacy).toEqual(final.privacy);
    expect(last.find((f) => f.state.id === 'plain')!.metrics.privacy).toEqual({ enabled: false });
  }, 60_000);
});
