import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  FedAvgFullStrategy,
  FedHftStrategy,
  gaussianFrom,
  HeteroFlStrategy,
  PROTOCOL_VERSION,
  seededRandom,
  type ClientUpdate,
  type DenseTensor,
  type FedHftOptions,
  type HeadParams,
  type ModelSchema,
  type RoundSummary,
  type Strategy,
} from '../src/index';
import { clientProfile, head } from './helpers/fixtures';

/** A tiny synthetic problem: one 8 x 6 adapted weight at rank 2 (scale 1), a 3 x 2 head, two dense tensors. */
const SCHEMA: ModelSchema = {
  adapted: [{ name: 'q', dOut: 8, dIn: 6 }],
  dense: [
    { name: 'w', shape: [5, 4] },
    { name: 'b', shape: [4] },
  ],
  embeddingSize: 3,
  numClasses: 2,
  rank: 2,
  alpha: 2,
};
const { dOut, dIn } = SCHEMA.adapted[0]!;
const RANK = SCHEMA.rank;

const profile = (clientId: string, budget = 1, exampleCount = 1) =>
  clientProfile(clientId, budget, exampleCount);

/** What one client sends: q's factors over all rows (A [rank, dIn], B [dOut, rank]), dense deltas, its head. */
interface Upload {
  readonly id: string;
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly w: Float32Array;
  readonly b: Float32Array;
  readonly head: HeadParams;
  readonly n?: number;
}

function loraUpdate(u: Upload, round: number): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: u.id,
    round,
    exampleCount: u.n ?? 1,
    adapters: new Map([
      [
        'q',
        {
          dOut,
          dIn,
          rank: RANK,
          rows: Int32Array.from({ length: dOut }, (_, i) => i),
          A: u.A,
          B: u.B,
          scale: 1,
        },
      ],
    ]),
    dense: new Map(),
    head: u.head,
  };
}

function denseUpdate(u: Upload, round: number): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: u.id,
    round,
    exampleCount: u.n ?? 1,
    adapters: new Map(),
    dense: new Map<string, DenseTensor>([
      ['w', { shape: [5, 4], data: u.w }],
      ['b', { shape: [4], data: u.b }],
    ]),
    head: u.head,
  };
}

function playRound(strategy: Strategy, uploads: readonly Upload[], round = 0): RoundSummary {
  const dense = strategy instanceof FedAvgFullStrategy;
  for (const u of uploads) strategy.offer(profile(u.id, 1, u.n ?? 1), round);
  for (const u of uploads) {
    strategy.receive(dense ? denseUpdate(u, round) : loraUpdate(u, round), profile(u.id, 1, u.n ?? 1));
  }
  return strategy.finishRound(round);
}

/** Sets memberships through a snapshot (the way a checkpoint would carry them). */
function setMemberships(strategy: FedHftStrategy, memberships: Record<string, number[]>): void {
  const snapshot = JSON.parse(JSON.stringify(strategy.snapshot()));
  snapshot.state.memberships = memberships;
  strategy.restore(snapshot);
}

/** Everything cluster j's model holds, adapters, dense deltas and head, as one vector. */
function modelVector(summary: RoundSummary, j: number): number[] {
  const model = summary.clusterModels[j]!;
  return [
    ...[...model.deltas.values()].flatMap((v) => Array.from(v)),
    ...[...model.dense.values()].flatMap((v) => Array.from(v)),
    ...model.head.kernel,
    ...model.head.bias,
  ];
}

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
/** ||a - b|| / ||b||. */
const relativeDistance = (a: readonly number[], b: readonly number[]) =>
  norm(a.map((x, i) => x - b[i]!)) / norm(b);

const rows = (data: ArrayLike<number>, cols: number) =>
  Array.from({ length: data.length / cols }, (_, d) => Array.from(data).slice(d * cols, (d + 1) * cols));

