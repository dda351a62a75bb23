import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  dpEpsilon,
  FedAvgFullStrategy,
  FedHftStrategy,
  HeteroFlStrategy,
  PROTOCOL_VERSION,
  type ClientUpdate,
  type DenseTensor,
  type DpOptions,
  type HeadParams,
  type MaskedFactors,
  type ModelSchema,
  type RoundSummary,
  type Strategy,
} from '../src/index';
import { clientProfile } from './helpers/fixtures';

/** q is 64 x 32 so that rows nobody sends give thousands of pure-noise entries to measure. */
const SCHEMA: ModelSchema = {
  adapted: [{ name: 'q', dOut: 64, dIn: 32 }],
  dense: [
    { name: 'w', shape: [40, 50] },
    { name: 'b', shape: [50] },
  ],
  embeddingSize: 4,
  numClasses: 3,
  rank: 1,
  alpha: 1,
};
const [dOut, dIn] = [64, 32];

const DP: DpOptions = {
  noiseMultiplier: 1.2,
  clipNorm: 0.5,
  delta: 1e-5,
  expectedParticipants: 4,
  samplingRate: 0.1,
  seed: 7,
};
/** sigma S / E: the std of the noise on every released coordinate. */
const RELEASE_STD = (1.2 * 0.5) / 4;

const profile = clientProfile;

function zeroHead(): HeadParams {
  return { embeddingSize: 4, numClasses: 3, kernel: new Float32Array(12), bias: new Float32Array(3) };
}

/** Rank-1 factors over `rows`: row rows[i] of the delta is B[i] * A. */
function factors(rows: number[], B: number[], A: number[]): MaskedFactors {
  return {
    dOut,
    dIn,
    rank: 1,
    rows: Int32Array.from(rows),
    A: Float32Array.from(A),
    B: Float32Array.from(B),
    scale: 1,
  };
}

function loraUpdate(id: string, round: number, q: MaskedFactors, head = zeroHead(), n = 1): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: id,
    round,
    exampleCount: n,
    adapters: new Map([['q', q]]),
    dense: new Map(),
    head,
  };
}

/** A 32-vector with `value` at `at`. */
const unit = (at: number, value = 1) => Array.from({ length: dIn }, (_, j) => (j === at ? value : 0));

/** Post-mask round: each client sends its rows (budget 2 / 64: at most 2 rows). */
function loraRound(strategy: Strategy, round: number, updates: ClientUpdate[]): RoundSummary {
  for (const u of updates) strategy.offer(profile(u.clientId, 2 / 64, u.exampleCount), round);
  for (const u of updates) strategy.receive(u, profile(u.clientId, 2 / 64, u.exampleCount));
  return strategy.finishRound(round);
}

function stats(values: ArrayLike<number>) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(squares / (values.length - 1)), n: values.length };
}

/** Sets memberships through a snapshot (the way a checkpoint would carry them). */
function setMemberships(strategy: FedHftStrategy, memberships: Record<string, number[]>): void {
  const snapshot = JSON.parse(JSON.stringify(strategy.snapshot()));
  snapshot.state.memberships = memberships;
  strategy.restore(snapshot);
}

const twoClients = (round: number) => [
  loraUpdate('a', round, factors([0, 1], [0.1, 0.2], unit(0))),
  loraUpdate('b', round, factors([1, 2], [0.3, 0.1], unit(1))),
];

