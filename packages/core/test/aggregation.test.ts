import { describe, expect, it } from 'vitest';
import {
  aggregateClusters,
  averageHeads,
  ClusterAggregator,
  DenseAggregator,
  gaussianFrom,
  lowRankProduct,
  PROTOCOL_VERSION,
  seededRandom,
  seededRows,
  weightedMeanTensors,
  type ClientUpdate,
  type DenseTensor,
  type HeadParams,
  type MaskedFactors,
} from '../src/index';
import { head } from './helpers/fixtures';

function factors(
  dOut: number,
  dIn: number,
  rows: number[],
  B: number[],
  A: number[],
  scale = 1,
): MaskedFactors {
  return {
    dOut,
    dIn,
    rank: A.length / dIn,
    rows: Int32Array.from(rows),
    B: Float32Array.from(B),
    A: Float32Array.from(A),
    scale,
  };
}

function update(
  clientId: string,
  adapters: Record<string, MaskedFactors>,
  clientHead: HeadParams,
  exampleCount = 10,
): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round: 1,
    exampleCount,
    adapters: new Map(Object.entries(adapters)),
    dense: new Map(),
    head: clientHead,
  };
}

/*
 * The hand-checked fixture: one weight "q" of 4 x 2, rank 1. Row 1 is covered by both clients, row 0 only by
 * client 1, row 2 only by client 2, row 3 by nobody.
 *   client 1: rows [0, 1], dW = 1 * [[1], [2]] [1, 1] -> row0 [1, 1], row1 [2, 2]
 *   client 2: rows [1, 2], dW = 0.5 * [[4], [6]] [1, 2] -> row1 [2, 4], row2 [3, 6]
 */
const client1 = (n = 1) => update('c1', { q: factors(4, 2, [0, 1], [1, 2], [1, 1]) }, head([1, 2], [0]), n);
const client2 = (n = 3) =>
  update('c2', { q: factors(4, 2, [1, 2], [4, 6], [1, 2], 0.5) }, head([3, 6], [1]), n);
const soft1 = Float64Array.from([0.75, 0.25]);
const soft2 = Float64Array.from([0.25, 0.75]);

function rowsOf(tensor: DenseTensor | undefined): number[][] {
  if (tensor === undefined) throw new Error('missing tensor');
  const [dOut, dIn] = tensor.shape as [number, number];
  return Array.from({ length: dOut }, (_, d) => Array.from(tensor.data.subarray(d * dIn, (d + 1) * dIn)));
}

function expectRowsClose(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, d) => row.forEach((v, c) => expect(v).toBeCloseTo(expected[d]![c]!, 6)));
}