describe('robust FedHFT with 10% hostile clients (2 of 20, one per cluster)', () => {
  const normal = gaussianFrom(seededRandom('robust-fedhft'));
  const values = (length: number, std = 1) => Float32Array.from({ length }, () => std * normal());
  const jitter = (base: Float32Array, std: number) => base.map((v) => v + std * normal());
  // Each cluster's clients share a base update and differ by noise of 0.2.
  const groups = [0, 1].map(() => ({
    A: values(RANK * dIn),
    B: values(dOut * RANK),
    kernel: values(6),
    bias: values(2),
  }));
  const honestUpload = (id: string, g: number): Upload => {
    const base = groups[g]!;
    return {
      id,
      A: jitter(base.A, 0.2),
      B: jitter(base.B, 0.2),
      w: values(20),
      b: values(4),
      head: head(jitter(base.kernel, 0.2), jitter(base.bias, 0.2)),
    };
  };
  const honest = [0, 1].flatMap((g) => Array.from({ length: 9 }, (_, k) => honestUpload(`g${g}-${k}`, g)));
  const attacks: Record<string, Upload[]> = {
    // B times -50 scales the whole adapter delta by -50; the head starts at 0, so its change is scaled too.
    'scaled (x -50)': [0, 1].map((g) => {
      const u = honestUpload(`bad${g}`, g);
      return {
        ...u,
        B: u.B.map((v) => -50 * v),
        head: head(
          u.head.kernel.map((v) => -50 * v),
          u.head.bias.map((v) => -50 * v),
        ),
      };
    }),
    'random (std 20)': [0, 1].map((g) => ({
      ...honestUpload(`bad${g}`, g),
      A: values(RANK * dIn, 1),
      B: values(dOut * RANK, 20),
      head: head(values(6, 20), values(2, 20)),
    })),
  };
  const memberships = (uploads: readonly Upload[]) =>
    Object.fromEntries(
      uploads.map((u) => [u.id, u.id.startsWith('g0') || u.id === 'bad0' ? [1, 0] : [0, 1]]),
    );

  function run(options: FedHftOptions, uploads: readonly Upload[], preset = false): RoundSummary {
    const strategy = preset
      ? new HeteroFlStrategy(SCHEMA, { clusters: 2, ...options })
      : new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', ...options });
    setMemberships(strategy, memberships(uploads));
    return playRound(strategy, uploads);
  }

  // The clean result: plain membership-weighted averaging of the 18 honest clients.
  const clean = run({ weightByExamples: false }, honest);
  const shift = (summary: RoundSummary) =>
    Math.max(...[0, 1].map((j) => relativeDistance(modelVector(summary, j), modelVector(clean, j))));

  describe.each([false, true])('HeteroFL preset: %s', (preset) => {
    it.each(Object.keys(attacks))(
      '%s: robust cluster models stay near the clean ones, plain ones do not',
      (attack) => {
        const all = [...honest, ...attacks[attack]!];
        const plain = shift(run({ weightByExamples: false }, all, preset));
        const trimmed = shift(run({ robust: { kind: 'trimmed-mean', trim: 0.1 } }, all, preset));
        const median = shift(run({ robust: { kind: 'norm-bounded', bound: 'median' } }, all, preset));
        // Measured (same for both presets, budget 1 sends every row), as a share of the clean model's norm:
        // plain 5.64 (scaled) / 1.41 (random); trimmed mean 0.054 / 0.053 (with 10 per cluster it drops one
        // value per side, an honest extreme too); median-bounded 0.245 / 0.170.
        expect(plain).toBeGreaterThan(attack.startsWith('scaled') ? 5 : 1.2);
        expect(trimmed).toBeLessThan(0.07);
        expect(median).toBeLessThan(0.3);
      },
    );
  });

  it('a fixed norm bound near the honest norms does as well as the median', () => {
    const all = [...honest, ...attacks['scaled (x -50)']!];
    const summary = run({ robust: { kind: 'norm-bounded', bound: 15 } }, all);
    expect(summary.diagnostics?.normBound).toBe(15);
    // Honest norms are about 14.3 (the round's median without attackers), so most pass unclipped.
    // Measured: shift 0.225 (against 0.245 with the median), mean bound factor 0.89.
    expect(shift(summary)).toBeLessThan(0.3);
  });

  it('without attackers, robust rules cost little: they trim or clip honest extremes only', () => {
    // 9 per cluster: trim 0.1 drops floor(0.9) = 0 per side (the plain mean), trim 0.2 one per side.
    const shifts = [0.1, 0.2].map((trim) => shift(run({ robust: { kind: 'trimmed-mean', trim } }, honest)));
    const median = shift(run({ robust: { kind: 'norm-bounded', bound: 'median' } }, honest));
    // Measured: 7e-8 (float rounding), 0.023, median-bounded 0.060.
    expect(shifts[0]).toBeLessThan(1e-6);
    expect(shifts[1]).toBeLessThan(0.05);
    expect(median).toBeLessThan(0.1);
  });
});

