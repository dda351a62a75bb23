import { gaussianFrom } from '../random';
import { validateDeltaRows, type DeltaBlocks } from './blocks';
import { clipBlocks } from './clip';
import { gaussianNoiseStd } from './noise';

/** Shape of one named block: a [dOut, cols] delta (see DeltaRows). */
export interface BlockShape {
  readonly dOut: number;
  readonly cols: number;
}

export interface GaussianSumOptions {
  /** S: every contribution's whole norm is clipped to it. */
  readonly clipNorm: number;
  /** sigma: the noise on every coordinate of every slot's sum has std sigma * S. */
  readonly noiseMultiplier: number;
  /** The data-independent count the noisy sums are divided by (the expected number of participants). */
  readonly denominator: number;
  /** Number of sums released together (FedHFT's clusters). Default 1. */
  readonly slots?: number;
}

/**
 * The Gaussian mechanism of noise.ts over row blocks, end to end, for `slots` sums released together:
 *   release_j = (sum_k w_kj clip_S(u_k) + N(0, (sigma S)^2 I)) / denominator      for j = 0 .. slots - 1,
 * with the noise on EVERY coordinate of the fixed layout (rows nobody sent included) and independent per slot.
 *
 * Sensitivity of the joint release: adding or removing client k moves the concatenated sums by
 * (w_k0 u_k, ..., w_k(J-1) u_k), whose norm is ||u_k|| sqrt(sum_j w_kj^2) <= S as long as sum_j w_kj^2 <= 1
 * (true of any probability vector, e.g. soft cluster memberships: sum_j pi_j^2 <= (sum_j pi_j)^2 = 1). So all
 * slots together are ONE Gaussian mechanism of noise multiplier sigma: one accountant step per release, not
 * one per slot. add() refuses weights that break this. The weights must not depend on the data of the round
 * (they are treated as fixed in advance); the clipping happens here, whatever the caller did before.
 *
 * Memory: slots x (sum of dOut cols over the layout) float32 sums, whatever the number of contributions.
 */
export class GaussianSumMechanism {
  readonly slots: number;
  readonly clipNorm: number;
  readonly noiseMultiplier: number;
  readonly denominator: number;
  private readonly layout: Map<string, BlockShape>;
  private readonly sums: Map<string, Float32Array>[];
  private contributions = 0;
  private released = false;

  constructor(layout: ReadonlyMap<string, BlockShape>, options: GaussianSumOptions) {
    const { clipNorm, noiseMultiplier, denominator, slots = 1 } = options;
    gaussianNoiseStd(noiseMultiplier, clipNorm); // validates both
    if (!(denominator > 0) || !Number.isFinite(denominator)) {
      throw new Error(`denominator must be a finite positive number, got ${denominator}`);
    }
    if (!Number.isInteger(slots) || slots < 1)
      throw new Error(`slots must be a positive integer, got ${slots}`);
    if (layout.size === 0) throw new Error('the layout needs at least one block');
    for (const [name, { dOut, cols }] of layout) {
      if (!Number.isInteger(dOut) || dOut < 1 || !Number.isInteger(cols) || cols < 1) {
        throw new Error(`layout block ${name}: [${dOut}, ${cols}] is not a valid shape`);
      }
    }
    this.slots = slots;
    this.clipNorm = clipNorm;
    this.noiseMultiplier = noiseMultiplier;
    this.denominator = denominator;
    this.layout = new Map([...layout].map(([name, { dOut, cols }]) => [name, { dOut, cols }]));
    this.sums = Array.from(
      { length: slots },
      () => new Map([...this.layout].map(([name, { dOut, cols }]) => [name, new Float32Array(dOut * cols)])),
    );
  }

  /** Std of the noise on each coordinate of a release: sigma S / denominator. */
  get releaseNoiseStd(): number {
    return gaussianNoiseStd(this.noiseMultiplier, this.clipNorm) / this.denominator;
  }

  /** Contributions added so far. */
  get count(): number {
    return this.contributions;
  }

  /** Floats held in the sums (fixed by the layout). */
  bufferFloats(): number {
    let floats = 0;
    for (const slot of this.sums) for (const sum of slot.values()) floats += sum.length;
    return floats;
  }

  /**
   * Clips `blocks` (exactly the layout's names and shapes) to S and adds w_j times it to slot j. Checks
   * everything before any sum changes. Returns the clip factor.
   */
  add(blocks: DeltaBlocks, weights: ArrayLike<number> = [1]): number {
    if (this.released) throw new Error('GaussianSumMechanism: add() after release()');
    if (weights.length !== this.slots)
      throw new Error(`got ${weights.length} weights for ${this.slots} slots`);
    let squares = 0;
    for (let j = 0; j < weights.length; j++) {
      const w = weights[j]!;
      if (!(w >= 0 && w <= 1)) throw new Error(`weights[${j}] must be in [0, 1], got ${w}`);
      squares += w * w;
    }
    // A little slack for probability vectors that sum to 1 within rounding.
    if (squares > 1 + 1e-9) {
      throw new Error(
        `the squared weights sum to ${squares} > 1: one client would move the release by more than S`,
      );
    }
    if (blocks.size !== this.layout.size) {
      throw new Error(`got ${blocks.size} blocks, the layout has ${this.layout.size}`);
    }
    for (const [name, block] of blocks) {
      const shape = this.layout.get(name);
      if (shape === undefined) throw new Error(`block ${name} is not in the layout`);
      if (block.dOut !== shape.dOut || block.cols !== shape.cols) {
        throw new Error(
          `block ${name} is [${block.dOut}, ${block.cols}], the layout has [${shape.dOut}, ${shape.cols}]`,
        );
      }
      validateDeltaRows(block, `block ${name}`);
    }
    const clipped = clipBlocks(blocks, this.clipNorm);
    this.sums.forEach((slot, j) => {
      const w = weights[j]!;
      if (w === 0) return;
      for (const [name, block] of clipped.value) {
        const sum = slot.get(name)!;
        const { cols, rows, values } = block;
        for (let i = 0; i < rows.length; i++) {
          for (let c = 0, at = rows[i]! * cols, from = i * cols; c < cols; c++, at++, from++) {
            sum[at]! += w * values[from]!;
          }
        }
      }
    });
    this.contributions++;
    return clipped.factor;
  }

  /**
   * Adds N(0, (sigma S)^2) to every coordinate of every slot, slot by slot in layout order (row-major), then
   * divides by the denominator. `random` is a uniform [0, 1) source: seededRandom for reproducible
   * simulations, an unpredictable one (secureRandom) in deployments. Single use: the sums are handed out.
   */
  release(random: () => number): Map<string, Float32Array>[] {
    if (this.released) throw new Error('GaussianSumMechanism: release() called twice');
    this.released = true;
    const normal = gaussianFrom(random);
    const std = gaussianNoiseStd(this.noiseMultiplier, this.clipNorm);
    const inverse = 1 / this.denominator;
    for (const slot of this.sums) {
      for (const sum of slot.values()) {
        for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + std * normal()) * inverse;
      }
    }
    return this.sums;
  }
}