describe('FedHFT with differential privacy', () => {
  it('adds N(0, (sigma S / E)^2) to every uncovered row and to the head: the measured std matches', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 1, maskTiming: 'post', dp: DP });
    const summary = loraRound(strategy, 0, twoClients(0));
    const q = summary.clusterModels[0]!.deltas.get('q')!;
    const uncovered = q.subarray(3 * dIn); // rows 3..63: nobody sent them
    const { mean, std, n } = stats(uncovered);
    expect(n).toBe(61 * 32);
    // Measured: std 0.1507 against 0.15 (standard error 0.0024), mean 0.0019 (standard error 0.0034);
    // 68.3% within one std, 95.2% within two.
    expect(Math.abs(std / RELEASE_STD - 1)).toBeLessThan(0.04);
    expect(Math.abs(mean)).toBeLessThan((3 * RELEASE_STD) / Math.sqrt(n));
    // About 68.3% within one std, 95.4% within two.
    const within = (k: number) => uncovered.filter((v) => Math.abs(v) < k * RELEASE_STD).length / n;
    expect(within(1)).toBeGreaterThan(0.65);
    expect(within(1)).toBeLessThan(0.72);
    expect(within(2)).toBeGreaterThan(0.94);
    // The head is noised too, though nobody changed it.
    const { kernel, bias } = summary.clusterModels[0]!.head;
    expect([...kernel, ...bias].every((v) => v !== 0)).toBe(true);
    expect(summary.diagnostics?.dpNoiseStd).toBeCloseTo(RELEASE_STD, 12);
  });

  it('divides the clipped, membership-weighted sum by expectedParticipants, not by the row normaliser', () => {
    // sigma tiny: what is left is the signal, (sum_k pi_kj clip(u_k)) / E.
    const dp = { ...DP, noiseMultiplier: 1e-9, clipNorm: 10, expectedParticipants: 8 };
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', dp });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    const head = (bias: number[]): HeadParams => ({ ...zeroHead(), bias: Float32Array.from(bias) });
    const summary = loraRound(strategy, 0, [
      loraUpdate('a', 0, factors([0, 1], [1, 2], unit(0)), head([4, 0, 0])),
      loraUpdate('b', 0, factors([1, 2], [3, 1], unit(0)), head([0, 8, 0])),
    ]);
    const column0 = (j: number) =>
      Array.from({ length: 4 }, (_, d) => summary.clusterModels[j]!.deltas.get('q')![d * dIn]!);
    // Cluster 0, row 1: (0.75 * 2 + 0.25 * 3) / 8; the membership normaliser would have divided by 1.
    [1 * 0.75, 2 * 0.75 + 3 * 0.25, 1 * 0.25, 0].forEach((v, d) =>
      expect(column0(0)[d]).toBeCloseTo(v / 8, 7),
    );
    [1 * 0.25, 2 * 0.25 + 3 * 0.75, 1 * 0.75, 0].forEach((v, d) =>
      expect(column0(1)[d]).toBeCloseTo(v / 8, 7),
    );
    // H_j += (sum_k pi_kj (H_k - start)) / E; the start is the zero head.
    const bias0 = summary.clusterModels[0]!.head.bias;
    [(0.75 * 4) / 8, (0.25 * 8) / 8, 0].forEach((v, i) => expect(bias0[i]).toBeCloseTo(v, 7));
  });

  it('clips every update (adapter delta and head change together) to dp.clipNorm', () => {
    const dp = { ...DP, noiseMultiplier: 1e-9, clipNorm: 1, expectedParticipants: 1 };
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 1, maskTiming: 'post', dp });
    // Norm sqrt(3^2 + 4^2) = 5 over the delta (row 0) and the head bias: clipped to 1.
    const summary = loraRound(strategy, 0, [
      loraUpdate('a', 0, factors([0], [3], unit(0)), { ...zeroHead(), bias: Float32Array.of(4, 0, 0) }),
    ]);
    expect(summary.clusterModels[0]!.deltas.get('q')![0]).toBeCloseTo(0.6, 6);
    expect(summary.clusterModels[0]!.head.bias[0]).toBeCloseTo(0.8, 6);
    expect(summary.diagnostics?.meanClipFactor).toBeCloseTo(0.2, 6);
  });

  it('noises every cluster, also one no client has weight in, and counts one step per round for all K_c', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 3, maskTiming: 'post', dp: DP });
    // a's memberships sum to 1 + 5e-7, within the 1e-6 a probability vector is allowed: scaled to sum to 1.
    setMemberships(strategy, { a: [1.0000005, 0, 0], b: [1, 0, 0] });
    const summary = loraRound(strategy, 0, twoClients(0));
    // Measured: std 0.1499 in both.
    for (const j of [1, 2]) {
      const { std } = stats(summary.clusterModels[j]!.deltas.get('q')!);
      expect(Math.abs(std / RELEASE_STD - 1)).toBeLessThan(0.04);
    }
    // The clusters' noise is independent.
    expect(summary.clusterModels[1]!.deltas.get('q')).not.toEqual(summary.clusterModels[2]!.deltas.get('q'));
    const oneStep = dpEpsilon({ samplingRate: 0.1, noiseMultiplier: 1.2, delta: 1e-5, rounds: 1 }).epsilon;
    expect(summary.diagnostics?.dpEpsilon).toBe(oneStep);
    expect(summary.diagnostics?.dpSteps).toBe(1);
  });

  it('is reproducible under a seed and different under another; unseeded noise is unpredictable', () => {
    const play = (dp: DpOptions) =>
      loraRound(new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', dp }), 0, twoClients(0));
    expect(play(DP)).toEqual(play(DP));
    const other = play({ ...DP, seed: 8 }).clusterModels[0]!.deltas.get('q')!;
    expect(other).not.toEqual(play(DP).clusterModels[0]!.deltas.get('q'));
    const { seed: _, ...unseeded } = DP;
    const [x, y] = [play(unseeded), play(unseeded)].map((s) => s.clusterModels[0]!.deltas.get('q')!);
    expect(x).not.toEqual(y);
    expect(Math.abs(stats(x!.subarray(3 * dIn)).std / RELEASE_STD - 1)).toBeLessThan(0.1);
  });

  it('reports the running epsilon, growing each round (empty ones too) and equal to dpEpsilon', () => {
    const strategy = new HeteroFlStrategy(SCHEMA, { clusters: 2, warmupRounds: 100, dp: DP });
    const epsilons: number[] = [];
    for (let round = 0; round < 6; round++) {
      // Round 3 has no participant: noise is released all the same, and it counts.
      const clients = round === 3 ? [] : ['a', 'b', 'c'];
      for (const id of clients) strategy.offer(profile(id, 2 / 64), round);
      for (const id of clients)
        strategy.receive(loraUpdate(id, round, factors([0, 1], [1, 1], unit(0))), profile(id, 2 / 64));
      const summary = strategy.finishRound(round);
      const expected = dpEpsilon({ samplingRate: 0.1, noiseMultiplier: 1.2, delta: 1e-5, rounds: round + 1 });
      expect(summary.diagnostics?.dpEpsilon).toBe(expected.epsilon);
      expect(summary.diagnostics?.dpSteps).toBe(round + 1);
      epsilons.push(summary.diagnostics!.dpEpsilon!);
    }
    for (let i = 1; i < epsilons.length; i++) expect(epsilons[i]).toBeGreaterThan(epsilons[i - 1]!);
    // Measured at delta 1e-5: 1.93, 2.16, 2.28, 2.40, 2.52, 2.64 (few rounds: log(1 / delta) dominates).
    expect(epsilons[0]).toBeCloseTo(1.93, 2);
    expect(epsilons[5]).toBeCloseTo(2.64, 2);
  });

  it('snapshot carries the accountant steps: a restored strategy continues the same epsilon and noise', () => {
    const original = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', dp: DP });
    for (let round = 0; round < 3; round++) loraRound(original, round, twoClients(round));
    const snapshot = JSON.parse(JSON.stringify(original.snapshot()));
    expect(snapshot.state.dpSteps).toBe(3);
    const restored = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', dp: DP });
    restored.restore(snapshot);
    const [a, b] = [original, restored].map((s) => loraRound(s, 3, twoClients(3)));
    expect(b).toEqual(a);
    expect(a!.diagnostics?.dpSteps).toBe(4);
    // Refused: missing steps, or a snapshot of another dp configuration.
    const broken = JSON.parse(JSON.stringify(snapshot));
    delete broken.state.dpSteps;
    expect(() => restored.restore(broken)).toThrow(/dpSteps must be an integer/);
    const noisier = new FedHftStrategy(SCHEMA, {
      clusters: 2,
      maskTiming: 'post',
      dp: { ...DP, noiseMultiplier: 2 },
    });
    expect(() => noisier.restore(snapshot)).toThrow(/other options/);
    // A strategy without dp keeps its old snapshot configuration (no robust / dp keys).
    const plain = JSON.parse(JSON.stringify(new FedHftStrategy(SCHEMA).snapshot()));
    expect(Object.keys(plain.config.options)).not.toContain('dp');
    expect(plain.state.dpSteps).toBeUndefined();
  });
});

