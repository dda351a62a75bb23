import { columnVariances, toRows, type Points } from './points';

export interface StandardizedFeatures {
  /** (x - mean) / scale per dimension. */
  readonly rows: Float64Array[];
  readonly mean: Float64Array;
  /** Standard deviation per dimension; 1 where a dimension is constant (it becomes 0 everywhere). */
  readonly scale: Float64Array;
}

/**
 * Z-scores every feature dimension across the clients being clustered. Why: k-means++ and the k-means start
 * use Euclidean distances, where a few large-magnitude coordinates (a bias, a head column of a frequent class)
 * would otherwise decide the seeding alone; and update magnitudes shrink from round to round (the learning rate
 * decays), so standardising keeps one round's fit comparable to the next. The diagonal GMM itself is
 * equivariant to per-dimension scaling (its variance floor is relative), so this changes the start, not the model.
 */
export function standardizeFeatures(points: Points): StandardizedFeatures {
  const rows = toRows(points, 'features');
  const dim = rows[0]!.length;
  const mean = new Float64Array(dim);
  for (const row of rows) for (let d = 0; d < dim; d++) mean[d]! += row[d]! / rows.length;
  const constant = (d: number) => rows.every((row) => row[d] === rows[0]![d]);
  const scale = columnVariances(rows).map((v, d) => (constant(d) || v === 0 ? 1 : Math.sqrt(v)));
  for (const row of rows) for (let d = 0; d < dim; d++) row[d] = (row[d]! - mean[d]!) / scale[d]!;
  return { rows, mean, scale };
}