describe('ClusterAggregator: hand-checked rows', () => {
  it('hard memberships: each cluster averages its own clients, uncovered rows stay 0', () => {
    const [g0, g1] = aggregateClusters(
      [client1(), client2()],
      [Float64Array.from([1, 0]), Float64Array.from([0, 1])],
      { clusters: 2 },
    );
    expect(rowsOf(g0!.deltas.get('q'))).toEqual([
      [1, 1],
      [2, 2],
      [0, 0],
      [0, 0],
    ]);
    expect(rowsOf(g1!.deltas.get('q'))).toEqual([
      [0, 0],
      [2, 4],
      [3, 6],
      [0, 0],
    ]);
    expect(g0!.deltas.get('q')!.shape).toEqual([4, 2]);
    expect(Array.from(g0!.coverage.get('q')!)).toEqual([1, 1, 0, 0]);
    expect(Array.from(g1!.coverage.get('q')!)).toEqual([0, 1, 1, 0]);
  });

  it('soft memberships, membership normaliser: a weighted mean per row over the clients covering it', () => {
    const [g0, g1] = aggregateClusters([client1(), client2()], [soft1, soft2], { clusters: 2 });
    // Row 1 of cluster 0: (0.75 [2, 2] + 0.25 [2, 4]) / (0.75 + 0.25). Rows 0 and 2 have one contributor each,
    // so they come back whole however small its membership.
    expectRowsClose(rowsOf(g0!.deltas.get('q')), [
      [1, 1],
      [2, 2.5],
      [3, 6],
      [0, 0],
    ]);
    expectRowsClose(rowsOf(g1!.deltas.get('q')), [
      [1, 1],
      [2, 3.5],
      [3, 6],
      [0, 0],
    ]);
    expect(Array.from(g0!.coverage.get('q')!)).toEqual([0.75, 1, 0.25, 0]);
    expect(Array.from(g1!.coverage.get('q')!)).toEqual([0.25, 1, 0.75, 0]);
    // Heads: H_0 = 0.75 h1 + 0.25 h2, H_1 = 0.25 h1 + 0.75 h2.
    expect(Array.from(g0!.head!.kernel)).toEqual([1.5, 3]);
    expect(Array.from(g0!.head!.bias)).toEqual([0.25]);
    expect(Array.from(g1!.head!.kernel)).toEqual([2.5, 5]);
    expect(Array.from(g1!.head!.bias)).toEqual([0.75]);
    expect([g0!.totalWeight, g1!.totalWeight]).toEqual([1, 1]);
  });

  it('soft memberships, count normaliser (the authors): divides by how many clients cover the row', () => {
    const [g0, g1] = aggregateClusters([client1(), client2()], [soft1, soft2], {
      clusters: 2,
      normalizer: 'count',
    });
    // Cluster 0: row0 0.75 [1, 1] / 1, row1 (0.75 [2, 2] + 0.25 [2, 4]) / 2, row2 0.25 [3, 6] / 1.
    expectRowsClose(rowsOf(g0!.deltas.get('q')), [
      [0.75, 0.75],
      [1, 1.25],
      [0.75, 1.5],
      [0, 0],
    ]);
    expectRowsClose(rowsOf(g1!.deltas.get('q')), [
      [0.25, 0.25],
      [1, 1.75],
      [2.25, 4.5],
      [0, 0],
    ]);
    expect(Array.from(g0!.coverage.get('q')!)).toEqual([1, 2, 1, 0]);
    // Heads are membership-weighted means under either normaliser.
    expect(Array.from(g0!.head!.kernel)).toEqual([1.5, 3]);
  });

  it('weighting by example count: w_kj = pi_kj N_k', () => {
    // N_1 = 1, N_2 = 3: w_1 = [0.75, 0.25], w_2 = [0.75, 2.25].
    const [g0, g1] = aggregateClusters([client1(1), client2(3)], [soft1, soft2], {
      clusters: 2,
      weightByExamples: true,
    });
    // Cluster 0 row1: (0.75 [2, 2] + 0.75 [2, 4]) / 1.5; cluster 1 row1: (0.25 [2, 2] + 2.25 [2, 4]) / 2.5.
    expectRowsClose(rowsOf(g0!.deltas.get('q')), [
      [1, 1],
      [2, 3],
      [3, 6],
      [0, 0],
    ]);
    expectRowsClose(rowsOf(g1!.deltas.get('q')), [
      [1, 1],
      [2, 3.8],
      [3, 6],
      [0, 0],
    ]);
    expect(Array.from(g1!.coverage.get('q')!)).toEqual([0.25, 2.5, 2.25, 0]);
    expect([g0!.totalWeight, g1!.totalWeight]).toEqual([1.5, 2.5]);
    expect(Array.from(g0!.head!.kernel)).toEqual([2, 4]);
    expect(Array.from(g1!.head!.kernel)).toEqual([expect.closeTo(2.8, 6), expect.closeTo(5.6, 6)]);
    expect(g1!.head!.bias[0]).toBeCloseTo(0.9, 6);

    // With the count normaliser, examples weight the count too (sum_k N_k M_k[d]) so the scale stays right.
    const [c0] = aggregateClusters([client1(1), client2(3)], [soft1, soft2], {
      clusters: 2,
      normalizer: 'count',
      weightByExamples: true,
    });
    expect(Array.from(c0!.coverage.get('q')!)).toEqual([1, 4, 3, 0]);
    expectRowsClose(rowsOf(c0!.deltas.get('q')), [
      [0.75, 0.75],
      [0.75, 1.125],
      [0.75, 1.5],
      [0, 0],
    ]);
  });

  it('the count normaliser shrinks updates under soft memberships; the membership normaliser does not', () => {
    // One client, uniform memberships over 4 clusters: every cluster saw exactly this update.
    const uniform = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
    const byMembership = aggregateClusters([client1()], [uniform], { clusters: 4 });
    const byCount = aggregateClusters([client1()], [uniform], { clusters: 4, normalizer: 'count' });
    for (let j = 0; j < 4; j++) {
      expect(rowsOf(byMembership[j]!.deltas.get('q'))).toEqual([
        [1, 1],
        [2, 2],
        [0, 0],
        [0, 0],
      ]);
      // Divided by K_c: the authors' normaliser shrinks each cluster's step by the membership it was given.
      expect(rowsOf(byCount[j]!.deltas.get('q'))).toEqual([
        [0.25, 0.25],
        [0.5, 0.5],
        [0, 0],
        [0, 0],
      ]);
    }
  });

  it('adds a one-hot update to its own cluster only, once (the reference code aliased clusters)', () => {
    const result = aggregateClusters([client2()], [Float64Array.from([0, 1, 0])], { clusters: 3 });
    expect(rowsOf(result[1]!.deltas.get('q'))).toEqual([
      [0, 0],
      [2, 4],
      [3, 6],
      [0, 0],
    ]);
    for (const j of [0, 2]) {
      expect(result[j]!.deltas.get('q')!.data.every((v) => v === 0)).toBe(true);
      expect(result[j]!.head).toBeNull();
      expect(result[j]!.totalWeight).toBe(0);
    }
  });
});