describe('FedAvg full fine-tuning with differential privacy', () => {
  function denseUpdate(id: string, round: number, w: Float32Array, b: Float32Array, n: number): ClientUpdate {
    return {
      protocolVersion: PROTOCOL_VERSION,
      clientId: id,
      round,
      exampleCount: n,
      adapters: new Map(),
      dense: new Map<string, DenseTensor>([
        ['w', { shape: [40, 50], data: w }],
        ['b', { shape: [50], data: b }],
      ]),
      head: zeroHead(),
    };
  }
  function play(strategy: Strategy, round: number, updates: ClientUpdate[]): RoundSummary {
    for (const u of updates) strategy.offer(profile(u.clientId, 1, u.exampleCount), round);
    for (const u of updates) strategy.receive(u, profile(u.clientId, 1, u.exampleCount));
    return strategy.finishRound(round);
  }

  it('noises every entry of every dense weight with std sigma S / E, and sums with weight 1 (not N_k)', () => {
    const zeros = (id: string) => denseUpdate(id, 0, new Float32Array(2000), new Float32Array(50), 5);
    const summary = play(new FedAvgFullStrategy(SCHEMA, { dp: DP }), 0, [zeros('a'), zeros('b')]);
    const { std, mean, n } = stats(summary.clusterModels[0]!.dense.get('w')!);
    // Measured: std 0.1500 against 0.15 over 2000 entries, mean 0.0004.
    expect(Math.abs(std / RELEASE_STD - 1)).toBeLessThan(0.04);
    expect(Math.abs(mean)).toBeLessThan((3 * RELEASE_STD) / Math.sqrt(n));
    expect(summary.diagnostics?.dpEpsilon).toBe(
      dpEpsilon({ samplingRate: 0.1, noiseMultiplier: 1.2, delta: 1e-5, rounds: 1 }).epsilon,
    );
    // Signal with sigma tiny: (u_a + u_b) / E, whatever the example counts (1 and 99).
    const quiet = new FedAvgFullStrategy(SCHEMA, { dp: { ...DP, noiseMultiplier: 1e-9, clipNorm: 100 } });
    const w = (v: number) => new Float32Array(2000).fill(v);
    const result = play(quiet, 0, [
      denseUpdate('a', 0, w(0.1), new Float32Array(50), 1),
      denseUpdate('b', 0, w(0.3), new Float32Array(50), 99),
    ]);
    expect(result.clusterModels[0]!.dense.get('w')![17]).toBeCloseTo(0.4 / 4, 6);
    // Snapshot carries the steps.
    const snapshot = JSON.parse(JSON.stringify(quiet.snapshot()));
    expect(snapshot.state.dpSteps).toBe(1);
    const restored = new FedAvgFullStrategy(SCHEMA, { dp: { ...DP, noiseMultiplier: 1e-9, clipNorm: 100 } });
    restored.restore(snapshot);
    expect(restored.finishRound(1).diagnostics?.dpSteps).toBe(2);
  });
});

