import { HEAD_BIAS_BLOCK, HEAD_KERNEL_BLOCK, updateDeltaBlocks, type DeltaRows } from '../privacy/blocks';
import { secureRandom } from '../privacy/noise';
import { dpEpsilon } from '../privacy/rdp';
import { seededRandom } from '../random';
import type { ClientUpdate, HeadParams } from '../update';
import type { ResolvedDpOptions } from './privacy-options';
import type { ModelSchema } from './strategy';

/** Round-time pieces the strategies' robust and DP options share. */

/**
 * What a trimmed mean aggregates for one client: each adapter's kept rows of scale B A, each dense delta, and the
 * TRAINED head (not its change) under HEAD_KERNEL_BLOCK / HEAD_BIAS_BLOCK, since the plain rule replaces the
 * head by the mean of the trained heads. Memory: kept rows x dIn floats per adapted weight. Every array is the
 * strategy's own (dense deltas are copied), so the caller may reuse its buffers once receive() returns.
 */
export function trainedBlocks(update: ClientUpdate): Map<string, DeltaRows> {
  const { head } = update;
  const zero: HeadParams = {
    ...head,
    kernel: new Float32Array(head.kernel.length),
    bias: new Float32Array(head.bias.length),
  };
  const blocks = updateDeltaBlocks(update, zero);
  for (const name of update.dense.keys()) {
    const block = blocks.get(name)!;
    blocks.set(name, { ...block, values: Float32Array.from(block.values) });
  }
  return blocks;
}

/** A deep copy of an update's arrays, for updates kept until finishRound (the caller may reuse its buffers). */
export function copyUpdate(update: ClientUpdate): ClientUpdate {
  return {
    ...update,
    adapters: new Map(
      [...update.adapters].map(([name, f]) => [
        name,
        { ...f, rows: Int32Array.from(f.rows), A: Float32Array.from(f.A), B: Float32Array.from(f.B) },
      ]),
    ),
    dense: new Map(
      [...update.dense].map(([name, t]) => [name, { shape: [...t.shape], data: Float32Array.from(t.data) }]),
    ),
    head: {
      ...update.head,
      kernel: Float32Array.from(update.head.kernel),
      bias: Float32Array.from(update.head.bias),
    },
  };
}

/**
 * Memberships as DP weights: a probability vector is accepted within 1e-6 of summing to 1, so one summing to a
 * little more is scaled down to sum to 1, keeping every weight <= 1 and their squares' sum <= 1 (see
 * GaussianSumMechanism).
 */
export function dpWeights(membership: Float64Array): Float64Array {
  const total = membership.reduce((sum, pi) => sum + pi, 0);
  return total > 1 ? membership.map((pi) => pi / total) : membership;
}

/** Floats a buffered set of row blocks holds (values and row indices). */
export function blockFloats(blocks: ReadonlyMap<string, DeltaRows>): number {
  let floats = 0;
  for (const block of blocks.values()) floats += block.values.length + block.rows.length;
  return floats;
}

/** Floats of an update in wire form (factors, dense tensors, head). */
export function updateFloats(update: ClientUpdate): number {
  let floats = update.head.kernel.length + update.head.bias.length;
  for (const f of update.adapters.values()) floats += f.A.length + f.B.length + f.rows.length;
  for (const t of update.dense.values()) floats += t.data.length;
  return floats;
}

/** The head as the two blocks updateDeltaBlocks names it, with their [dOut, cols] shapes. */
export function headLayout(schema: ModelSchema): [string, { dOut: number; cols: number }][] {
  return [
    [HEAD_KERNEL_BLOCK, { dOut: schema.embeddingSize, cols: schema.numClasses }],
    [HEAD_BIAS_BLOCK, { dOut: 1, cols: schema.numClasses }],
  ];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Memberships closer than this to the largest count as tied (uniform memberships are exact ties). */
const TIE_TOLERANCE = 1e-9;

/**
 * Hard assignment for the trimmed mean: the clusters where a client's membership is largest, ties included, so
 * every client counts in at least one cluster, uniform memberships (warm-up) put it in all of them, and once the
 * GMM has decided, in exactly one.
 */
export function argmaxClusters(membership: Float64Array): number[] {
  const top = Math.max(...membership);
  const clusters: number[] = [];
  membership.forEach((pi, j) => {
    if (pi >= top - TIE_TOLERANCE) clusters.push(j);
  });
  return clusters;
}

/**
 * The privacy spent so far: one step of the sampled Gaussian mechanism per released round. Epsilon is recomputed
 * from the step count each time (an RdpAccountant composing `steps` rounds), so a restored strategy reports
 * bit-identical numbers.
 */
export class DpLedger {
  steps = 0;

  constructor(readonly options: ResolvedDpOptions) {}

  /** The noise source of a round: seeded per round (reproducible, also after a restore), or unpredictable. */
  random(round: number): () => number {
    const { seed } = this.options;
    return seed === null ? secureRandom() : seededRandom(`${seed}/dp/${round}`);
  }

  step(): void {
    this.steps++;
  }

  /** Epsilon for options.delta after the steps so far. */
  epsilon(): number {
    const { samplingRate, noiseMultiplier, delta } = this.options;
    return dpEpsilon({ samplingRate, noiseMultiplier, delta, rounds: this.steps }).epsilon;
  }

  diagnostics(): { dpEpsilon: number; dpNoiseStd: number; dpSteps: number } {
    const { noiseMultiplier, clipNorm, expectedParticipants } = this.options;
    return {
      dpEpsilon: this.epsilon(),
      dpNoiseStd: (noiseMultiplier * clipNorm) / expectedParticipants,
      dpSteps: this.steps,
    };
  }
}
