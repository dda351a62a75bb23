import { describe, expect, it } from 'vitest';
import {
  exactClusterFactors,
  gaussianFrom,
  lowRankProduct,
  mixFactors,
  mixtureDelta,
  mixtureHead,
  personalizedFactors,
  seededRandom,
  type ClusterDeltas,
  type DenseTensor,
  type FactoredMatrix,
  type HeadParams,
} from '../src/index';

const tensor = (shape: number[], data: ArrayLike<number>): DenseTensor => ({
  shape,
  data: Float32Array.from(data),
});

function gaussianArray(length: number, seed: number | string): Float32Array {
  const next = gaussianFrom(seededRandom(seed));
  return Float32Array.from({ length }, () => next());
}

/** A dOut x dIn delta of exactly rank `rank`. */
function rankDelta(dOut: number, dIn: number, rank: number, seed: string): DenseTensor {
  const B = gaussianArray(dOut * rank, `${seed}B`);
  const A = gaussianArray(rank * dIn, `${seed}A`);
  return { shape: [dOut, dIn], data: lowRankProduct({ dOut, dIn, rank, B, A, scale: 1 }) };
}

function norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! ** 2;
  return Math.sqrt(sum);
}

function difference(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  return Array.from(a, (v, i) => v - b[i]!);
}

describe('mixtureDelta', () => {
  it('is sum_j pi_j G_j per weight', () => {
    const g0: ClusterDeltas = new Map([['q', tensor([2, 2], [1, 2, 3, 4])]]);
    const g1: ClusterDeltas = new Map([['q', tensor([2, 2], [5, 6, 7, 8])]]);
    const mix = mixtureDelta([g0, g1], [0.25, 0.75]);
    expect(Array.from(mix.get('q')!.data)).toEqual([4, 5, 6, 7]);
    expect(mix.get('q')!.shape).toEqual([2, 2]);
  });

  it('returns a cluster own delta for one-hot memberships', () => {
    const clusters = [0, 1, 2].map((j) => new Map([['q', rankDelta(6, 4, 2, `onehot${j}`)]]));
    const mix = mixtureDelta(clusters, Float64Array.from([0, 1, 0]));
    expect(Array.from(mix.get('q')!.data)).toEqual(Array.from(clusters[1]!.get('q')!.data));
  });

  it('validates clusters and memberships', () => {
    const g = new Map([['q', tensor([2, 2], [1, 2, 3, 4])]]);
    expect(() => mixtureDelta([], [])).toThrow(/non-empty array/);
    expect(() => mixtureDelta([g, g], [1])).toThrow(/1 values, expected one per cluster \(2\)/);
    expect(() => mixtureDelta([g, g], [0.5, 0.6])).toThrow(/must sum to 1/);
    expect(() => mixtureDelta([g, new Map([['q', tensor([1, 4], [1, 2, 3, 4])]])], [0.5, 0.5])).toThrow(
      /cluster 1 "q" is 1 x 4, cluster 0 has 2 x 2/,
    );
    expect(() => mixtureDelta([g, new Map([['v', tensor([2, 2], [1, 2, 3, 4])]])], [0.5, 0.5])).toThrow(
      /cluster 1 "v" is not in cluster 0/,
    );
    expect(() => mixtureDelta([new Map([['q', tensor([4], [1, 2, 3, 4])]])], [1])).toThrow(/must be 2-D/);
    expect(() => mixtureDelta([new Map([['q', tensor([2, 2], [1, 2, 3])]])], [1])).toThrow(/3 values/);
  });
});

describe('personalizedFactors', () => {
  const shapes = { q: [24, 16], v: [12, 30] } as const;

  function clusterSet(ranks: number[], prefix: string): ClusterDeltas[] {
    return ranks.map(
      (rank, j) =>
        new Map(
          Object.entries(shapes).map(([name, [dOut, dIn]]) => [
            name,
            rankDelta(dOut, dIn, rank, `${prefix}${j}${name}`),
          ]),
        ),
    );
  }

  it('reconstructs a mixture of rank-r deltas exactly when the rank covers the sum of their ranks', () => {
    const clusters = clusterSet([2, 3, 1], 'exact');
    const pi = Float64Array.from([0.5, 0.3, 0.2]);
    const mixture = mixtureDelta(clusters, pi);
    const download = personalizedFactors(clusters, pi, 6, 'client-7');
    expect(download.relativeError).toBeLessThan(1e-6);
    for (const [name, [dOut, dIn]] of Object.entries(shapes)) {
      const f = download.factors.get(name)!;
      expect([f.dOut, f.dIn, f.rank, f.B.length, f.A.length]).toEqual([dOut, dIn, 6, dOut * 6, 6 * dIn]);
      const target = mixture.get(name)!.data;
      expect(norm(difference(lowRankProduct(f), target)) / norm(target)).toBeLessThan(1e-5);
    }
  });

  it('gives the cluster own delta for one-hot memberships', () => {
    const clusters = clusterSet([2, 2], 'onehot');
    const download = personalizedFactors(clusters, [1, 0], 2, 1);
    for (const name of Object.keys(shapes)) {
      const own = clusters[0]!.get(name)!.data;
      expect(norm(difference(lowRankProduct(download.factors.get(name)!), own)) / norm(own)).toBeLessThan(
        1e-5,
      );
    }
  });

  it('reports the truncation error per weight and over all weights', () => {
    // Full-rank deltas of very different sizes: rank 3 loses a measurable share of each.
    const clusters = [0, 1].map(
      (j) =>
        new Map(
          Object.entries(shapes).map(([name, [dOut, dIn]]) => [
            name,
            tensor(
              [dOut, dIn],
              gaussianArray(dOut * dIn, `full${j}${name}`).map((v) => v * (name === 'q' ? 1 : 5)),
            ),
          ]),
        ),
    );
    const pi = [0.4, 0.6];
    const mixture = mixtureDelta(clusters, pi);
    const download = personalizedFactors(clusters, pi, 3, 'err');
    let lost = 0;
    let total = 0;
    for (const name of Object.keys(shapes)) {
      const target = mixture.get(name)!.data;
      const error = norm(difference(lowRankProduct(download.factors.get(name)!), target));
      expect(download.factors.get(name)!.relativeError).toBeCloseTo(error / norm(target), 5);
      expect(download.factors.get(name)!.relativeError).toBeGreaterThan(0.3);
      lost += error ** 2;
      total += norm(target) ** 2;
    }
    expect(download.relativeError).toBeCloseTo(Math.sqrt(lost / total), 5);
  });

  it('is deterministic for a seed, and returns zero factors for zero deltas (the first round)', () => {
    const clusters = clusterSet([5, 5], 'det');
    const a = personalizedFactors(clusters, [0.5, 0.5], 3, 'seed', { powerIterations: 0 });
    const b = personalizedFactors(clusters, [0.5, 0.5], 3, 'seed', { powerIterations: 0 });
    expect(Array.from(a.factors.get('q')!.B)).toEqual(Array.from(b.factors.get('q')!.B));
    const zero = [new Map([['q', tensor([4, 3], new Float32Array(12))]])];
    const download = personalizedFactors(zero, [1], 2, 0);
    expect(download.relativeError).toBe(0);
    expect(download.factors.get('q')!.B.every((v) => v === 0)).toBe(true);
  });
});