describe('robust FedHFT, hand-checked', () => {
  /** Rank 1, scale 1: delta row d is B[d] * A. All rows sent. */
  const upload = (id: string, B: number[], A: number[], kernel: number[], bias: number[]): Upload => ({
    id,
    A: Float32Array.from([...A, ...A.map(() => 0)]), // rank 2, the second component zero
    B: Float32Array.from(B.flatMap((b) => [b, 0])),
    w: new Float32Array(20),
    b: new Float32Array(4),
    head: head(kernel, bias),
  });
  const A6 = [1, 0, 0, 0, 0, 0];
  const ones = (v: number) => Array.from({ length: dOut }, () => v);

  it('trimmed mean: hard assignment by argmax membership (ties count in every tied cluster), unweighted', () => {
    const strategy = new FedHftStrategy(SCHEMA, {
      clusters: 2,
      maskTiming: 'post',
      robust: { kind: 'trimmed-mean', trim: 0 },
    });
    expect(strategy.options.weightByExamples).toBe(false);
    setMemberships(strategy, { a: [0.6, 0.4], b: [0.5, 0.5], c: [0.2, 0.8] });
    const summary = playRound(strategy, [
      { ...upload('a', ones(1), A6, [1, 1, 1, 1, 1, 1], [1, 1]), n: 100 },
      upload('b', ones(3), A6, [3, 3, 3, 3, 3, 3], [3, 3]),
      upload('c', ones(8), A6, [8, 8, 8, 8, 8, 8], [8, 8]),
    ]);
    // Cluster 0: a (0.6 is its largest) and b (tied): mean 2, whatever a's 100 examples. Cluster 1: b and c.
    const column0 = (j: number) => rows(summary.clusterModels[j]!.deltas.get('q')!, dIn).map((r) => r[0]);
    expect(column0(0)).toEqual(ones(2));
    expect(column0(1)).toEqual(ones(5.5));
    expect(Array.from(summary.clusterModels[0]!.head.bias)).toEqual([2, 2]);
    expect(Array.from(summary.clusterModels[1]!.head.kernel)).toEqual([5.5, 5.5, 5.5, 5.5, 5.5, 5.5]);
  });

  it('trimmed mean: uniform memberships (warm-up) put everyone in every cluster; buffers are reported', () => {
    const strategy = new FedHftStrategy(SCHEMA, {
      clusters: 3,
      maskTiming: 'post',
      robust: { kind: 'trimmed-mean', trim: 0.25 },
    });
    const uploads = [
      upload('a', ones(1), A6, [1, 0, 0, 0, 0, 0], [0, 0]),
      upload('b', ones(2), A6, [2, 0, 0, 0, 0, 0], [0, 0]),
      upload('c', ones(4), A6, [4, 0, 0, 0, 0, 0], [0, 0]),
      upload('d', ones(-100), A6, [-100, 0, 0, 0, 0, 0], [0, 0]),
    ];
    const summary = playRound(strategy, uploads);
    // 4 clients, trim 0.25: drop 1 on each side, mean of the middle two (1 and 2).
    for (const model of summary.clusterModels) {
      expect(rows(model.deltas.get('q')!, dIn).map((r) => r[0])).toEqual(ones(1.5));
      expect(model.head.kernel[0]).toBe(1.5);
    }
    // Per client: 8 x 6 delta rows + 8 row indices, 3 x 2 kernel + 3 indices, 2 bias + 1 index.
    expect(summary.diagnostics?.robustBufferFloats).toBe(4 * (48 + 8 + 6 + 3 + 2 + 1));
    // G_j accumulates in each cluster's own buffer, although the clusters shared one trimmed mean.
    const second = playRound(strategy, uploads, 1);
    for (const model of second.clusterModels) {
      expect(rows(model.deltas.get('q')!, dIn).map((r) => r[0])).toEqual(ones(3));
    }
  });

  it('trimmed mean is mask-aware: each row over the clients that sent it', () => {
    // Rank 1; budget 0.5: at most 4 of the 8 rows each.
    const masked = (id: string, sent: number[], value: number): ClientUpdate => ({
      ...loraUpdate(upload(id, [], A6, [0, 0, 0, 0, 0, 0], [0, 0]), 0),
      adapters: new Map([
        [
          'q',
          {
            dOut,
            dIn,
            rank: 1,
            rows: Int32Array.from(sent),
            A: Float32Array.from(A6),
            B: Float32Array.from(sent.map(() => value)),
            scale: 1,
          },
        ],
      ]),
    });
    const strategy = new FedHftStrategy(
      { ...SCHEMA, rank: 1 },
      { clusters: 1, maskTiming: 'post', robust: { kind: 'trimmed-mean', trim: 0.25 } },
    );
    expect(strategy.options.robust).toEqual({ kind: 'trimmed-mean', trim: 0.25 });
    const updates = [
      masked('a', [0, 1], 1),
      masked('b', [0, 1], 2),
      masked('c', [0, 1], 3),
      masked('d', [0, 2], 50),
    ];
    for (const u of updates) strategy.offer(profile(u.clientId, 0.5), 0);
    for (const u of updates) strategy.receive(u, profile(u.clientId, 0.5));
    const q = rows(strategy.finishRound(0).clusterModels[0]!.deltas.get('q')!, dIn).map((r) => r[0]);
    // Row 0: 4 senders, drop 1 and 50: 2.5. Row 1: 3 senders, floor(0.75) = 0 dropped: 2. Row 2: d alone.
    expect(q).toEqual([2.5, 2, 50, 0, 0, 0, 0, 0]);
  });

  it("norm-bounded 'median' clips each whole update to the round's median norm, then averages as usual", () => {
    const strategy = new FedHftStrategy(SCHEMA, {
      clusters: 1,
      maskTiming: 'post',
      weightByExamples: false,
      robust: { kind: 'norm-bounded', bound: 'median' },
    });
    // Whole-update norms: the delta's 8 rows of [b, 0, ...] and the head's kernel[0]: sqrt(8 b^2 + k^2).
    const summary = playRound(strategy, [
      upload('a', ones(1), A6, [1, 0, 0, 0, 0, 0], [0, 0]), // norm 3
      upload('b', ones(2), A6, [6, 0, 0, 0, 0, 0], [0, 0]), // norm sqrt(32 + 36) = 8.246
      upload('c', ones(30), A6, [90, 0, 0, 0, 0, 0], [0, 0]), // norm sqrt(7200 + 8100) = 123.69
    ]);
    const median = Math.sqrt(68);
    const factor = median / Math.sqrt(15300);
    expect(summary.diagnostics?.normBound).toBeCloseTo(median, 5);
    expect(summary.diagnostics?.meanNormBoundFactor).toBeCloseTo((2 + factor) / 3, 6);
    // Buffered in wire form: A 2 x 6, B 8 x 2 and 8 row indices, head 3 x 2 + 2.
    expect(summary.diagnostics?.robustBufferFloats).toBe(3 * (12 + 16 + 8 + 6 + 2));
    const q = rows(summary.clusterModels[0]!.deltas.get('q')!, dIn).map((r) => r[0]!);
    q.forEach((v) => expect(v).toBeCloseTo((1 + 2 + 30 * factor) / 3, 5));
    expect(summary.clusterModels[0]!.head.kernel[0]).toBeCloseTo((1 + 6 + 90 * factor) / 3, 5);
  });

  it('norm-bounded with a fixed bound streams (no buffer) and still uses memberships and N_k', () => {
    const strategy = new FedHftStrategy(SCHEMA, {
      clusters: 1,
      maskTiming: 'post',
      robust: { kind: 'norm-bounded', bound: 3 },
    });
    const summary = playRound(strategy, [
      { ...upload('a', ones(1), A6, [1, 0, 0, 0, 0, 0], [0, 0]), n: 3 }, // norm 3: unchanged
      { ...upload('b', ones(2), A6, [6, 0, 0, 0, 0, 0], [0, 0]), n: 1 }, // norm sqrt(68): scaled
    ]);
    const factor = 3 / Math.sqrt(68);
    expect(summary.diagnostics?.robustBufferFloats).toBeUndefined();
    expect(summary.diagnostics?.meanNormBoundFactor).toBeCloseTo((1 + factor) / 2, 6);
    const q = rows(summary.clusterModels[0]!.deltas.get('q')!, dIn).map((r) => r[0]!);
    q.forEach((v) => expect(v).toBeCloseTo((3 * 1 + 2 * factor) / 4, 5));
  });
});

