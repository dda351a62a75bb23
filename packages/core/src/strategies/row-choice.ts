import { rowImportanceFromFactors, seededRows } from '../masks';
import type { ClusterDeltas } from '../mixture/cluster-deltas';
import type { MaskedFactors } from '../update';
import type { Seed } from './options';

/** FedHFT's pre-mask row choice: which rows a client trains, decided on the server before it trains. */

/**
 * Squared row norms of the mixture sum_j pi_j G_j[name] (the client's personalized starting delta), one row
 * at a time, so the dOut x dIn mixture is never materialised.
 */
export function mixtureRowImportance(
  clusters: readonly ClusterDeltas[],
  memberships: ArrayLike<number>,
  name: string,
  dOut: number,
  dIn: number,
): Float32Array {
  const importance = new Float32Array(dOut);
  const row = new Float64Array(dIn);
  for (let d = 0; d < dOut; d++) {
    row.fill(0);
    clusters.forEach((deltas, j) => {
      const pi = memberships[j]!;
      if (pi === 0) return;
      const data = deltas.get(name)!.data;
      for (let c = 0, at = d * dIn; c < dIn; c++, at++) row[c]! += pi * data[at]!;
    });
    let sum = 0;
    for (let c = 0; c < dIn; c++) sum += row[c]! ** 2;
    importance[d] = sum;
  }
  return importance;
}

/** Squared row norms of an upload's scale B_full A: its kept rows' values, zero elsewhere. */
export function uploadRowImportance(factors: MaskedFactors): Float32Array {
  const { dOut, dIn, rank, rows, A, B } = factors;
  const kept = rowImportanceFromFactors(B, A, rows.length, rank, dIn);
  const importance = new Float32Array(dOut);
  const scale2 = factors.scale * factors.scale;
  rows.forEach((row, i) => (importance[row] = scale2 * kept[i]!));
  return importance;
}

/**
 * `count` rows of [0, dOut), ascending: the most important rows of the first source, then (if it ranks fewer
 * than `count` rows above zero) of the next, and the rest chosen by `seed` among the rows left. A zero row
 * carries no information, so it is never preferred by rank: ranking zeros would pick the lowest indices, a
 * nested mask in disguise. Ties go to the lower index.
 */
export function chooseRows(
  sources: readonly (ArrayLike<number> | undefined)[],
  dOut: number,
  count: number,
  seed: Seed,
): Int32Array {
  const chosen = new Uint8Array(dOut);
  let taken = 0;
  for (const importance of sources) {
    if (importance === undefined || taken === count) continue;
    const candidates: number[] = [];
    for (let d = 0; d < dOut; d++) if (chosen[d] === 0 && importance[d]! > 0) candidates.push(d);
    candidates.sort((a, b) => importance[b]! - importance[a]! || a - b);
    for (const d of candidates.slice(0, count - taken)) chosen[d] = 1;
    taken += Math.min(candidates.length, count - taken);
  }
  if (taken < count) {
    const rest: number[] = [];
    for (let d = 0; d < dOut; d++) if (chosen[d] === 0) rest.push(d);
    for (const i of seededRows(rest.length, count - taken, seed)) chosen[rest[i]!] = 1;
  }
  const rows = new Int32Array(count);
  let at = 0;
  for (let d = 0; d < dOut; d++) if (chosen[d] === 1) rows[at++] = d;
  return rows;
}
