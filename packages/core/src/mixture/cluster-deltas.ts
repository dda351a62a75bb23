import { isMap, validateDenseTensor, validateMemberships } from '../aggregation/validate';
import type { DenseTensor } from '../update';

/** One cluster's accumulated delta G_j: weight name -> tensor of shape [dOut, dIn]. */
export type ClusterDeltas = ReadonlyMap<string, DenseTensor>;

export interface WeightShape {
  readonly dOut: number;
  readonly dIn: number;
}

/**
 * Checks that every cluster holds the same weights with the same [dOut, dIn] shapes (and, given memberships, that
 * they form a probability vector over the clusters); returns the shared shapes.
 */
export function validateClusterDeltas(
  clusterDeltas: readonly ClusterDeltas[],
  memberships?: ArrayLike<number>,
): Map<string, WeightShape> {
  if (!Array.isArray(clusterDeltas) || clusterDeltas.length === 0) {
    throw new Error('clusterDeltas must be a non-empty array (one map per cluster)');
  }
  if (memberships !== undefined) validateMemberships(memberships, clusterDeltas.length);
  const first = clusterDeltas[0]!;
  const shapes = new Map<string, WeightShape>();
  clusterDeltas.forEach((deltas, j) => {
    if (!isMap(deltas)) throw new Error(`clusterDeltas[${j}] must be a Map of name -> DenseTensor`);
    if (deltas.size !== first.size) {
      throw new Error(`cluster ${j} holds ${deltas.size} weights, cluster 0 holds ${first.size}`);
    }
    for (const [name, tensor] of deltas) {
      const label = `cluster ${j} "${name}"`;
      validateDenseTensor(tensor, label);
      if (tensor.shape.length !== 2)
        throw new Error(`${label} must be 2-D [dOut, dIn], got [${tensor.shape.join(', ')}]`);
      const [dOut, dIn] = tensor.shape as [number, number];
      const known = shapes.get(name);
      if (j === 0) shapes.set(name, { dOut, dIn });
      else if (known === undefined) throw new Error(`${label} is not in cluster 0`);
      else if (known.dOut !== dOut || known.dIn !== dIn) {
        throw new Error(`${label} is ${dOut} x ${dIn}, cluster 0 has ${known.dOut} x ${known.dIn}`);
      }
    }
  });
  return shapes;
}

/** sum_j pi_j G_j[name], accumulated in float64. Inputs must already be validated. */
export function mixWeight(
  clusterDeltas: readonly ClusterDeltas[],
  memberships: ArrayLike<number>,
  name: string,
): Float64Array {
  const mix = new Float64Array(clusterDeltas[0]!.get(name)!.data.length);
  clusterDeltas.forEach((deltas, j) => {
    const pi = memberships[j]!;
    if (pi === 0) return;
    const data = deltas.get(name)!.data;
    for (let i = 0; i < mix.length; i++) mix[i]! += pi * data[i]!;
  });
  return mix;
}

/** The personalized starting delta sum_j pi_kj G_j of client k, per weight (dense, shape [dOut, dIn]). */
export function mixtureDelta(
  clusterDeltas: readonly ClusterDeltas[],
  memberships: ArrayLike<number>,
): Map<string, DenseTensor> {
  const shapes = validateClusterDeltas(clusterDeltas, memberships);
  const mixture = new Map<string, DenseTensor>();
  for (const [name, { dOut, dIn }] of shapes) {
    mixture.set(name, {
      shape: [dOut, dIn],
      data: Float32Array.from(mixWeight(clusterDeltas, memberships, name)),
    });
  }
  return mixture;
}