describe('exact cluster factors, mixed on the client', () => {
  it('mixes each cluster factors exactly: rank K r, product sum_j pi_j B_j A_j', () => {
    const clusters = [2, 3, 1].map((rank, j) => new Map([['q', rankDelta(10, 7, rank, `mix${j}`)]]));
    const perCluster = exactClusterFactors(clusters, 3, { seed: 5 });
    expect(perCluster).toHaveLength(3);
    for (const [j, set] of perCluster.entries()) {
      const own = clusters[j]!.get('q')!.data;
      expect(set.get('q')!.relativeError).toBeLessThan(1e-6);
      expect(norm(difference(lowRankProduct(set.get('q')!), own)) / norm(own)).toBeLessThan(1e-5);
    }
    const pi = [0.2, 0.5, 0.3];
    const mixed = mixFactors(perCluster, pi).get('q')!;
    expect(mixed.rank).toBe(9);
    // Cluster ranks <= 3, so the exact mixture equals the dense mixture.
    const target = mixtureDelta(clusters, pi).get('q')!.data;
    expect(norm(difference(lowRankProduct(mixed), target)) / norm(target)).toBeLessThan(1e-5);
  });

  it('honours each cluster scale and validates its inputs', () => {
    const one = (value: number, scale: number): FactoredMatrix => ({
      dOut: 2,
      dIn: 1,
      rank: 1,
      B: Float32Array.from([value, 1]),
      A: Float32Array.from([2]),
      scale,
    });
    const q0 = new Map([['q', one(1, 0.5)]]);
    const q1 = new Map([['q', one(3, 2)]]);
    // 0.25 * 0.5 * [1, 1] * 2 + 0.75 * 2 * [3, 1] * 2 = [0.25 + 9, 0.25 + 3].
    expect(Array.from(lowRankProduct(mixFactors([q0, q1], [0.25, 0.75]).get('q')!))).toEqual([9.25, 3.25]);
    expect(() => mixFactors([q0, new Map([['v', one(1, 1)]])], [0.5, 0.5])).toThrow(
      /cluster 1 has no factors for "q"/,
    );
    expect(() =>
      mixFactors([q0, new Map([['q', { ...one(1, 1), dIn: 2, A: new Float32Array(2) }]])], [0.5, 0.5]),
    ).toThrow(/cluster 1 "q" is 2 x 2, cluster 0 has 2 x 1/);
    expect(() => mixFactors([q0], [0.5])).toThrow(/must sum to 1/);
  });
});

describe('mixtureHead', () => {
  const head = (kernel: number[], bias: number[]): HeadParams => ({
    embeddingSize: kernel.length / bias.length,
    numClasses: bias.length,
    kernel: Float32Array.from(kernel),
    bias: Float32Array.from(bias),
  });

  it('is sum_j pi_j H_j', () => {
    const mixed = mixtureHead([head([1, 2, 3, 4], [0, 4]), head([5, 6, 7, 8], [4, 0])], [0.25, 0.75]);
    expect(Array.from(mixed.kernel)).toEqual([4, 5, 6, 7]);
    expect(Array.from(mixed.bias)).toEqual([3, 1]);
    expect([mixed.embeddingSize, mixed.numClasses]).toEqual([2, 2]);
  });

  it('rejects heads of different sizes and bad memberships', () => {
    expect(() => mixtureHead([head([1, 2], [0]), head([1, 2, 3], [0])], [0.5, 0.5])).toThrow(
      /heads\[1\] is 3 x 1, expected 2 x 1/,
    );
    expect(() => mixtureHead([head([1, 2], [0])], [2])).toThrow(/sum to 1/);
    expect(() => mixtureHead([], [])).toThrow(/non-empty/);
  });
});