describe('robust FedAvg, full fine-tuning, with 1 hostile client of 10', () => {
  const normal = gaussianFrom(seededRandom('robust-fedavg-full'));
  const values = (length: number, std = 1) => Float32Array.from({ length }, () => std * normal());
  const base = { w: values(20), b: values(4), kernel: values(6), bias: values(2) };
  const jitter = (v: Float32Array) => v.map((x) => x + 0.2 * normal());
  const honest: Upload[] = Array.from({ length: 9 }, (_, k) => ({
    id: `h${k}`,
    A: new Float32Array(0),
    B: new Float32Array(0),
    w: jitter(base.w),
    b: jitter(base.b),
    head: head(jitter(base.kernel), jitter(base.bias)),
    n: 10 + k,
  }));
  const bad: Upload = {
    ...honest[0]!,
    id: 'bad',
    w: honest[0]!.w.map((v) => -50 * v),
    b: honest[0]!.b.map((v) => -50 * v),
    head: head(
      honest[0]!.head.kernel.map((v) => -50 * v),
      honest[0]!.head.bias.map((v) => -50 * v),
    ),
    n: 1000, // a claimed example count buys the plain mean's weight, not the trimmed mean's
  };
  const clean = playRound(new FedAvgFullStrategy(SCHEMA), honest);
  const shift = (summary: RoundSummary) => relativeDistance(modelVector(summary, 0), modelVector(clean, 0));

  it('keeps the global model near the clean one under a scaled (x -50) attack', () => {
    const plain = shift(playRound(new FedAvgFullStrategy(SCHEMA), [...honest, bad]));
    const trimmed = shift(
      playRound(new FedAvgFullStrategy(SCHEMA, { robust: { kind: 'trimmed-mean', trim: 0.1 } }), [
        ...honest,
        bad,
      ]),
    );
    const median = playRound(
      new FedAvgFullStrategy(SCHEMA, { robust: { kind: 'norm-bounded', bound: 'median' } }),
      [...honest, bad],
    );
    // Measured: plain 45.5 (the attacker's claimed 1000 examples dominate the N_k weights); trimmed 0.045;
    // median-bounded 1.78: bounded to a typical norm, the update still carries its claimed weight (bounding
    // the norm does not bound the weight), against 0.21 with an ordinary count below.
    expect(plain).toBeGreaterThan(40);
    expect(trimmed).toBeLessThan(0.06);
    expect(shift(median)).toBeLessThan(2);
    expect(median.diagnostics?.robustBufferFloats).toBe(10 * (20 + 4 + 6 + 2));
    // Honestly weighted, the median bound is as good as in FedHFT.
    const fair = playRound(
      new FedAvgFullStrategy(SCHEMA, { robust: { kind: 'norm-bounded', bound: 'median' } }),
      [...honest, { ...bad, n: 14 }],
    );
    expect(shift(fair)).toBeLessThan(0.25);
  });
});