describe('ClusterAggregator: state and streaming', () => {
  it('gives every cluster its own buffers: mutating one leaves the others unchanged', () => {
    const same = Float64Array.from([0.5, 0.5]);
    const [g0, g1] = aggregateClusters([client1(), client2()], [same, same], { clusters: 2 });
    const q0 = g0!.deltas.get('q')!.data;
    const q1 = g1!.deltas.get('q')!.data;
    expect(Array.from(q0)).toEqual(Array.from(q1));
    const before = Array.from(q1);
    q0.fill(99);
    g0!.head!.kernel.fill(99);
    g0!.coverage.get('q')!.fill(99);
    expect(Array.from(q1)).toEqual(before);
    expect(Array.from(g1!.head!.kernel)).toEqual([2, 4]);
    expect(Array.from(g1!.coverage.get('q')!)).toEqual([0.5, 1, 0.5, 0]);
    expect(q0.buffer).not.toBe(q1.buffer);
  });

  it('matches a dense reference on random multi-weight, rank-3 updates with soft memberships', () => {
    const shapes = { q: [6, 5], v: [4, 7] } as const;
    const gaussian = gaussianFrom(seededRandom('reference'));
    const random = seededRandom('memberships');
    const K = 3;
    const updates: ClientUpdate[] = [];
    const memberships: Float64Array[] = [];
    for (let k = 0; k < 5; k++) {
      const adapters: Record<string, MaskedFactors> = {};
      for (const [name, [dOut, dIn]] of Object.entries(shapes)) {
        const rows = Array.from(seededRows(dOut, 1 + (k % dOut), `${name}${k}`));
        adapters[name] = factors(
          dOut,
          dIn,
          rows,
          Array.from({ length: rows.length * 3 }, gaussian),
          Array.from({ length: 3 * dIn }, gaussian),
          0.5 + k,
        );
      }
      updates.push(update(`c${k}`, adapters, head([gaussian(), gaussian()], [gaussian()]), 1 + k));
      const raw = Array.from({ length: K }, () => random() + 0.05);
      const total = raw.reduce((a, b) => a + b, 0);
      memberships.push(Float64Array.from(raw, (v) => v / total));
    }
    for (const normalizer of ['membership', 'count'] as const) {
      for (const weightByExamples of [false, true]) {
        const result = aggregateClusters(updates, memberships, { clusters: K, normalizer, weightByExamples });
        for (const [name, [dOut, dIn]] of Object.entries(shapes)) {
          for (let j = 0; j < K; j++) {
            const numerator = new Float64Array(dOut * dIn);
            const norm = new Float64Array(dOut);
            updates.forEach((u, k) => {
              const f = u.adapters.get(name)!;
              const n = weightByExamples ? u.exampleCount : 1;
              const w = memberships[k]![j]! * n;
              // B_full: zeros outside the kept rows.
              const full = new Float32Array(dOut * f.rank);
              f.rows.forEach((d, i) => full.set(f.B.subarray(i * f.rank, (i + 1) * f.rank), d * f.rank));
              const dW = lowRankProduct({ dOut, dIn, rank: f.rank, B: full, A: f.A, scale: f.scale });
              for (const d of f.rows) {
                norm[d]! += normalizer === 'count' ? n : w;
                for (let c = 0; c < dIn; c++) numerator[d * dIn + c]! += w * dW[d * dIn + c]!;
              }
            });
            const actual = result[j]!.deltas.get(name)!.data;
            for (let i = 0; i < dOut * dIn; i++) {
              const d = Math.floor(i / dIn);
              const expected = norm[d] === 0 ? 0 : numerator[i]! / norm[d]!;
              expect(actual[i]).toBeCloseTo(expected, 5);
            }
            expect(Array.from(result[j]!.coverage.get(name)!)).toEqual(
              Array.from(norm).map((v) => expect.closeTo(v, 10)),
            );
          }
        }
      }
    }
  });

  it('holds K_c fixed accumulators however many updates arrive (200 clients)', () => {
    const [dOut, dIn, rank, K] = [32, 16, 4, 3];
    const gaussian = gaussianFrom(seededRandom('stream'));
    const aggregator = new ClusterAggregator({ clusters: K });
    expect(aggregator.bufferFloats()).toBe(0);
    const perCluster = dOut * dIn + dOut + (8 * 2 + 2); // delta sums, row normalisers, head kernel + bias
    for (let k = 0; k < 200; k++) {
      const rows = Array.from(seededRows(dOut, 1 + (k % dOut), k));
      const adapter = factors(
        dOut,
        dIn,
        rows,
        Array.from({ length: rows.length * rank }, gaussian),
        Array.from({ length: rank * dIn }, gaussian),
      );
      const clientHead = head(Array.from({ length: 16 }, gaussian), [gaussian(), gaussian()]);
      const pi = k % 2 === 0 ? [0.2, 0.3, 0.5] : [0, 1, 0];
      aggregator.add(update(`client${k}`, { q: adapter }, clientHead), Float64Array.from(pi));
      expect(aggregator.bufferFloats()).toBe(K * perCluster);
    }
    expect(aggregator.count).toBe(200);
    const result = aggregator.finish();
    expect(result).toHaveLength(K);
    expect(result[1]!.totalWeight).toBeCloseTo(100 * 0.3 + 100, 9);
  });

  it('streams to the same result as one-shot aggregation, whatever the order', () => {
    const forward = aggregateClusters([client1(), client2()], [soft1, soft2], { clusters: 2 });
    const aggregator = new ClusterAggregator({ clusters: 2 });
    aggregator.add(client2(), soft2);
    aggregator.add(client1(), soft1);
    const backward = aggregator.finish();
    for (let j = 0; j < 2; j++) {
      expectRowsClose(rowsOf(backward[j]!.deltas.get('q')), rowsOf(forward[j]!.deltas.get('q')));
    }
  });

  it('finishes with empty aggregates when nothing was added, and is single-use', () => {
    const aggregator = new ClusterAggregator({ clusters: 2 });
    const result = aggregator.finish();
    expect(result.map((r) => [r.deltas.size, r.head, r.totalWeight])).toEqual([
      [0, null, 0],
      [0, null, 0],
    ]);
    expect(() => aggregator.finish()).toThrow(/finish\(\) called twice/);
    expect(() => aggregator.add(client1(), soft1)).toThrow(/add\(\) after finish\(\)/);
  });
});

