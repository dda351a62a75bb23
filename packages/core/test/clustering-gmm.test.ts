import { describe, expect, it } from 'vitest';
import {
  adjustedRandIndex,
  bayesianInformationCriterion,
  chooseClusterCount,
  diagonalGmmParameterCount,
  fitGaussianMixture,
  gaussianFrom,
  hardLabels,
  minCostAssignment,
  mixtureResponsibilities,
  seededRandom,
  standardizeFeatures,
} from '../src/index';

/** `groups` Gaussian blobs in `dim` dimensions: centres N(0, separation^2), points centre + N(0, 1). */
function blobs(groups: number, perGroup: number, dim: number, separation: number, seed: string) {
  const normal = gaussianFrom(seededRandom(seed));
  const centres = Array.from({ length: groups }, () =>
    Array.from({ length: dim }, () => separation * normal()),
  );
  const points: Float64Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < groups * perGroup; i++) {
    const g = i % groups; // interleaved, so order carries no information
    points.push(Float64Array.from(centres[g]!, (c) => c + normal()));
    labels.push(g);
  }
  return { points, labels };
}

describe('adjustedRandIndex', () => {
  it('is 1 for identical partitions up to renaming', () => {
    expect(adjustedRandIndex([0, 0, 1, 1, 2], [5, 5, 3, 3, 9])).toBe(1);
    expect(adjustedRandIndex([0, 0, 0], [1, 1, 1])).toBe(1);
    expect(adjustedRandIndex([7], [3])).toBe(1);
  });

  it('matches a hand-computed value', () => {
    // a = [0,0,0,1,1,1], b = [0,0,1,1,2,2]: index = 2, sumA = 6, sumB = 3, expected = 18/15, max = 4.5.
    expect(adjustedRandIndex([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])).toBeCloseTo(
      (2 - 1.2) / (4.5 - 1.2),
      12,
    );
  });

  it('is near 0 for independent labelings', () => {
    const random = seededRandom('ari');
    const a = Array.from({ length: 2000 }, () => Math.floor(random() * 4));
    const b = Array.from({ length: 2000 }, () => Math.floor(random() * 4));
    expect(Math.abs(adjustedRandIndex(a, b))).toBeLessThan(0.01);
  });

  it('validates its inputs', () => {
    expect(() => adjustedRandIndex([0, 1], [0])).toThrow(/differ in length/);
    expect(() => adjustedRandIndex([], [])).toThrow(/empty/);
    expect(() => adjustedRandIndex([0, 0.5], [0, 1])).toThrow(/a\[1\] = 0.5 is not an integer/);
  });
});

describe('minCostAssignment', () => {
  it('solves a square case by hand', () => {
    // Optimum: 0->1 (1), 1->0 (2), 2->2 (2) = 5.
    const cost = [
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ];
    expect(Array.from(minCostAssignment(cost))).toEqual([1, 0, 2]);
  });

  it('matches brute force on random rectangular matrices', () => {
    const random = seededRandom('hungarian');
    const permutations = (items: number[], k: number): number[][] =>
      k === 0
        ? [[]]
        : items.flatMap((x) =>
            permutations(
              items.filter((y) => y !== x),
              k - 1,
            ).map((p) => [x, ...p]),
          );
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(random() * 4);
      const m = n + Math.floor(random() * 3);
      const cost = Array.from({ length: n }, () =>
        Array.from({ length: m }, () => Math.round(random() * 20 - 10)),
      );
      const total = (a: ArrayLike<number>) => Array.from(a).reduce((s, col, row) => s + cost[row]![col]!, 0);
      const best = Math.min(...permutations([...Array(m).keys()], n).map(total));
      const assignment = minCostAssignment(cost);
      expect(new Set(assignment).size).toBe(n);
      expect(total(assignment)).toBe(best);
    }
  });

  it('rejects more rows than columns and non-finite costs', () => {
    expect(() => minCostAssignment([[1], [2]])).toThrow(/cannot assign 2 rows to 1 columns/);
    expect(() => minCostAssignment([[1, Number.NaN]])).toThrow(/cost\[0\]\[1\]/);
  });
});

