import { validateMemberships } from '../aggregation/validate';
import { validateFactoredMatrix, type FactoredMatrix } from '../linalg/low-rank';
import { randomizedSvd, type RandomizedSvdOptions, type TruncatedSvd } from '../linalg/svd';
import { mixWeight, validateClusterDeltas, type ClusterDeltas } from './cluster-deltas';

/** A client's personalized download: the mixture sum_j pi_kj G_j re-factorised to rank r, weight by weight. */
export interface PersonalizedFactors {
  /** Per weight: B [dOut, r], A [r, dIn] (scale 1), with that weight's own relative error. */
  readonly factors: Map<string, TruncatedSvd>;
  /** Truncation error over all weights together: sqrt(sum_w ||M_w - B_w A_w||^2 / sum_w ||M_w||^2). */
  readonly relativeError: number;
}

export type FactorOptions = Omit<RandomizedSvdOptions, 'seed'>;

/** Each weight gets its own sketch, derived from the caller's seed and its name. */
function weightSeed(seed: number | string, ...parts: (number | string)[]): string {
  return [seed, ...parts].join('/');
}

function squaredNorm(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! ** 2;
  return sum;
}

/**
 * The server's rank-r download for client k: the mixture of cluster deltas by its memberships, factorised by
 * randomized SVD. One mixture weight is materialised at a time (float64, dOut x dIn), never the whole model.
 */
export function personalizedFactors(
  clusterDeltas: readonly ClusterDeltas[],
  memberships: ArrayLike<number>,
  rank: number,
  seed: number | string,
  options: FactorOptions = {},
): PersonalizedFactors {
  const shapes = validateClusterDeltas(clusterDeltas, memberships);
  const factors = new Map<string, TruncatedSvd>();
  let total = 0;
  let lost = 0;
  for (const [name, { dOut, dIn }] of shapes) {
    const mixture = mixWeight(clusterDeltas, memberships, name);
    const svd = randomizedSvd(mixture, dOut, dIn, rank, { ...options, seed: weightSeed(seed, name) });
    const norm2 = squaredNorm(mixture);
    total += norm2;
    lost += svd.relativeError ** 2 * norm2;
    factors.set(name, svd);
  }
  return { factors, relativeError: total === 0 ? 0 : Math.sqrt(lost / total) };
}

/**
 * The exact-mixing alternative: every cluster's own rank-r factors, computed once per round and shared by all
 * clients, which then mix them with their memberships (mixFactors) without truncating the mixture again.
 * Costs K_c times the download of personalizedFactors.
 */
export function exactClusterFactors(
  clusterDeltas: readonly ClusterDeltas[],
  rank: number,
  options: RandomizedSvdOptions = {},
): Map<string, TruncatedSvd>[] {
  const shapes = validateClusterDeltas(clusterDeltas);
  const seed = options.seed ?? 0;
  return clusterDeltas.map((deltas, j) => {
    const factors = new Map<string, TruncatedSvd>();
    for (const [name, { dOut, dIn }] of shapes) {
      const data = deltas.get(name)!.data;
      factors.set(
        name,
        randomizedSvd(data, dOut, dIn, rank, { ...options, seed: weightSeed(seed, j, name) }),
      );
    }
    return factors;
  });
}

/**
 * Client side of exact mixing: sum_j pi_j scale_j B_j A_j as one factored matrix whose rank is the sum of the
 * clusters' ranks, B = [pi_1 scale_1 B_1 | ... | pi_K scale_K B_K] and A = [A_1; ...; A_K] (scale 1). Exact: the
 * product equals the mixture of the clusters' products.
 */
export function mixFactors(
  clusterFactors: readonly ReadonlyMap<string, FactoredMatrix>[],
  memberships: ArrayLike<number>,
): Map<string, FactoredMatrix> {
  if (!Array.isArray(clusterFactors) || clusterFactors.length === 0) {
    throw new Error('clusterFactors must be a non-empty array (one map per cluster)');
  }
  validateMemberships(memberships, clusterFactors.length);
  const first = clusterFactors[0]!;
  for (const [j, set] of clusterFactors.entries()) {
    if (set.size !== first.size)
      throw new Error(`cluster ${j} has ${set.size} weights, cluster 0 has ${first.size}`);
  }
  const mixed = new Map<string, FactoredMatrix>();
  for (const name of first.keys()) {
    const parts = clusterFactors.map((set, j) => {
      const part = set.get(name);
      if (part === undefined) throw new Error(`cluster ${j} has no factors for "${name}"`);
      validateFactoredMatrix(part, `cluster ${j} "${name}"`);
      return part;
    });
    const { dOut, dIn } = parts[0]!;
    for (const [j, part] of parts.entries()) {
      if (part.dOut !== dOut || part.dIn !== dIn) {
        throw new Error(
          `cluster ${j} "${name}" is ${part.dOut} x ${part.dIn}, cluster 0 has ${dOut} x ${dIn}`,
        );
      }
    }
    const rank = parts.reduce((sum, part) => sum + part.rank, 0);
    const B = new Float32Array(dOut * rank);
    const A = new Float32Array(rank * dIn);
    let offset = 0;
    parts.forEach((part, j) => {
      const weight = memberships[j]! * part.scale;
      for (let i = 0; i < dOut; i++) {
        for (let p = 0; p < part.rank; p++) B[i * rank + offset + p] = weight * part.B[i * part.rank + p]!;
      }
      A.set(part.A, offset * dIn);
      offset += part.rank;
    });
    mixed.set(name, { dOut, dIn, rank, B, A, scale: 1 });
  }
  return mixed;
}