describe('ClusterAggregator: validation', () => {
  it('rejects bad options', () => {
    expect(() => new ClusterAggregator({ clusters: 0 })).toThrow(/clusters must be a positive integer/);
    expect(() => new ClusterAggregator({ clusters: 2, normalizer: 'sum' as unknown as 'count' })).toThrow(
      /normalizer must be 'membership' or 'count'/,
    );
  });

  it('rejects bad memberships', () => {
    const aggregator = new ClusterAggregator({ clusters: 2 });
    expect(() => aggregator.add(client1(), Float64Array.from([1]))).toThrow(
      /1 values, expected one per cluster \(2\)/,
    );
    expect(() => aggregator.add(client1(), Float64Array.from([0.5, 0.6]))).toThrow(/must sum to 1, got 1\.1/);
    expect(() => aggregator.add(client1(), Float64Array.from([1.5, -0.5]))).toThrow(
      /\[1\] must be a finite number >= 0/,
    );
    expect(() => aggregator.add(client1(), Float64Array.from([NaN, 1]))).toThrow(/\[0\] must be a finite/);
    expect(() => aggregator.add(client1(), [0.5, 0.5] as unknown as Float64Array)).toThrow(/Float64Array/);
  });

  it('rejects inconsistent or malformed updates, naming the client and weight', () => {
    const aggregator = new ClusterAggregator({ clusters: 2, weightByExamples: true });
    aggregator.add(client1(), soft1);
    const h = head([1, 2], [0]);
    expect(() => aggregator.add(client1(), soft1)).toThrow(/update from "c1" was already added/);
    expect(() => aggregator.add(update('x', { q: factors(5, 2, [0], [1], [1, 1]) }, h), soft1)).toThrow(
      /"x": "q" is 5 x 2, expected 4 x 2/,
    );
    expect(() => aggregator.add(update('x', { v: factors(4, 2, [0], [1], [1, 1]) }, h), soft1)).toThrow(
      /lacks adapted weight "q"/,
    );
    expect(() =>
      aggregator.add(
        update('x', { q: factors(4, 2, [0], [1], [1, 1]), v: factors(4, 2, [0], [1], [1, 1]) }, h),
        soft1,
      ),
    ).toThrow(/unknown adapted weight "v"/);
    expect(() => aggregator.add(update('x', { q: factors(4, 2, [4], [1], [1, 1]) }, h), soft1)).toThrow(
      /"q"\.rows holds row 4, outside \[0, 4\)/,
    );
    expect(() => aggregator.add(update('x', { q: factors(4, 2, [0], [NaN], [1, 1]) }, h), soft1)).toThrow(
      /"q"\.B\[0\] is not finite/,
    );
    expect(() => aggregator.add(update('x', { q: factors(4, 2, [0, 1], [1], [1, 1]) }, h), soft1)).toThrow(
      /"q"\.B must be a Float32Array of 2 kept rows x 1 values/,
    );
    expect(() =>
      aggregator.add(update('x', { q: factors(4, 2, [0], [1], [1, 1]) }, head([1, 2, 3], [0])), soft1),
    ).toThrow(/head is 3 x 1, expected 2 x 1/);
    expect(() => aggregator.add(update('x', { q: factors(4, 2, [0], [1], [1, 1]) }, h, 0), soft1)).toThrow(
      /exampleCount must be a positive number to weight by examples, got 0/,
    );
  });

  it('leaves no trace of a rejected update', () => {
    const aggregator = new ClusterAggregator({ clusters: 2 });
    aggregator.add(client1(), soft1);
    const bad = update('bad', { q: factors(4, 2, [0, 1], [5, 5], [1, Infinity]) }, head([1, 2], [0]));
    expect(() => aggregator.add(bad, soft2)).toThrow(/A\[1\] is not finite/);
    aggregator.add(client2(), soft2);
    const reference = aggregateClusters([client1(), client2()], [soft1, soft2], { clusters: 2 });
    const result = aggregator.finish();
    for (let j = 0; j < 2; j++) {
      expect(rowsOf(result[j]!.deltas.get('q'))).toEqual(rowsOf(reference[j]!.deltas.get('q')));
      expect(result[j]!.totalWeight).toBe(reference[j]!.totalWeight);
    }
  });
});

