import type { ClientUpdate, DenseTensor, HeadParams, MaskedFactors } from '../update';
import { HeadAggregator, type HeadPartial } from './head-aggregator';
import { isMap, validateHead, validateMaskedFactors, validateMemberships, validateWeight } from './validate';

/**
 * Row normaliser of the per-cluster average.
 * - 'membership' (default): norm_j[d] = sum_k w_kj M_k[d], so each row is a true weighted mean of the updates that
 *   cover it, whatever the memberships.
 * - 'count' (the authors' code): norm[d] = sum_k n_k M_k[d], ignoring memberships; under soft memberships this
 *   shrinks every cluster's update (uniform pi over K_c clusters divides it by K_c). Kept for the ablation.
 */
export type RowNormalizer = 'membership' | 'count';

export interface ClusterAggregatorOptions {
  /** K_c, the number of clusters. */
  readonly clusters: number;
  readonly normalizer?: RowNormalizer;
  /** Weight client k by its example count N_k as well as its membership: w_kj = pi_kj N_k. Default false. */
  readonly weightByExamples?: boolean;
}

/** One cluster's aggregate for a round. */
export interface ClusterAggregate {
  /** dG_j per adapted weight, shape [dOut, dIn]; rows no update covered are 0. */
  readonly deltas: Map<string, DenseTensor>;
  /** H_j = sum_k w_kj H_k / sum_k w_kj, or null when no update had weight in this cluster. */
  readonly head: HeadParams | null;
  /** Per weight, the normaliser each row was divided by; 0 marks a row nobody covered. */
  readonly coverage: Map<string, Float64Array>;
  /** sum_k w_kj. */
  readonly totalWeight: number;
}

interface WeightShape {
  readonly dOut: number;
  readonly dIn: number;
}

/** Accumulators of one cluster; every cluster owns its own buffers. */
interface ClusterState {
  readonly numerators: Map<string, Float32Array>;
  readonly normalizers: Map<string, Float64Array>;
  readonly head: HeadAggregator;
  weight: number;
}

/**
 * FedHFT's server aggregation, mask-aware and membership-weighted, row by row:
 *   dG_j[d, :] = sum_k w_kj M_k[d] dW_k[d, :] / norm_j[d],  w_kj = pi_kj (x N_k),
 * streamed: each update is folded into per-cluster sums as it arrives and can then be dropped. Memory is
 * K_c x (sum of dOut dIn over weights, plus dOut normalisers and a head) floats, independent of the number of
 * clients. Folding an update costs O(|rows| r dIn) to rebuild its kept rows of scale B A plus O(K_c |rows| dIn) to
 * add them: the full dOut x dIn update is never formed.
 */
export class ClusterAggregator {
  readonly clusters: number;
  readonly normalizer: RowNormalizer;
  readonly weightByExamples: boolean;
  private shapes: Map<string, WeightShape> | null = null;
  private headSize: { readonly embeddingSize: number; readonly numClasses: number } | undefined;
  private readonly states: ClusterState[] = [];
  private readonly clientIds = new Set<string>();
  private finished = false;

  constructor(options: ClusterAggregatorOptions) {
    const { clusters, normalizer = 'membership', weightByExamples = false } = options;
    if (!Number.isInteger(clusters) || clusters < 1) {
      throw new Error(`clusters must be a positive integer, got ${clusters}`);
    }
    if (normalizer !== 'membership' && normalizer !== 'count') {
      throw new Error(`normalizer must be 'membership' or 'count', got ${String(normalizer)}`);
    }
    this.clusters = clusters;
    this.normalizer = normalizer;
    this.weightByExamples = weightByExamples;
    for (let j = 0; j < clusters; j++) {
      this.states.push({
        numerators: new Map(),
        normalizers: new Map(),
        head: new HeadAggregator(),
        weight: 0,
      });
    }
  }

  /** Folds in one client's update with its memberships pi_k (a probability vector over the clusters). */
  add(update: ClientUpdate, memberships: Float64Array): void {
    if (this.finished) throw new Error('ClusterAggregator: add() after finish()');
    const clientWeight = this.validate(update, memberships);
    if (this.shapes === null) {
      this.headSize = { embeddingSize: update.head.embeddingSize, numClasses: update.head.numClasses };
      this.shapes = this.allocate(
        new Map([...update.adapters].map(([name, { dOut, dIn }]) => [name, { dOut, dIn }])),
      );
    }
    const weights = Array.from(memberships, (pi) => pi * clientWeight);
    for (const [name, factors] of update.adapters) this.addFactors(name, factors, weights, clientWeight);
    this.states.forEach((state, j) => {
      state.head.add(update.head, weights[j]!); // weight 0 still allocates, so the footprint is fixed from the start
      state.weight += weights[j]!;
    });
    this.clientIds.add(update.clientId);
  }

