import type { ClientUpdate, DenseTensor, HeadParams, MaskedFactors } from '../update';
import { blocksNorm, scaleBlocks, type DeltaBlocks, type DeltaRows } from './blocks';

/**
 * L2 clipping of a client's WHOLE update to `bound`: every adapter delta scale * B_full A, every dense delta and
 * the head's change, taken together as one vector, are scaled by min(1, bound / norm). Clipping the whole
 * update (not each weight) bounds one client's influence on the aggregate, the sensitivity the Gaussian
 * mechanism needs. A row the mask left out is zero and stays zero.
 */

export function clipFactor(norm: number, bound: number): number {
  if (!(bound > 0) || !Number.isFinite(bound))
    throw new Error(`clip bound must be a positive number, got ${bound}`);
  if (!(norm >= 0) || !Number.isFinite(norm)) throw new Error(`norm must be a finite non-negative number`);
  return norm > bound ? bound / norm : 1;
}

export interface Clipped<T> {
  readonly value: T;
  /** Norm before clipping. */
  readonly norm: number;
  /** min(1, bound / norm): what the update was multiplied by. */
  readonly factor: number;
}

/** Clips row blocks (see updateDeltaBlocks) to an L2 norm of at most `bound`. */
export function clipBlocks(blocks: DeltaBlocks, bound: number): Clipped<Map<string, DeltaRows>> {
  const norm = blocksNorm(blocks);
  const factor = clipFactor(norm, bound);
  return { value: scaleBlocks(blocks, factor), norm, factor };
}

/** ||scale * B A||_F^2 through the r x r Gram matrix of A, without forming B A. */
function factorsSquaredNorm(f: MaskedFactors): number {
  const { rank: r, dIn, A, B } = f;
  const gram = new Float64Array(r * r);
  for (let p = 0; p < r; p++) {
    for (let q = p; q < r; q++) {
      let sum = 0;
      for (let j = 0; j < dIn; j++) sum += A[p * dIn + j]! * A[q * dIn + j]!;
      gram[p * r + q] = sum;
      gram[q * r + p] = sum;
    }
  }
  let total = 0;
  for (let k = 0; k < f.rows.length; k++) {
    for (let p = 0; p < r; p++) {
      let inner = 0;
      for (let q = 0; q < r; q++) inner += gram[p * r + q]! * B[k * r + q]!;
      total += B[k * r + p]! * inner;
    }
  }
  return f.scale * f.scale * Math.max(0, total);
}

function squaredSum(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! ** 2;
  return sum;
}

/**
 * L2 norm of a whole update as clipping sees it: adapters' scale * B_full A, dense deltas, and the head minus
 * `startHead`. Exact, from the factors.
 */
export function updateNorm(update: ClientUpdate, startHead: HeadParams): number {
  let sum = 0;
  for (const factors of update.adapters.values()) {
    if (
      factors.A.length !== factors.rank * factors.dIn ||
      factors.B.length !== factors.rows.length * factors.rank
    ) {
      throw new Error('adapter factor lengths do not match their declared shape');
    }
    sum += factorsSquaredNorm(factors);
  }
  for (const tensor of update.dense.values()) sum += squaredSum(tensor.data);
  const { head } = update;
  if (head.kernel.length !== startHead.kernel.length || head.bias.length !== startHead.bias.length) {
    throw new Error('head does not match the starting head in size');
  }
  for (let i = 0; i < head.kernel.length; i++) sum += (head.kernel[i]! - startHead.kernel[i]!) ** 2;
  for (let i = 0; i < head.bias.length; i++) sum += (head.bias[i]! - startHead.bias[i]!) ** 2;
  return Math.sqrt(sum);
}

/**
 * Clips an update in its wire form. scale * B_full A is linear in B, so multiplying the kept rows of B (not A)
 * by the factor scales every adapter delta exactly; dense deltas are scaled and the head is moved to
 * startHead + factor * (head - startHead).
 */
export function clipUpdate(
  update: ClientUpdate,
  startHead: HeadParams,
  bound: number,
): Clipped<ClientUpdate> {
  const norm = updateNorm(update, startHead);
  const factor = clipFactor(norm, bound);
  if (factor === 1) return { value: update, norm, factor };
  const adapters = new Map<string, MaskedFactors>();
  for (const [name, f] of update.adapters) adapters.set(name, { ...f, B: f.B.map((v) => v * factor) });
  const dense = new Map<string, DenseTensor>();
  for (const [name, t] of update.dense) dense.set(name, { ...t, data: t.data.map((v) => v * factor) });
  const move = (trained: Float32Array, start: Float32Array) =>
    trained.map((v, i) => start[i]! + factor * (v - start[i]!));
  const head: HeadParams = {
    ...update.head,
    kernel: move(update.head.kernel, startHead.kernel),
    bias: move(update.head.bias, startHead.bias),
  };
  return { value: { ...update, adapters, dense, head }, norm, factor };
}
