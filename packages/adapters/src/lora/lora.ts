import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { loraTerm } from './lora-op';
import { keptRowCount, rowImportanceFromFactors, seededRows, topRows, validateRows } from '@fedhft/core';
import type { AdaptableWeight, LinearAdapter } from '../encoders/encoder';
import { resolveLoraConfig, selectTargets, type LoraConfig } from './config';
import { assertFloatArray } from './float-arrays';

/** One adapted weight's factors as plain arrays (row-major), the unit that clients upload. */
export interface LoraFactors {
  /** [rank, dIn] */
  readonly A: Float32Array;
  /** [rows.length, rank]: row i of B is output row rows[i] of the full B. */
  readonly B: Float32Array;
  /** Output rows that B holds, strictly ascending; every other row of the full B is zero. */
  readonly rows: Int32Array;
  readonly dOut: number;
  readonly dIn: number;
  readonly rank: number;
  /** alpha / rank: dW = scale * B_full A. */
  readonly scale: number;
}

/** Factors of every adapted weight, by weight name, in the encoder's order. */
export type AdapterFactors = Map<string, LoraFactors>;

export interface LoraOptions {
  /**
   * maskMode 'pre' only: the rows each target trains, by weight name (ascending, ceil(budget * dOut) of them).
   * Omitted: a seeded choice (first round, no history to rank rows by).
   */
  readonly rows?: ReadonlyMap<string, Int32Array>;
}

/** seedrandom's default (ARC4) PRNG with state access, typed here because @types/seedrandom 2 and 3 disagree. */
interface StatefulRandom {
  (): number;
  state(): object;
}

/** A PRNG seeded by `seed`, or continuing from a `state` saved by `state()`. */
function statefulRandom(seed: string, state?: object): StatefulRandom {
  return seedrandom(seed, { state: (state ?? true) as never }) as unknown as StatefulRandom;
}

interface Slot {
  readonly weight: AdaptableWeight;
  readonly A: tf.Variable<tf.Rank.R2>;
  /** [rows.length, rank]: only the kept rows exist, so their gradients and optimizer state are all there is. */
  readonly B: tf.Variable<tf.Rank.R2>;
  readonly rows: Int32Array;
  /**
   * When rows are masked: for each output row its index into concat(B, zero row), the zero row for rows not
   * kept. A gather with it rebuilds B_full [dOut, rank] at O(dOut) memory (a selection matrix would be
   * O(dOut * rows)), and its gradient only flows back to the kept rows.
   */
  readonly scatter: tf.Tensor1D | null;
  readonly zeroRow: tf.Tensor2D | null;
  /** `rows` as a tensor, to gather the gradient of B_full back to B. */
  readonly keptRows: tf.Tensor1D | null;
}

/** LoRA adapters dW = (alpha / r) B A on an encoder's target weights, with optional row masks. */
export class LoraAdapters {
  readonly config: LoraConfig;
  readonly scale: number;
  private readonly slots = new Map<string, Slot>();
  private dropoutRandom: StatefulRandom;
  private disposed = false;

  constructor(
    weights: readonly AdaptableWeight[],
    config: Partial<LoraConfig> = {},
    options: LoraOptions = {},
  ) {
    this.config = resolveLoraConfig(config);
    this.scale = this.config.alpha / this.config.rank;
    const targets = selectTargets(weights, this.config.targets);
    const rowsByName = this.resolveRows(targets, options.rows);
    this.dropoutRandom = statefulRandom(`lora-dropout:${this.config.seed}`);
    for (const weight of targets)
      this.slots.set(weight.name, this.createSlot(weight, rowsByName.get(weight.name)!));
  }

  /** The adapted weights, in the encoder's order. */
  get targets(): AdaptableWeight[] {
    return [...this.slots.values()].map((s) => s.weight);
  }

  /** The output rows B holds for `name`. */
  rows(name: string): Int32Array {
    return this.slot(name).rows.slice();
  }

  /** Passed to the encoder's forward: adds (dropout(x) A^T) B_full^T * scale to the target weights' outputs. */
  readonly adapter: LinearAdapter = (name, x, training) => {
    const slot = this.slots.get(name);
    if (!slot) return null;
    this.assertAlive();
    if (x.shape[1] !== slot.weight.dIn) {
      throw new Error(`adapter input for ${name} has width ${x.shape[1]}, expected ${slot.weight.dIn}`);
    }
    const { dropout } = this.config;
    // Seeds are drawn from our own PRNG so dropout masks differ per call yet repeat exactly for the same seed.
    const seed = training && dropout > 0 ? Math.floor(this.dropoutRandom() * 2 ** 31) : 0;
    return tf.tidy(() => loraTerm(x, slot.A, fullB(slot), this.scale, training ? dropout : 0, seed));
  };

  /**
   * Saves and restores the dropout PRNG, so a recomputed forward (activation checkpointing) draws the same
   * dropout masks as the original one.
   */
  readonly dropoutReplay = {
    snapshot: (): object => this.dropoutRandom.state(),
    restore: (state: unknown): void => {
      if (typeof state !== 'object' || state === null)
        throw new Error('dropout state must come from snapshot()');
      this.dropoutRandom = statefulRandom('', state);
    },
  };