describe('robust options', () => {
  it('are validated with clear errors', () => {
    const create = (options: object) => () => createStrategy('fedhft', SCHEMA, options as never);
    expect(create({ robust: 'trimmed' })).toThrow(/robust must be an object with a kind/);
    expect(create({ robust: { kind: 'median' } })).toThrow(
      /robust.kind must be 'trimmed-mean' or 'norm-bounded'/,
    );
    expect(create({ robust: { kind: 'trimmed-mean', trim: 0.5 } })).toThrow(
      /trim must be a number in \[0, 0.5\)/,
    );
    expect(create({ robust: { kind: 'trimmed-mean' } })).toThrow(/trim must be a number/);
    expect(create({ robust: { kind: 'trimmed-mean', trim: 0.1, bound: 2 } })).toThrow(
      /unknown option "bound"/,
    );
    expect(create({ robust: { kind: 'norm-bounded', bound: -1 } })).toThrow(/bound \(or 'median'\) must be/);
    expect(create({ robust: { kind: 'norm-bounded', bound: 'mean' } })).toThrow(/bound/);
    expect(create({ robust: { kind: 'trimmed-mean', trim: 0.1 }, weightByExamples: true })).toThrow(
      /does not weight by example counts/,
    );
    expect(create({ robust: { kind: 'trimmed-mean', trim: 0.1 }, normalizer: 'count' })).toThrow(
      /replaces the row normaliser/,
    );
    // Norm-bounded keeps the usual weighting and normaliser.
    expect(create({ robust: { kind: 'norm-bounded', bound: 1 }, normalizer: 'count' })).not.toThrow();
    expect(() => createStrategy('heterofl', SCHEMA, { robust: { kind: 'trimmed-mean', trim: 1 } })).toThrow(
      /trim/,
    );
    expect(() =>
      createStrategy('fedavg-full', SCHEMA, { robust: { kind: 'norm-bounded', bound: 0 } }),
    ).toThrow(/fedavg-full: robust.bound/);
  });
});
