import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/simulate/config';
import { fullReport } from '../src/simulate/report';
import { runSimulation, type ProgressEvent } from '../src/simulate/run';

/**
 * The smoke configuration of issue 5: a few clients, 2 rounds, tiny data (40 SpamAssassin e-mails per client,
 * 32 tokens, 1 epoch), FedHFT with 2 clusters whose memberships are fitted after round 0. It checks the run
 * completes and that the JSON report has every field.
 */
const SMOKE = {
  dataset: 'spam-assassin',
  maxTextChars: 300,
  clients: 3,
  examplesPerClient: 40,
  testExamples: 40,
  rounds: 2,
  localEpochs: 1,
  batchSize: 16,
  maxSeqLen: 32,
  rank: 4,
  alpha: 8,
  strategy: 'fedhft',
  clusters: 2,
  strategyOptions: { warmupRounds: 1 },
  dirichletAlpha: 0.5,
  seeds: [0],
};

function expectEvaluation(value: unknown): void {
  expect(value).toEqual({
    accuracy: expect.any(Number),
    macroF1: expect.any(Number),
    loss: expect.any(Number),
    count: expect.any(Number),
  });
}

describe('npm run simulate (smoke configuration)', () => {
  it('runs a tiny FedHFT federation and reports every field', async () => {
    const config = parseConfig(SMOKE);
    const events: ProgressEvent[] = [];
    const result = await runSimulation(config, { onProgress: (e) => events.push(e), command: 'smoke' });
    // The report is JSON: what --out writes must survive a round trip.
    const json = JSON.parse(JSON.stringify(result)) as typeof result;

    expect(json.version).toBe(1);
    expect(json.config).toEqual(config);
    for (const key of [
      'command',
      'date',
      'node',
      'cores',
      'backend',
      'encoder',
      'encoderParameters',
      'wallSeconds',
    ]) {
      expect(json.environment, key).toHaveProperty(key);
    }
    expect(Object.keys(json.evaluation).sort()).toEqual(['bytes', 'global', 'memory', 'personalized']);
    expect(events.at(-1)).toMatchObject({ done: 6, total: 6 });

    expect(json.runs).toHaveLength(1);
    const run = json.runs[0]!;
    expect(run.seed).toBe(0);
    expect(run.data.dataset).toBe('spam-assassin');
    expect(run.data.labelNames).toEqual(['ham', 'spam']);
    expect(run.data.poolExamples).toBe(120);
    expect(run.data.testExamples).toBe(40);
    expect(run.data.clients).toHaveLength(3);
    const sizes = run.data.clients.map((c) => c.trainExamples + c.heldOutExamples);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(120);
    expect(new Set(run.data.clients.map((c) => c.budget))).toEqual(new Set([1, 0.5, 0.25]));

    expect(run.rounds).toHaveLength(2);
    for (const round of run.rounds) {
      expect(round.participants).toEqual(['client-0', 'client-1', 'client-2']);
      expect(round.skipped).toEqual([]);
      expect(round.clients).toHaveLength(3);
      for (const client of round.clients) {
        expect(client.uploadBytes).toBeGreaterThan(0);
        expect(client.downloadBytes).toBeGreaterThan(0);
        expect(client.peakBytes).toBeGreaterThan(client.trainingBytes);
        expect(client.trainingBytes).toBeGreaterThan(0);
        expect(client.steps).toBeGreaterThan(0);
        expect(Number.isFinite(client.meanLoss)).toBe(true);
        expectEvaluation(client.personalized);
      }
      // Smaller budgets upload fewer rows of B.
      const upload = (budget: number) => round.clients.find((c) => c.budget === budget)!.uploadBytes;
      expect(upload(0.25)).toBeLessThan(upload(0.5));
      expect(upload(0.5)).toBeLessThan(upload(1));
      expect(round.personalized).toMatchObject({ clients: 3, accuracy: expect.any(Number) });
      expect(round.global).toHaveLength(2);
      for (const cluster of round.global!) expect(cluster.count).toBe(40);
      expect(round.bytes.uploadPerClient).toBeGreaterThan(0);
      expect(round.bytes.downloadPerClient).toBeGreaterThan(0);
      expect(Object.keys(round.peakBytesByBudget).sort()).toEqual(['0.25', '0.5', '1']);
      expect(Object.keys(round.trainingBytesByBudget).sort()).toEqual(['0.25', '0.5', '1']);
      expect(Object.keys(round.memberships).sort()).toEqual(['client-0', 'client-1', 'client-2']);
      for (const pi of Object.values(round.memberships)) {
        expect(pi).toHaveLength(2);
        expect(pi.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      }
      expect(round.diagnostics).toHaveProperty('membershipsUpdated');
      expect(round.wallSeconds).toBeGreaterThan(0);
      expect(round.trainSeconds).toBeGreaterThan(0);
      expect(round.evalSeconds).toBeGreaterThanOrEqual(0);
    }
    // Warm-up is one round: the memberships are fitted after round 1.
    expect(run.rounds[1]!.diagnostics.membershipsUpdated).toBe(1);

    const summary = run.summary;
    expect(summary.rounds).toBe(2);
    expect(summary.finalPersonalized).toMatchObject({ clients: 3 });
    expect(summary.bestPersonalizedAccuracy).toEqual(expect.any(Number));
    expect(summary.finalGlobal?.clusters).toHaveLength(2);
    expect(summary.uploadBytesPerClientRound).toBeGreaterThan(0);
    expect(summary.downloadBytesPerClientRound).toBeGreaterThan(0);
    expect(summary.totalUploadBytes).toBe(run.rounds.reduce((s, r) => s + r.bytes.upload, 0));
    expect(summary.clientRounds).toBe(6);
    expect(Object.keys(summary.peakBytesByBudget)).toHaveLength(3);

    expect(json.summary.seeds).toBe(1);
    expect(json.summary.personalizedAccuracy?.values).toHaveLength(1);
    expect(json.summary.globalBestAccuracy?.values).toHaveLength(1);
    expect(json.summary.uploadBytesPerClientRound.mean).toBe(summary.uploadBytesPerClientRound);

    const report = fullReport(result);
    expect(report).toContain('personalized accuracy');
    expect(report).toContain('peak MiB s=0.25');
  });
});