describe('fitGaussianMixture', () => {
  it.each([
    [3, 15, 20],
    [4, 12, 100],
    [3, 20, 300],
  ])('recovers %i well-separated groups of %i points in %i dimensions (ARI >= 0.9)', (groups, per, dim) => {
    const { points, labels } = blobs(groups, per, dim, 1.5, `blobs:${groups}:${dim}`);
    const fit = fitGaussianMixture(standardizeFeatures(points).rows, groups, { seed: 1 });
    const ari = adjustedRandIndex(labels, hardLabels(fit.responsibilities));
    expect(ari).toBeGreaterThanOrEqual(0.9);
  });

  it('gives responsibilities that sum to 1 and weights that sum to 1', () => {
    const { points } = blobs(3, 10, 5, 0.7, 'soft'); // overlapping: genuinely soft responsibilities
    const fit = fitGaussianMixture(points, 3, { seed: 2 });
    for (const r of fit.responsibilities) {
      expect(r.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      for (const v of r) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(fit.weights.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    expect(fit.responsibilities.some((r) => Math.max(...r) < 0.99)).toBe(true);
    expect(fit.converged).toBe(true);
  });

  it('keeps the best of its restarts', () => {
    const { points } = blobs(4, 6, 6, 0.8, 'restarts');
    const first = fitGaussianMixture(points, 4, { seed: 5, restarts: 1 });
    expect(fitGaussianMixture(points, 4, { seed: 5, restarts: 8 }).logLikelihood).toBeGreaterThanOrEqual(
      first.logLikelihood,
    );
  });

  it('stays finite where linear-space densities underflow, and with duplicate points', () => {
    const { points } = blobs(2, 10, 50, 3, 'far');
    const fit = fitGaussianMixture(points, 2, { seed: 0 });
    const far = new Float64Array(50).fill(1e4); // every density is exp(-1e9): 0 in linear space
    const [r] = mixtureResponsibilities(fit, [far]);
    expect(r![0]! + r![1]!).toBeCloseTo(1, 12);
    const duplicates = [[0], [0], [0], [1]].map((p) => Float64Array.from(p));
    const dup = fitGaussianMixture(duplicates, 3, { seed: 0 });
    expect(Number.isFinite(dup.logLikelihood)).toBe(true);
    for (const row of dup.responsibilities) expect(row.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
  });

  it('is deterministic for a seed', () => {
    const { points } = blobs(3, 10, 8, 1, 'determinism');
    const a = fitGaussianMixture(points, 3, { seed: 'x' });
    const b = fitGaussianMixture(points, 3, { seed: 'x' });
    expect(b.logLikelihood).toBe(a.logLikelihood);
    expect(b.responsibilities).toEqual(a.responsibilities);
    expect(b.means).toEqual(a.means);
  });

  it('floors variances relative to each feature spread', () => {
    const points = [
      [0, 0],
      [0, 1],
      [10, 0],
      [10, 1],
    ].map((p) => Float64Array.from(p));
    const fit = fitGaussianMixture(points, 4, { seed: 0, varianceFloor: 0.1 });
    // Every component holds one point: its variance is the floor, 0.1 * (25, 0.25).
    for (const variance of fit.variances) {
      expect(variance[0]).toBeCloseTo(2.5, 9);
      expect(variance[1]).toBeCloseTo(0.025, 9);
    }
    expect(Number.isFinite(fit.logLikelihood)).toBe(true);
  });

  it('computes responsibilities of new points under a fitted model', () => {
    const { points } = blobs(2, 10, 4, 3, 'posterior');
    const fit = fitGaussianMixture(points, 2, { seed: 3 });
    const again = mixtureResponsibilities(fit, points);
    again.forEach((r, i) => r.forEach((v, k) => expect(v).toBeCloseTo(fit.responsibilities[i]![k]!, 9)));
    expect(() => mixtureResponsibilities(fit, [[1, 2]])).toThrow(/2 dimensions, the model 4/);
  });

  it('validates its inputs', () => {
    expect(() => fitGaussianMixture([], 1)).toThrow(/non-empty/);
    expect(() => fitGaussianMixture([[1, 2], [3]], 1)).toThrow(/points\[1\] has 1 values, expected 2/);
    expect(() => fitGaussianMixture([[1, Number.NaN]], 1)).toThrow(/not finite/);
    expect(() => fitGaussianMixture([[1], [2]], 3)).toThrow(/cannot fit 3 components to 2 points/);
    expect(() => fitGaussianMixture([[1], [2]], 0)).toThrow(/k must be a positive integer/);
    expect(() => fitGaussianMixture([[1], [2]], 1, { varianceFloor: 0 })).toThrow(/varianceFloor/);
  });
});

describe('BIC and chooseClusterCount', () => {
  it('counts diagonal GMM parameters as 2Kd + K - 1', () => {
    expect(diagonalGmmParameterCount(1, 10)).toBe(20);
    expect(diagonalGmmParameterCount(3, 256)).toBe(1538);
    expect(bayesianInformationCriterion(-100, 20, Math.E)).toBeCloseTo(220, 12);
  });

  it.each([
    [2, 20, 30],
    [3, 15, 50],
    [4, 12, 200],
  ])('picks K = %i on %i-point groups in %i dimensions', (groups, per, dim) => {
    const { points, labels } = blobs(groups, per, dim, 1.5, `bic:${groups}:${dim}`);
    const choice = chooseClusterCount(standardizeFeatures(points).rows, 6, 7);
    expect(choice.k).toBe(groups);
    expect(choice.candidates.map((c) => c.k)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(adjustedRandIndex(labels, hardLabels(choice.fit.responsibilities))).toBeGreaterThanOrEqual(0.9);
  });

  it.each([
    [30, 20],
    [40, 256],
    [60, 100],
  ])('picks K = 1 on a single blob of %i points in %i dimensions', (n, dim) => {
    const { points } = blobs(1, n, dim, 0, `single:${n}:${dim}`);
    expect(chooseClusterCount(standardizeFeatures(points).rows, 5, 11).k).toBe(1);
  });

  it('never tries more components than points', () => {
    const choice = chooseClusterCount([[0], [5], [10]], 8, 0);
    expect(choice.candidates.map((c) => c.k)).toEqual([1, 2, 3]);
    expect(chooseClusterCount([[1, 2]], 4, 0).k).toBe(1);
  });

  it('is deterministic and independent of kMax beyond the chosen K', () => {
    const { points } = blobs(3, 10, 12, 1.5, 'kmax');
    const a = chooseClusterCount(points, 4, 'seed');
    const b = chooseClusterCount(points, 6, 'seed');
    expect(b.k).toBe(a.k);
    expect(b.candidates.slice(0, 4)).toEqual(a.candidates);
  });
});
