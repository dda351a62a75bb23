import { validateRows } from '../masks';
import type { ClientUpdate, HeadParams, MaskedFactors } from '../update';

/**
 * One weight's update as dense rows of a [dOut, cols] delta: values[i * cols + j] is entry (rows[i], j). Rows
 * not listed are zero (the client's mask left them out). This is what clipping, noise and robust aggregation
 * see: the reconstructed delta, never the LoRA factors, whose split B A = (B R)(R^-1 A) is not unique.
 */
export interface DeltaRows {
  readonly dOut: number;
  readonly cols: number;
  /** Strictly ascending, in [0, dOut). */
  readonly rows: Int32Array;
  /** Row-major [rows.length, cols]. */
  readonly values: Float32Array;
}

/** A client's whole update as named row blocks. */
export type DeltaBlocks = ReadonlyMap<string, DeltaRows>;

/** Block names of the head's change (trained minus starting head); adapter names must not collide with them. */
export const HEAD_KERNEL_BLOCK = '@head/kernel';
export const HEAD_BIAS_BLOCK = '@head/bias';

export function validateDeltaRows(block: DeltaRows, label: string): void {
  const { dOut, cols } = block;
  if (!Number.isInteger(dOut) || dOut < 1) throw new Error(`${label}: dOut must be a positive integer`);
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`${label}: cols must be a positive integer`);
  validateRows(block.rows, dOut, `${label} rows`);
  if (!(block.values instanceof Float32Array) || block.values.length !== block.rows.length * cols) {
    throw new Error(`${label}: values must be a Float32Array of ${block.rows.length * cols} values`);
  }
  for (let i = 0; i < block.values.length; i++) {
    if (!Number.isFinite(block.values[i]!)) throw new Error(`${label}: value ${i} is not finite`);
  }
}

/** A dense [dOut, cols] delta as a block with every row. */
export function denseDeltaRows(dOut: number, cols: number, values: Float32Array): DeltaRows {
  const block = { dOut, cols, rows: Int32Array.from({ length: dOut }, (_, i) => i), values };
  validateDeltaRows(block, 'dense delta');
  return block;
}

/** The kept rows of scale * B A (B holds only those rows), accumulated in float64. */
export function deltaRowsFromFactors(f: MaskedFactors): DeltaRows {
  const { dIn, rank, rows, A, B, scale } = f;
  if (A.length !== rank * dIn) throw new Error(`A has ${A.length} values, expected ${rank * dIn}`);
  if (B.length !== rows.length * rank)
    throw new Error(`B has ${B.length} values, expected ${rows.length * rank}`);
  const values = new Float32Array(rows.length * dIn);
  const row = new Float64Array(dIn);
  for (let k = 0; k < rows.length; k++) {
    row.fill(0);
    for (let p = 0; p < rank; p++) {
      const b = B[k * rank + p]!;
      if (b === 0) continue;
      for (let j = 0; j < dIn; j++) row[j]! += b * A[p * dIn + j]!;
    }
    for (let j = 0; j < dIn; j++) values[k * dIn + j] = scale * row[j]!;
  }
  const block = { dOut: f.dOut, cols: dIn, rows: Int32Array.from(rows), values };
  validateDeltaRows(block, 'adapter delta');
  return block;
}

function headDelta(trained: HeadParams, start: HeadParams): { kernel: Float32Array; bias: Float32Array } {
  if (trained.embeddingSize !== start.embeddingSize || trained.numClasses !== start.numClasses) {
    throw new Error(
      `head [${trained.embeddingSize}, ${trained.numClasses}] does not match the starting head ` +
        `[${start.embeddingSize}, ${start.numClasses}]`,
    );
  }
  if (trained.kernel.length !== start.kernel.length || trained.bias.length !== start.bias.length) {
    throw new Error('head kernel/bias lengths do not match the starting head');
  }
  return {
    kernel: trained.kernel.map((v, i) => v - start.kernel[i]!),
    bias: trained.bias.map((v, i) => v - start.bias[i]!),
  };
}

/**
 * Everything a client's update changes, as row blocks: each adapter's kept rows of scale * B A, each dense
 * tensor (full fine-tuning; a 1-D tensor is one row), and the head's change against `startHead` (the head the
 * client started from, sum_j pi_kj H_j in FedHFT), under HEAD_KERNEL_BLOCK and HEAD_BIAS_BLOCK.
 */
export function updateDeltaBlocks(update: ClientUpdate, startHead: HeadParams): Map<string, DeltaRows> {
  const blocks = new Map<string, DeltaRows>();
  const add = (name: string, block: DeltaRows) => {
    if (blocks.has(name)) throw new Error(`block name ${name} is used twice`);
    blocks.set(name, block);
  };
  for (const [name, factors] of update.adapters) add(name, deltaRowsFromFactors(factors));
  for (const [name, tensor] of update.dense) {
    const [dOut, ...rest] = tensor.shape.length === 1 ? [1, tensor.shape[0]!] : tensor.shape;
    const cols = rest.reduce((a, b) => a * b, 1);
    add(name, denseDeltaRows(dOut!, cols, tensor.data));
  }
  const { kernel, bias } = headDelta(update.head, startHead);
  add(HEAD_KERNEL_BLOCK, denseDeltaRows(startHead.embeddingSize, startHead.numClasses, kernel));
  add(HEAD_BIAS_BLOCK, denseDeltaRows(1, startHead.numClasses, bias));
  return blocks;
}

/** L2 norm of all blocks together (float64 accumulation). */
export function blocksNorm(blocks: DeltaBlocks): number {
  let sum = 0;
  for (const block of blocks.values()) for (const v of block.values) sum += v * v;
  return Math.sqrt(sum);
}

/** Every block multiplied by `factor` (new arrays). */
export function scaleBlocks(blocks: DeltaBlocks, factor: number): Map<string, DeltaRows> {
  const out = new Map<string, DeltaRows>();
  for (const [name, block] of blocks)
    out.set(name, { ...block, values: block.values.map((v) => v * factor) });
  return out;
}
