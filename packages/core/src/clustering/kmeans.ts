import { squaredDistance } from './points';

/**
 * k-means++ seeding (Arthur and Vassilvitskii 2007): the first centre uniformly, each next one with probability
 * proportional to its squared distance from the nearest centre so far. Spreads the starting centres, which keeps
 * EM away from the poor local optima that random starts fall into.
 */
export function kMeansPlusPlus(
  rows: readonly Float64Array[],
  k: number,
  random: () => number,
): Float64Array[] {
  const n = rows.length;
  const centres = [Float64Array.from(rows[Math.floor(random() * n)]!)];
  const nearest = rows.map((row) => squaredDistance(row, centres[0]!));
  while (centres.length < k) {
    const total = nearest.reduce((sum, value) => sum + value, 0);
    let chosen: number;
    if (total > 0) {
      let target = random() * total;
      chosen = n - 1;
      for (let i = 0; i < n; i++) {
        target -= nearest[i]!;
        if (target < 0 && nearest[i]! > 0) {
          chosen = i;
          break;
        }
      }
      // Float error can exhaust `target` only at the end; never pick a point that is already a centre.
      while (nearest[chosen] === 0) chosen--;
    } else {
      chosen = Math.floor(random() * n); // every point sits on a centre: duplicates are all that is left
    }
    const centre = Float64Array.from(rows[chosen]!);
    centres.push(centre);
    for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i]!, squaredDistance(rows[i]!, centre));
  }
  return centres;
}

/** Index of the nearest centre for every row (ties to the lower index). */
export function nearestCentres(rows: readonly Float64Array[], centres: readonly Float64Array[]): Int32Array {
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    let best = Infinity;
    centres.forEach((centre, c) => {
      const distance = squaredDistance(row, centre);
      if (distance < best) {
        best = distance;
        labels[i] = c;
      }
    });
  });
  return labels;
}

/**
 * Lloyd iterations from k-means++ centres; the hard labels seed the GMM's first M-step. A centre that loses all
 * its points keeps its position (EM then decides whether the component survives).
 */
export function kMeans(
  rows: readonly Float64Array[],
  k: number,
  random: () => number,
  maxIterations = 20,
): { centres: Float64Array[]; labels: Int32Array } {
  const dim = rows[0]!.length;
  const centres = kMeansPlusPlus(rows, k, random);
  let labels = nearestCentres(rows, centres);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    const sums = centres.map(() => new Float64Array(dim));
    const counts = new Int32Array(k);
    rows.forEach((row, i) => {
      const c = labels[i]!;
      counts[c]! += 1;
      const sum = sums[c]!;
      for (let d = 0; d < dim; d++) sum[d]! += row[d]!;
    });
    sums.forEach((sum, c) => {
      const count = counts[c]!;
      if (count > 0) for (let d = 0; d < dim; d++) centres[c]![d] = sum[d]! / count;
    });
    const next = nearestCentres(rows, centres);
    const changed = next.some((label, i) => label !== labels[i]);
    labels = next;
    if (!changed) break;
  }
  return { centres, labels };
}
