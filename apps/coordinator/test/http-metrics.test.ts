import { describe, expect, it } from 'vitest';
import { federationMetrics } from '../src/http/index';
import type { FederationState, RoundRecord } from '../src/server/index';

function record(overrides: Partial<RoundRecord>): RoundRecord {
  return {
    round: 0,
    status: 'aggregated',
    attempt: 1,
    startedAt: 1000,
    deadline: 9000,
    closedAt: 4000,
    closedBy: 'all-received',
    selected: ['a', 'b'],
    skipped: [],
    participants: ['a', 'b'],
    missing: [],
    bytes: { upload: 100, download: 300 },
    budgets: { a: 1, b: 0.25 },
    clientMetrics: {
      a: { accuracy: 1, heldOutExamples: 10, peakBytes: 500, loss: 0.2 },
      b: { accuracy: 0, heldOutExamples: 30, peakBytes: 100, loss: 0.6 },
    },
    personalizedAccuracy: 0.25,
    memberships: { a: [0.9, 0.1], b: [0.2, 0.8] },
    diagnostics: {},
    ...overrides,
  };
}

describe('federation metrics', () => {
  it('weights reported accuracy per cluster by membership and held-out size, and groups memory by budget', () => {
    const failed = record({
      round: 1,
      status: 'failed',
      memberships: {},
      participants: ['a'],
      missing: ['b'],
    });
    const state = {
      id: 'f',
      clients: [
        {
          clientId: 'a',
          budget: 1,
          connected: true,
          capabilities: { backend: 'webgpu', memoryBytes: 4e9, tokensPerSecond: 900 },
        },
        { clientId: 'b', budget: 0.25, connected: false },
      ],
      history: [record({}), failed],
    } as unknown as FederationState;
    const metrics = federationMetrics(state);
    expect(metrics.clusters).toBe(2);
    const [first, second] = metrics.rounds;
    // cluster 0: (0.9*10*1 + 0.2*30*0) / (0.9*10 + 0.2*30) = 0.6; cluster 1: 0.1*10 / (0.1*10 + 0.8*30) = 0.04
    expect(first!.accuracy.perCluster[0]).toBeCloseTo(0.6);
    expect(first!.accuracy.perCluster[1]).toBeCloseTo(0.04);
    expect(first!.accuracy.overall).toBe(0.25);
    expect(first!.loss).toBeCloseTo(0.4);
    expect(first!.durationMs).toBe(3000);
    expect(first!.memoryByBudget).toEqual({
      '0.25': { clients: 1, meanPeakBytes: 100, maxPeakBytes: 100 },
      '1': { clients: 1, meanPeakBytes: 500, maxPeakBytes: 500 },
    });
    // A failed round has no memberships: no per-cluster figure.
    expect(second!.accuracy.perCluster).toEqual([null, null]);
    expect(second).toMatchObject({ status: 'failed', missing: 1 });
    expect(metrics.totals).toEqual({ aggregated: 1, failed: 1, upload: 200, download: 600 });
    expect(metrics.budgets).toEqual({
      '0.25': { clients: 1, connected: 0, meanMemoryBytes: null, meanTokensPerSecond: null },
      '1': { clients: 1, connected: 1, meanMemoryBytes: 4e9, meanTokensPerSecond: 900 },
    });
  });

  it("reports the accountant's epsilon of the last released round; a failed round releases nothing", () => {
    const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-6, expectedParticipants: 2, samplingRate: 1 };
    const history = [
      record({ diagnostics: { dpEpsilon: 3.5, dpNoiseStd: 0.5, dpSteps: 1 } }),
      record({ round: 1, status: 'failed', diagnostics: {} }),
    ];
    const state = { id: 'f', clients: [], history } as unknown as FederationState;
    const metrics = federationMetrics(state, dp);
    expect(metrics.rounds.map((r) => r.epsilon)).toEqual([3.5, null]);
    expect(metrics.privacy).toEqual({ enabled: true, ...dp, epsilon: 3.5, rounds: 1 });
    expect(federationMetrics({ ...state, history: [] }, dp).privacy).toMatchObject({ epsilon: 0, rounds: 0 });
    expect(federationMetrics(state).privacy).toEqual({ enabled: false });
  });
});