  trainableVariables(): tf.Variable[] {
    this.assertAlive();
    return [...this.slots.values()].flatMap((s) => [s.A, s.B]);
  }

  /** A and B of the targets whose names start with one of `prefixes` (the variables one encoder block reads). */
  variablesFor(prefixes: readonly string[]): tf.Variable[] {
    this.assertAlive();
    return [...this.slots.values()]
      .filter((s) => prefixes.some((p) => s.weight.name.startsWith(p)))
      .flatMap((s) => [s.A, s.B]);
  }

  /** Number of trainable scalars (A and the kept rows of B). */
  parameterCount(): number {
    return this.trainableVariables().reduce((sum, v) => sum + v.size, 0);
  }

  /**
   * Copies of the factors. `rows` (post-mask upload) keeps only the given rows of B for the named weights;
   * they must be rows this adapter holds.
   */
  exportFactors(options: { rows?: ReadonlyMap<string, Int32Array> } = {}): AdapterFactors {
    this.assertAlive();
    for (const name of options.rows?.keys() ?? []) this.slot(name);
    const factors: AdapterFactors = new Map();
    for (const [name, slot] of this.slots) {
      const { rank } = this.config;
      const A = new Float32Array(slot.A.dataSync());
      const heldB = new Float32Array(slot.B.dataSync());
      const keep = options.rows?.get(name);
      let rows = slot.rows.slice();
      let B = heldB;
      if (keep) {
        validateRows(keep, slot.weight.dOut, `rows for ${name}`);
        const positions = positionsIn(slot.rows, keep, name);
        rows = keep.slice();
        B = new Float32Array(keep.length * rank);
        positions.forEach((p, i) => B.set(heldB.subarray(p * rank, (p + 1) * rank), i * rank));
      }
      factors.set(name, {
        A,
        B,
        rows,
        dOut: slot.weight.dOut,
        dIn: slot.weight.dIn,
        rank,
        scale: this.scale,
      });
    }
    return factors;
  }

  /**
   * Loads factors for every target. Imported rows must be rows this adapter holds; held rows missing from the
   * import are set to zero (so a post-masked upload loads into a full adapter).
   */
  importFactors(factors: AdapterFactors): void {
    this.assertAlive();
    if (!(factors instanceof Map)) throw new Error('factors must be a Map from weight name to LoRA factors');
    for (const name of factors.keys()) this.slot(name);
    const updates: [Slot, Float32Array, Float32Array][] = [];
    for (const [name, slot] of this.slots) {
      const f = factors.get(name);
      if (!f) throw new Error(`factors for ${name} are missing`);
      if (typeof f !== 'object') throw new Error(`factors for ${name} must be an object`);
      const { rank } = this.config;
      const { dOut, dIn } = slot.weight;
      if (f.rank !== rank || f.dOut !== dOut || f.dIn !== dIn) {
        throw new Error(
          `factors for ${name} are rank ${f.rank}, [${f.dOut} x ${f.dIn}]; expected rank ${rank}, [${dOut} x ${dIn}]`,
        );
      }
      if (typeof f.scale !== 'number' || Math.abs(f.scale - this.scale) > 1e-6 * this.scale) {
        throw new Error(`factors for ${name} have scale ${f.scale}, expected alpha / rank = ${this.scale}`);
      }
      validateRows(f.rows, dOut, `rows for ${name}`);
      assertFloatArray(f.A, rank * dIn, `A for ${name}`);
      assertFloatArray(f.B, f.rows.length * rank, `B for ${name}`);
      const B = new Float32Array(slot.rows.length * rank);
      positionsIn(slot.rows, f.rows, name).forEach((p, i) =>
        B.set(f.B.subarray(i * rank, (i + 1) * rank), p * rank),
      );
      updates.push([slot, f.A, B]);
    }
    for (const [slot, A, B] of updates) {
      tf.tidy(() => {
        slot.A.assign(tf.tensor2d(A, slot.A.shape));
        slot.B.assign(tf.tensor2d(B, slot.B.shape));
      });
    }
  }

  /** dW = scale * B_full A of weight `name`, row-major [dOut, dIn]. */
  delta(name: string): Float32Array {
    this.assertAlive();
    const slot = this.slot(name);
    const product = tf.tidy(() => tf.mul(tf.matMul(fullB(slot), slot.A), this.scale));
    const values = new Float32Array(product.dataSync());
    product.dispose();
    return values;
  }

