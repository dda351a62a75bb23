import { blocksNorm, validateDeltaRows, type DeltaBlocks } from './blocks';
import { clipFactor } from './clip';

/**
 * Robust aggregation of clients' row blocks (updateDeltaBlocks), mask-aware: a row is aggregated over the
 * clients that sent it, and a row nobody sent stays 0. Both rules bound what a few malicious or broken clients
 * (scaled, sign-flipped or random updates) can do to the result.
 */

/** A full [dOut, cols] aggregate. */
export interface AggregatedRows {
  readonly dOut: number;
  readonly cols: number;
  /** Row-major [dOut, cols]. */
  readonly values: Float32Array;
  /** Clients that sent each row. */
  readonly coverage: Int32Array;
}

interface RowSource {
  readonly values: Float32Array;
  readonly offset: number;
  readonly client: number;
}

/** For every block name: its shape and, per row, which clients' values cover it. */
function collectRows(updates: readonly DeltaBlocks[]) {
  if (!Array.isArray(updates) || updates.length === 0) throw new Error('updates must be a non-empty array');
  const layout = new Map<string, { dOut: number; cols: number; rows: RowSource[][] }>();
  updates.forEach((blocks, client) => {
    for (const [name, block] of blocks) {
      validateDeltaRows(block, `client ${client} block ${name}`);
      let entry = layout.get(name);
      if (entry === undefined) {
        entry = { dOut: block.dOut, cols: block.cols, rows: Array.from({ length: block.dOut }, () => []) };
        layout.set(name, entry);
      } else if (entry.dOut !== block.dOut || entry.cols !== block.cols) {
        throw new Error(
          `client ${client} block ${name} is [${block.dOut}, ${block.cols}], others [${entry.dOut}, ${entry.cols}]`,
        );
      }
      for (let i = 0; i < block.rows.length; i++) {
        entry.rows[block.rows[i]!]!.push({ values: block.values, offset: i * block.cols, client });
      }
    }
  });
  return layout;
}

/**
 * Coordinate-wise trimmed mean: for every coordinate of a row sent by m clients, drop the floor(beta m) lowest
 * and highest values and average the rest (beta = 0 is the plain mean).
 */
export function trimmedMean(
  updates: readonly DeltaBlocks[],
  trimFraction: number,
): Map<string, AggregatedRows> {
  if (!(trimFraction >= 0 && trimFraction < 0.5)) {
    throw new Error(`trimFraction must be in [0, 0.5), got ${trimFraction}`);
  }
  const out = new Map<string, AggregatedRows>();
  for (const [name, { dOut, cols, rows }] of collectRows(updates)) {
    const values = new Float32Array(dOut * cols);
    const coverage = Int32Array.from(rows, (sources) => sources.length);
    rows.forEach((sources, row) => {
      const m = sources.length;
      if (m === 0) return;
      const trim = Math.floor(trimFraction * m);
      const column = new Float64Array(m);
      for (let j = 0; j < cols; j++) {
        sources.forEach((s, i) => (column[i] = s.values[s.offset + j]!));
        column.sort();
        let sum = 0;
        for (let i = trim; i < m - trim; i++) sum += column[i]!;
        values[row * cols + j] = sum / (m - 2 * trim);
      }
    });
    out.set(name, { dOut, cols, values, coverage });
  }
  return out;
}

export interface NormBoundedOptions {
  /** Clip each client's whole update to this L2 norm; 'median' (default) uses the median of this round's norms. */
  readonly bound?: number | 'median';
  /** Per-client weights (memberships, example counts); default 1 each. */
  readonly weights?: ArrayLike<number>;
}

export interface NormBoundedResult {
  readonly blocks: Map<string, AggregatedRows>;
  /** The bound used. */
  readonly bound: number;
  /** Each client's norm before clipping. */
  readonly norms: Float64Array;
  /** Each client's clip factor min(1, bound / norm). */
  readonly factors: Float64Array;
}

function median(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Norm-bounded averaging: each client's whole update is clipped to the bound, then every row is the weighted
 * mean over the clients that sent it. With the median as bound, a minority of huge updates is cut down to a
 * typical size, so it can shift the mean by at most its share times that size.
 */
export function normBoundedMean(
  updates: readonly DeltaBlocks[],
  options: NormBoundedOptions = {},
): NormBoundedResult {
  const layout = collectRows(updates);
  const norms = Float64Array.from(updates, blocksNorm);
  const requested = options.bound ?? 'median';
  const bound = requested === 'median' ? median(norms) : requested;
  const weights = options.weights ?? new Float64Array(updates.length).fill(1);
  if (weights.length !== updates.length)
    throw new Error(`got ${weights.length} weights for ${updates.length} updates`);
  for (let i = 0; i < weights.length; i++) {
    if (!(weights[i]! >= 0) || !Number.isFinite(weights[i]!))
      throw new Error(`weights[${i}] must be non-negative`);
  }
  // A zero median (most clients sent nothing) leaves nothing to bound: keep updates as they are.
  const factors = norms.map((norm) => (bound === 0 ? 1 : clipFactor(norm, bound)));
  const blocks = new Map<string, AggregatedRows>();
  for (const [name, { dOut, cols, rows }] of layout) {
    const values = new Float32Array(dOut * cols);
    const coverage = Int32Array.from(rows, (sources) => sources.length);
    const sum = new Float64Array(cols);
    rows.forEach((sources, row) => {
      let mass = 0;
      sum.fill(0);
      for (const s of sources) {
        const w = weights[s.client]!;
        mass += w;
        const scale = w * factors[s.client]!;
        for (let j = 0; j < cols; j++) sum[j]! += scale * s.values[s.offset + j]!;
      }
      if (mass > 0) for (let j = 0; j < cols; j++) values[row * cols + j] = sum[j]! / mass;
    });
    blocks.set(name, { dOut, cols, values, coverage });
  }
  return { blocks, bound, norms, factors };
}