  /** Updates folded in so far. */
  get count(): number {
    return this.clientIds.size;
  }

  /** Floats held in accumulators, over all clusters: fixed once the first update has set the shapes. */
  bufferFloats(): number {
    let floats = 0;
    for (const state of this.states) {
      for (const buffer of state.numerators.values()) floats += buffer.length;
      for (const buffer of state.normalizers.values()) floats += buffer.length;
      floats += state.head.bufferFloats();
    }
    return floats;
  }

  /**
   * The running sums of every cluster (copies) and the clients folded in: another process's aggregator of the
   * same round adds them with merge(), so a round split over several processes sums the same terms.
   */
  partial(): ClusterPartial {
    if (this.finished) throw new Error('ClusterAggregator: partial() after finish()');
    return {
      clusters: this.clusters,
      clientIds: [...this.clientIds],
      weights: [...(this.shapes ?? [])].map(([name, { dOut, dIn }]) => ({ name, dOut, dIn })),
      states: this.states.map((state) => ({
        numerators: new Map([...state.numerators].map(([name, sum]) => [name, sum.slice()])),
        normalizers: new Map([...state.normalizers].map(([name, norm]) => [name, norm.slice()])),
        head: state.head.partial(),
        weight: state.weight,
      })),
    };
  }

  /** Adds another aggregator's partial (same clusters, weights and normaliser; disjoint clients). */
  merge(partial: ClusterPartial): void {
    if (this.finished) throw new Error('ClusterAggregator: merge() after finish()');
    if (partial.clusters !== this.clusters || partial.states.length !== this.clusters) {
      throw new Error(`partial has ${partial.clusters} clusters, this aggregator ${this.clusters}`);
    }
    for (const id of partial.clientIds) {
      if (this.clientIds.has(id)) throw new Error(`partial: update from "${id}" was already added here`);
    }
    if (partial.clientIds.length === 0) return;
    const shapes = new Map(partial.weights.map(({ name, dOut, dIn }) => [name, { dOut, dIn }]));
    if (this.shapes !== null) {
      const describe = (m: Map<string, WeightShape>) =>
        [...m]
          .map(([n, w]) => `${n}:${w.dOut}x${w.dIn}`)
          .sort()
          .join(',');
      const mine = describe(this.shapes);
      const theirs = describe(shapes);
      if (mine !== theirs) throw new Error(`partial weights ${theirs} differ from ${mine}`);
    }
    partial.states.forEach((other, j) => {
      for (const [name, { dOut, dIn }] of shapes) {
        const sum = other.numerators.get(name);
        const norm = other.normalizers.get(name);
        if (sum?.length !== dOut * dIn || norm?.length !== dOut) {
          throw new Error(`partial cluster ${j}: "${name}" sums do not match ${dOut} x ${dIn}`);
        }
      }
      validateWeight(other.weight, `partial cluster ${j} weight`);
    });
    if (this.shapes === null) {
      this.shapes = this.allocate(shapes);
    }
    partial.states.forEach((other, j) => {
      const state = this.states[j]!;
      state.head.merge(other.head);
      for (const name of shapes.keys()) {
        addInto(state.numerators.get(name)!, other.numerators.get(name)!);
        addInto(state.normalizers.get(name)!, other.normalizers.get(name)!);
      }
      state.weight += other.weight;
    });
    this.headSize ??= partial.states[0]!.head.size ?? undefined;
    for (const id of partial.clientIds) this.clientIds.add(id);
  }

  /**
   * Divides each cluster's sums by their row normalisers, in place, and returns one aggregate per cluster (the
   * buffers are handed out, not copied, so the aggregator is single-use).
   */
  finish(): ClusterAggregate[] {
    if (this.finished) throw new Error('ClusterAggregator: finish() called twice');
    this.finished = true;
    return this.states.map((state) => {
      const deltas = new Map<string, DenseTensor>();
      for (const [name, { dOut, dIn }] of this.shapes ?? []) {
        const sum = state.numerators.get(name)!;
        const norm = state.normalizers.get(name)!;
        for (let d = 0; d < dOut; d++) {
          if (norm[d] === 0) continue; // uncovered: the row stays 0
          const inverse = 1 / norm[d]!;
          for (let c = d * dIn, end = c + dIn; c < end; c++) sum[c]! *= inverse;
        }
        deltas.set(name, { shape: [dOut, dIn], data: sum });
      }
      return {
        deltas,
        head: state.head.finish(),
        coverage: new Map(state.normalizers),
        totalWeight: state.weight,
      };
    });
  }

