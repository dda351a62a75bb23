/** Feature points as rows: n points, each a vector of the same dimension. */
export type Points = readonly ArrayLike<number>[];

/** Copies points into float64 rows after checking they are non-empty, of one dimension and finite. */
export function toRows(points: Points, label = 'points'): Float64Array[] {
  if (!Array.isArray(points) || points.length === 0) throw new Error(`${label} must be a non-empty array`);
  const dim = points[0]!.length;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${label}[0] must be a non-empty vector`);
  return points.map((point, i) => {
    if (point.length !== dim) throw new Error(`${label}[${i}] has ${point.length} values, expected ${dim}`);
    const row = Float64Array.from(point);
    for (let d = 0; d < dim; d++) {
      if (!Number.isFinite(row[d]!)) throw new Error(`${label}[${i}][${d}] = ${row[d]} is not finite`);
    }
    return row;
  });
}

/** log(sum(exp(values))) without overflow; -Infinity for an empty or all -Infinity input. */
export function logSumExp(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.exp(values[i]! - max);
  return max + Math.log(sum);
}

export function squaredDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let d = 0; d < a.length; d++) sum += (a[d]! - b[d]!) ** 2;
  return sum;
}

/** Per-dimension population variance of the rows. */
export function columnVariances(rows: readonly Float64Array[]): Float64Array {
  const dim = rows[0]!.length;
  const mean = new Float64Array(dim);
  for (const row of rows) for (let d = 0; d < dim; d++) mean[d]! += row[d]!;
  for (let d = 0; d < dim; d++) mean[d]! /= rows.length;
  const variance = new Float64Array(dim);
  for (const row of rows) for (let d = 0; d < dim; d++) variance[d]! += (row[d]! - mean[d]!) ** 2;
  for (let d = 0; d < dim; d++) variance[d]! /= rows.length;
  return variance;
}

export function assertSeed(seed: unknown): asserts seed is number | string {
  if (typeof seed === 'number' ? !Number.isFinite(seed) : typeof seed !== 'string') {
    throw new Error(`seed must be a finite number or a string, got ${String(seed)}`);
  }
}