describe('DenseAggregator and heads', () => {
  const tensor = (shape: number[], data: number[]): DenseTensor => ({ shape, data: Float32Array.from(data) });

  it('computes the weighted mean of tensor maps (FedAvg of full fine-tuning deltas)', () => {
    const a = new Map([
      ['w', tensor([2, 2], [1, 2, 3, 4])],
      ['b', tensor([2], [0, 8])],
    ]);
    const b = new Map([
      ['w', tensor([2, 2], [5, 6, 7, 8])],
      ['b', tensor([2], [4, 0])],
    ]);
    const mean = weightedMeanTensors([a, b], [1, 3])!;
    expect(Array.from(mean.get('w')!.data)).toEqual([4, 5, 6, 7]);
    expect(Array.from(mean.get('b')!.data)).toEqual([3, 2]);
    expect(mean.get('w')!.shape).toEqual([2, 2]);

    const aggregator = new DenseAggregator();
    aggregator.add(a, 2);
    aggregator.add(b, 0);
    expect(aggregator.totalWeight).toBe(2);
    expect(aggregator.count).toBe(2);
    expect(aggregator.bufferFloats()).toBe(6);
    expect(Array.from(aggregator.finish()!.get('w')!.data)).toEqual([1, 2, 3, 4]);
  });

  it('returns null without positive weight and rejects mismatched contributions', () => {
    expect(new DenseAggregator().finish()).toBeNull();
    expect(weightedMeanTensors([new Map([['w', tensor([1], [1])]])], [0])).toBeNull();
    const aggregator = new DenseAggregator();
    aggregator.add(new Map([['w', tensor([2], [1, 2])]]), 1);
    expect(() => aggregator.add(new Map([['w', tensor([1, 2], [1, 2])]]), 1)).toThrow(
      /"w" has shape \[1, 2\], expected \[2\]/,
    );
    expect(() => aggregator.add(new Map([['x', tensor([2], [1, 2])]]), 1)).toThrow(/"w" is missing/);
    expect(() => aggregator.add(new Map([['w', tensor([2], [1, 2, 3])]]), 1)).toThrow(
      /3 values, shape \[2\] needs 2/,
    );
    expect(() => aggregator.add(new Map([['w', tensor([2], [1, NaN])]]), 1)).toThrow(
      /data\[1\] is not finite/,
    );
    expect(() => aggregator.add(new Map([['w', tensor([2], [1, 2])]]), -1)).toThrow(
      /weight must be a finite number >= 0/,
    );
    expect(() => weightedMeanTensors([], [1])).toThrow(/0 contributions but 1 weights/);
  });

  it('averages heads by weight', () => {
    const mean = averageHeads([head([1, 2], [0]), head([3, 6], [1])], [3, 1]);
    expect(mean.embeddingSize).toBe(2);
    expect(mean.numClasses).toBe(1);
    expect(Array.from(mean.kernel)).toEqual([1.5, 3]);
    expect(Array.from(mean.bias)).toEqual([0.25]);
    expect(() => averageHeads([head([1, 2], [0]), head([1, 2, 3, 4], [0, 1])], [1, 1])).toThrow(
      /head is 2 x 2, expected 2 x 1/,
    );
    expect(() => averageHeads([head([1, 2], [0])], [0])).toThrow(/positive weight/);
  });
});