  /** Post-mask: per target, the ceil(budget * dOut) rows of the trained B A with the largest squared norms. */
  postMaskRows(budget: number): Map<string, Int32Array> {
    this.assertAlive();
    const masks = new Map<string, Int32Array>();
    for (const [name, slot] of this.slots) {
      const { dOut, dIn } = slot.weight;
      const { rank } = this.config;
      const held = rowImportanceFromFactors(
        new Float32Array(slot.B.dataSync()),
        new Float32Array(slot.A.dataSync()),
        slot.rows.length,
        rank,
        dIn,
      );
      const importance = new Float32Array(dOut); // rows B does not hold have zero update
      slot.rows.forEach((row, i) => (importance[row] = held[i]!));
      masks.set(name, topRows(importance, keptRowCount(dOut, budget)));
    }
    return masks;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const slot of this.slots.values()) {
      slot.A.dispose();
      slot.B.dispose();
      slot.scatter?.dispose();
      slot.zeroRow?.dispose();
      slot.keptRows?.dispose();
    }
    this.slots.clear();
  }

  private resolveRows(
    targets: readonly AdaptableWeight[],
    given: ReadonlyMap<string, Int32Array> | undefined,
  ): Map<string, Int32Array> {
    const { maskMode, budget, seed } = this.config;
    const rows = new Map<string, Int32Array>();
    if (given !== undefined && maskMode !== 'pre') {
      throw new Error(
        `pre-mask rows were given but maskMode is '${maskMode}' (rows apply to maskMode 'pre' only)`,
      );
    }
    if (given !== undefined && !(given instanceof Map))
      throw new Error('rows must be a Map from weight name to rows');
    for (const name of given?.keys() ?? []) {
      if (!targets.some((t) => t.name === name))
        throw new Error(`rows were given for ${name}, which is not a target`);
    }
    for (const { name, dOut } of targets) {
      if (maskMode !== 'pre') {
        rows.set(
          name,
          Int32Array.from({ length: dOut }, (_, i) => i),
        );
        continue;
      }
      const count = keptRowCount(dOut, budget);
      if (given === undefined) {
        rows.set(name, seededRows(dOut, count, `${seed}:${name}`));
        continue;
      }
      const chosen = given.get(name);
      if (!chosen) throw new Error(`pre-mask rows for ${name} are missing`);
      validateRows(chosen, dOut, `pre-mask rows for ${name}`);
      if (chosen.length !== count) {
        throw new Error(
          `pre-mask rows for ${name} hold ${chosen.length} rows; budget ${budget} keeps ${count}`,
        );
      }
      rows.set(name, chosen.slice());
    }
    return rows;
  }

  private createSlot(weight: AdaptableWeight, rows: Int32Array): Slot {
    const { rank, seed } = this.config;
    const { dIn, dOut, name } = weight;
    // PEFT's init: kaiming_uniform_(a = sqrt(5)) on A is U(-1/sqrt(dIn), 1/sqrt(dIn)); B = 0 so dW starts at 0.
    const random = seedrandom(`lora-A:${seed}:${name}`);
    const bound = 1 / Math.sqrt(dIn);
    const initA = Float32Array.from({ length: rank * dIn }, () => (2 * random() - 1) * bound);
    const A = tf.tidy(() => tf.variable(tf.tensor2d(initA, [rank, dIn]), true));
    const B = tf.tidy(() => tf.variable(tf.zeros([rows.length, rank]), true)) as tf.Variable<tf.Rank.R2>;
    let scatter: tf.Tensor1D | null = null;
    let zeroRow: tf.Tensor2D | null = null;
    let keptRows: tf.Tensor1D | null = null;
    if (rows.length < dOut) {
      const index = new Int32Array(dOut).fill(rows.length);
      rows.forEach((row, i) => (index[row] = i));
      scatter = tf.tensor1d(index, 'int32');
      zeroRow = tf.zeros([1, rank]);
      keptRows = tf.tensor1d(rows, 'int32');
    }
    return { weight, A, B, rows, scatter, zeroRow, keptRows };
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot)
      throw new Error(`${name} is not a LoRA target (targets: ${[...this.slots.keys()].join(', ')})`);
    return slot;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('LoRA adapters were disposed');
  }
}

/** B_full [dOut, rank]: B itself, or for masked rows B scattered with zeros elsewhere. Call inside a tidy. */
function fullB(slot: Slot): tf.Tensor2D {
  if (!slot.scatter || !slot.zeroRow || !slot.keptRows) return slot.B;
  const { scatter, zeroRow, keptRows } = slot;
  // The scatter is injective, so its gradient is a plain gather of the kept rows. Spelling that out avoids
  // tf.gather's own gradient (UnsortedSegmentSum), which the wasm backend lacks.
  const scatterRows = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.gather(tf.concat([args[0] as tf.Tensor, zeroRow], 0), scatter),
    gradFunc: (dy: tf.Tensor) => tf.gather(dy, keptRows),
  }));
  return scatterRows(slot.B) as tf.Tensor2D;
}

/** Index in `held` of each row of `wanted` (both ascending); throws for rows not held. */
function positionsIn(held: Int32Array, wanted: Int32Array, name: string): number[] {
  const positions: number[] = [];
  let p = 0;
  for (const row of wanted) {
    while (p < held.length && held[p]! < row) p++;
    if (held[p] !== row) throw new Error(`row ${row} of ${name} is not one of the rows this adapter trains`);
    positions.push(p);
  }
  return positions;
}
