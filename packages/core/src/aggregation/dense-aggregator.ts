import type { DenseTensor } from '../update';
import { isMap, validateDenseTensor, validateWeight } from './validate';

/**
 * Streaming weighted mean of named dense tensors: sum_k w_k T_k / sum_k w_k. Serves full-fine-tuning FedAvg
 * (every encoder weight's delta, weighted by example count) and, through HeadAggregator, classifier heads.
 * Holds one float32 sum per tensor whatever the number of contributions; finish() divides those sums in place
 * and hands them out, so the aggregator is single-use.
 */
export class DenseAggregator {
  private sums: Map<string, { readonly shape: readonly number[]; readonly sum: Float32Array }> | null = null;
  private weight = 0;
  private contributions = 0;
  private finished = false;

  /** Adds one contribution. Every call must carry the same names and shapes as the first. */
  add(tensors: ReadonlyMap<string, DenseTensor>, weight: number): void {
    if (this.finished) throw new Error('DenseAggregator: add() after finish()');
    this.check(tensors, weight);
    const sums = (this.sums ??= DenseAggregator.allocate(tensors));
    if (weight > 0) {
      for (const [name, { sum }] of sums) {
        const data = tensors.get(name)!.data;
        for (let i = 0; i < sum.length; i++) sum[i]! += weight * data[i]!;
      }
    }
    this.weight += weight;
    this.contributions++;
  }

  /** Throws unless `add(tensors, weight)` would be accepted; touches nothing. */
  check(tensors: ReadonlyMap<string, DenseTensor>, weight: number): void {
    validateWeight(weight);
    if (!isMap(tensors)) throw new Error('tensors must be a Map of name -> DenseTensor');
    for (const [name, tensor] of tensors) validateDenseTensor(tensor, `tensor "${name}"`);
    if (this.sums === null) return;
    for (const [name, { shape }] of this.sums) {
      const tensor = tensors.get(name);
      if (tensor === undefined)
        throw new Error(`tensor "${name}" is missing (every contribution must carry it)`);
      if (tensor.shape.length !== shape.length || tensor.shape.some((dim, i) => dim !== shape[i])) {
        throw new Error(
          `tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`,
        );
      }
    }
    for (const name of tensors.keys()) {
      if (!this.sums.has(name)) throw new Error(`tensor "${name}" was not in the first contribution`);
    }
  }

  /** sum_k w_k. */
  get totalWeight(): number {
    return this.weight;
  }

  /** How many contributions were added. */
  get count(): number {
    return this.contributions;
  }

  /** Floats held in accumulators (constant after the first add). */
  bufferFloats(): number {
    let floats = 0;
    for (const { sum } of this.sums?.values() ?? []) floats += sum.length;
    return floats;
  }

  /** The running sums (copies), for combining with another process's by merge(). */
  partial(): DensePartial {
    return {
      sums: [...(this.sums ?? [])].map(([name, { shape, sum }]) => ({
        name,
        shape: [...shape],
        sum: sum.slice(),
      })),
      weight: this.weight,
      count: this.contributions,
    };
  }

  /** Adds another aggregator's sums (same names and shapes) as if its contributions had been added here. */
  merge(partial: DensePartial): void {
    if (this.finished) throw new Error('DenseAggregator: merge() after finish()');
    validateWeight(partial.weight, 'partial weight');
    if (partial.sums.length === 0) {
      this.weight += partial.weight;
      this.contributions += partial.count;
      return;
    }
    const tensors = new Map(partial.sums.map(({ name, shape, sum }) => [name, { shape, data: sum }]));
    this.check(tensors, 1);
    const sums = (this.sums ??= DenseAggregator.allocate(tensors));
    for (const [name, { sum }] of sums) {
      const other = tensors.get(name)!.data;
      for (let i = 0; i < sum.length; i++) sum[i]! += other[i]!;
    }
    this.weight += partial.weight;
    this.contributions += partial.count;
  }

  /** The weighted means, or null when nothing with positive weight was added. Single use. */
  finish(): Map<string, DenseTensor> | null {
    if (this.finished) throw new Error('DenseAggregator: finish() called twice');
    this.finished = true;
    if (this.sums === null || this.weight === 0) return null;
    const means = new Map<string, DenseTensor>();
    for (const [name, { shape, sum }] of this.sums) {
      for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! / this.weight;
      means.set(name, { shape, data: sum });
    }
    return means;
  }

  private static allocate(tensors: ReadonlyMap<string, DenseTensor>) {
    const sums = new Map<string, { shape: readonly number[]; sum: Float32Array }>();
    for (const [name, tensor] of tensors) {
      sums.set(name, { shape: [...tensor.shape], sum: new Float32Array(tensor.data.length) });
    }
    return sums;
  }
}

/** A DenseAggregator's running sums, weight and contribution count (see partial / merge). */
export interface DensePartial {
  readonly sums: readonly {
    readonly name: string;
    readonly shape: readonly number[];
    readonly sum: Float32Array;
  }[];
  readonly weight: number;
  readonly count: number;
}

/** One-shot weighted mean of tensor maps (e.g. FedAvg of full fine-tuning deltas by example count). */
export function weightedMeanTensors(
  contributions: readonly ReadonlyMap<string, DenseTensor>[],
  weights: readonly number[],
): Map<string, DenseTensor> | null {
  if (contributions.length !== weights.length) {
    throw new Error(`${contributions.length} contributions but ${weights.length} weights`);
  }
  const aggregator = new DenseAggregator();
  contributions.forEach((tensors, k) => aggregator.add(tensors, weights[k]!));
  return aggregator.finish();
}