  /** Checks everything before any accumulator changes; returns n_k (N_k or 1). */
  private validate(update: ClientUpdate, memberships: Float64Array): number {
    if (update === null || typeof update !== 'object') throw new Error('update is missing');
    const who = `update from "${update.clientId}"`;
    if (this.clientIds.has(update.clientId))
      throw new Error(`${who} was already added (one update per client)`);
    if (!(memberships instanceof Float64Array)) throw new Error(`${who}: memberships must be a Float64Array`);
    validateMemberships(memberships, this.clusters, `${who}: memberships`);
    let clientWeight = 1;
    if (this.weightByExamples) {
      const n = update.exampleCount;
      if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
        throw new Error(`${who}: exampleCount must be a positive number to weight by examples, got ${n}`);
      }
      clientWeight = n;
    }
    if (!isMap(update.adapters)) throw new Error(`${who}: adapters must be a Map`);
    const shapes = this.shapes;
    if (shapes !== null) {
      for (const name of shapes.keys()) {
        if (!update.adapters.has(name)) throw new Error(`${who} lacks adapted weight "${name}"`);
      }
    }
    for (const [name, factors] of update.adapters) {
      const shape = shapes === null ? factors : shapes.get(name);
      if (shape === undefined) throw new Error(`${who} has unknown adapted weight "${name}"`);
      if (!Number.isInteger(shape.dOut) || shape.dOut < 1 || !Number.isInteger(shape.dIn) || shape.dIn < 1) {
        throw new Error(`${who}: "${name}" has invalid dims ${shape.dOut} x ${shape.dIn}`);
      }
      validateMaskedFactors(factors, shape.dOut, shape.dIn, `${who}: "${name}"`);
    }
    validateHead(update.head, `${who}: head`, this.headSize);
    return clientWeight;
  }

  /** Zeroed sums of every cluster for these weights; returns the shapes, which fix the aggregator's layout. */
  private allocate(shapes: Map<string, WeightShape>): Map<string, WeightShape> {
    for (const [name, { dOut, dIn }] of shapes) {
      for (const state of this.states) {
        state.numerators.set(name, new Float32Array(dOut * dIn));
        state.normalizers.set(name, new Float64Array(dOut));
      }
    }
    return shapes;
  }

  /** Rebuilds each kept row of scale B A once, then adds it into every cluster with weight. */
  private addFactors(name: string, factors: MaskedFactors, weights: number[], clientWeight: number): void {
    const { dIn, rank, rows, A, B, scale } = factors;
    const row = new Float64Array(dIn);
    const countOnly = this.normalizer === 'count';
    for (let i = 0; i < rows.length; i++) {
      const d = rows[i]!;
      row.fill(0);
      for (let p = 0; p < rank; p++) {
        const b = scale * B[i * rank + p]!;
        if (b === 0) continue;
        for (let c = 0, a = p * dIn; c < dIn; c++, a++) row[c]! += b * A[a]!;
      }
      this.states.forEach((state, j) => {
        const w = weights[j]!;
        // The count normaliser counts every covering update, even in clusters it has no weight in.
        if (countOnly) state.normalizers.get(name)![d]! += clientWeight;
        if (w === 0) return;
        if (!countOnly) state.normalizers.get(name)![d]! += w;
        const sum = state.numerators.get(name)!;
        for (let c = 0, at = d * dIn; c < dIn; c++, at++) sum[at]! += w * row[c]!;
      });
    }
  }
}

function addInto(target: Float32Array | Float64Array, source: Float32Array | Float64Array): void {
  for (let i = 0; i < target.length; i++) target[i]! += source[i]!;
}

/** A ClusterAggregator's sums (see partial / merge). */
export interface ClusterPartial {
  readonly clusters: number;
  readonly clientIds: readonly string[];
  readonly weights: readonly { readonly name: string; readonly dOut: number; readonly dIn: number }[];
  readonly states: readonly {
    readonly numerators: ReadonlyMap<string, Float32Array>;
    readonly normalizers: ReadonlyMap<string, Float64Array>;
    readonly head: HeadPartial;
    readonly weight: number;
  }[];
}

/** One-shot aggregation of a round's updates with their memberships (see ClusterAggregator). */
export function aggregateClusters(
  updates: readonly ClientUpdate[],
  memberships: readonly Float64Array[],
  options: ClusterAggregatorOptions,
): ClusterAggregate[] {
  if (updates.length !== memberships.length) {
    throw new Error(`${updates.length} updates but ${memberships.length} membership vectors`);
  }
  const aggregator = new ClusterAggregator(options);
  updates.forEach((update, k) => aggregator.add(update, memberships[k]!));
  return aggregator.finish();
}
