import { seededRandom } from './random';
/**
 * Row masks for FedHFT's resource heterogeneity. A mask keeps whole output rows of a weight update
 * dW in R^{dOut x dIn}; rows are always returned as ascending Int32Array indices.
 * Pure TypeScript on typed arrays: the server, the client and tests share it without tfjs.
 */

function assertPositiveInt(value: number, label: string): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${label} must be a positive integer, got ${value}`);
}

function assertLength(array: ArrayLike<number>, expected: number, label: string): void {
  if (array.length !== expected) throw new Error(`${label} has ${array.length} values, expected ${expected}`);
}

/** Throws unless `budget` is a finite number in (0, 1]. */
export function validateBudget(budget: number): void {
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0 || budget > 1) {
    throw new Error(`budget must be a number in (0, 1], got ${budget}`);
  }
}

/** ceil(budget * dOut): the number of rows a client with this budget trains and sends (at least 1). */
export function keptRowCount(dOut: number, budget: number): number {
  assertPositiveInt(dOut, 'dOut');
  validateBudget(budget);
  // The tolerance absorbs float error such as 0.3 * 10 = 3.0000000000000004, which would otherwise keep 4 rows.
  return Math.min(dOut, Math.max(1, Math.ceil(budget * dOut - 1e-9)));
}

/** Throws unless `rows` is a non-empty, strictly ascending list of indices in [0, dOut). */
export function validateRows(rows: Int32Array, dOut: number, label = 'rows'): void {
  if (!(rows instanceof Int32Array)) throw new Error(`${label} must be an Int32Array`);
  if (rows.length === 0) throw new Error(`${label} is empty: a mask keeps at least one row`);
  let previous = -1;
  for (const row of rows) {
    if (row < 0 || row >= dOut) throw new Error(`${label} holds row ${row}, outside [0, ${dOut})`);
    if (row <= previous)
      throw new Error(`${label} must be strictly ascending (row ${row} after ${previous})`);
    previous = row;
  }
}

/** I[d] = sum_j delta[d, j]^2 for a row-major [dOut, dIn] update (accumulated in float64). */
export function rowImportance(delta: Float32Array, dOut: number, dIn: number): Float32Array {
  assertPositiveInt(dOut, 'dOut');
  assertPositiveInt(dIn, 'dIn');
  assertLength(delta, dOut * dIn, 'delta');
  const importance = new Float32Array(dOut);
  for (let d = 0; d < dOut; d++) {
    let sum = 0;
    for (let j = d * dIn, end = j + dIn; j < end; j++) sum += delta[j]! ** 2;
    importance[d] = sum;
  }
  return importance;
}

/**
 * Squared row norms of B A for B [dOut, r] and A [r, dIn] (row-major) without forming B A:
 * ||b_d A||^2 = b_d (A A^T) b_d^T, so the cost is r^2 (dIn + dOut) instead of dOut r dIn.
 * Any constant scaling (alpha / r) multiplies every row alike and does not change the ranking.
 */
export function rowImportanceFromFactors(
  B: Float32Array,
  A: Float32Array,
  dOut: number,
  r: number,
  dIn: number,
): Float32Array {
  assertPositiveInt(dOut, 'dOut');
  assertPositiveInt(r, 'rank');
  assertPositiveInt(dIn, 'dIn');
  assertLength(B, dOut * r, 'B');
  assertLength(A, r * dIn, 'A');
  const gram = new Float64Array(r * r);
  for (let p = 0; p < r; p++) {
    for (let q = p; q < r; q++) {
      let sum = 0;
      for (let j = 0; j < dIn; j++) sum += A[p * dIn + j]! * A[q * dIn + j]!;
      gram[p * r + q] = sum;
      gram[q * r + p] = sum;
    }
  }
  const importance = new Float32Array(dOut);
  for (let d = 0; d < dOut; d++) {
    let total = 0;
    for (let p = 0; p < r; p++) {
      const bp = B[d * r + p]!;
      if (bp === 0) continue;
      let inner = 0;
      for (let q = 0; q < r; q++) inner += gram[p * r + q]! * B[d * r + q]!;
      total += bp * inner;
    }
    // Rounding can leave a tiny negative value for a zero row; a squared norm is never negative.
    importance[d] = Math.max(0, total);
  }
  return importance;
}

/** Indices of the `count` largest values, ascending; ties go to the lower index so the choice is deterministic. */
export function topRows(importance: ArrayLike<number>, count: number): Int32Array {
  const n = importance.length;
  if (!Number.isInteger(count) || count < 1 || count > n) {
    throw new Error(`count must be an integer in [1, ${n}], got ${count}`);
  }
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(importance[i])) throw new Error(`importance[${i}] is NaN`);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => importance[b]! - importance[a]! || a - b);
  return Int32Array.from(order.slice(0, count)).sort();
}

/** Static nested mask (HeteroFL-style baseline): rows [0, ceil(budget * dOut)). */
export function nestedRows(dOut: number, budget: number): Int32Array {
  const count = keptRowCount(dOut, budget);
  return Int32Array.from({ length: count }, (_, i) => i);
}

/**
 * `count` distinct rows of [0, dOut) chosen uniformly by `seed` (ascending): the pre-mask of a client's first
 * round, when no update exists yet to rank rows by. The same seed always gives the same rows.
 */
export function seededRows(dOut: number, count: number, seed: number | string): Int32Array {
  assertPositiveInt(dOut, 'dOut');
  if (!Number.isInteger(count) || count < 1 || count > dOut) {
    throw new Error(`count must be an integer in [1, ${dOut}], got ${count}`);
  }
  if (typeof seed === 'number' ? !Number.isFinite(seed) : typeof seed !== 'string') {
    throw new Error(`seed must be a finite number or a string, got ${String(seed)}`);
  }
  const random = seededRandom(seed);
  // Partial Fisher-Yates: only the first `count` positions need shuffling.
  const pool = Int32Array.from({ length: dOut }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (dOut - i));
    const chosen = pool[j]!;
    pool[j] = pool[i]!;
    pool[i] = chosen;
  }
  return pool.slice(0, count).sort();
}