describe('dp options', () => {
  it('are validated with clear errors', () => {
    const fedhft = (options: object) => () => createStrategy('fedhft', SCHEMA, options as never);
    const withDp = (change: object) => fedhft({ dp: { ...DP, ...change } });
    expect(withDp({ noiseMultiplier: 0 })).toThrow(/dp.noiseMultiplier must be a finite positive number/);
    expect(withDp({ clipNorm: -1 })).toThrow(/dp.clipNorm/);
    expect(withDp({ delta: 1 })).toThrow(/dp.delta must be a number in \(0, 1\)/);
    expect(withDp({ samplingRate: 0 })).toThrow(/dp.samplingRate must be a number in \(0, 1\]/);
    expect(withDp({ expectedParticipants: 0 })).toThrow(/dp.expectedParticipants/);
    expect(withDp({ seed: Number.NaN })).toThrow(/dp.seed/);
    expect(withDp({ sigma: 1 })).toThrow(/unknown option "sigma"/);
    expect(fedhft({ dp: 1 })).toThrow(/dp options must be an object/);
    const { delta: _, ...noDelta } = DP;
    expect(fedhft({ dp: noDelta })).toThrow(/dp.delta/);
    expect(fedhft({ dp: DP, robust: { kind: 'trimmed-mean', trim: 0.1 } })).toThrow(
      /dp and robust cannot be combined/,
    );
    expect(fedhft({ dp: DP, clipNorm: 1 })).toThrow(/the clip norm is dp.clipNorm/);
    expect(fedhft({ dp: DP, weightByExamples: true })).toThrow(/weightByExamples must be false/);
    expect(fedhft({ dp: DP, normalizer: 'membership' })).toThrow(/replaces the row normaliser/);
    expect(new FedHftStrategy(SCHEMA, { dp: DP }).options.weightByExamples).toBe(false);
    expect(() => createStrategy('heterofl', SCHEMA, { dp: { ...DP, delta: 0 } })).toThrow(/dp.delta/);
    expect(() =>
      createStrategy('fedavg-full', SCHEMA, { dp: DP, robust: { kind: 'norm-bounded', bound: 1 } }),
    ).toThrow(/fedavg-full: dp and robust cannot be combined/);
    expect(() => createStrategy('fedavg-full', SCHEMA, { dp: { ...DP, samplingRate: 2 } })).toThrow(
      /samplingRate/,
    );
  });
});
