/**
 * Orthonormalises `count` vectors of length `length` (stored one per row, so V is Y^T for a tall Y) by
 * Householder QR and returns Q^T in the same layout. Householder, not Gram-Schmidt, keeps Q orthonormal when
 * the vectors are (nearly) dependent, which happens whenever the sketched matrix has lower rank than the sketch.
 * Each vector is contiguous, so this runs in O(length count^2) without strided access.
 */
export function orthonormalRows(V: Float64Array, count: number, length: number): Float64Array {
  if (count > length) throw new Error(`cannot orthonormalise ${count} vectors of length ${length}`);
  if (V.length !== count * length) throw new Error(`expected ${count} x ${length} values, got ${V.length}`);
  const work = Float64Array.from(V);
  // Reflector k is I - tau_k v_k v_k^T, with v_k stored in work[k, k:] once column k is reduced.
  const tau = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const base = k * length;
    let norm2 = 0;
    for (let i = k; i < length; i++) norm2 += work[base + i]! ** 2;
    if (norm2 === 0) continue; // nothing to reflect: tau stays 0 (identity)
    const x0 = work[base + k]!;
    const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    work[base + k] = x0 - alpha;
    // ||v||^2 = ||x||^2 - 2 alpha x0 + alpha^2 = 2 (||x||^2 - alpha x0).
    tau[k] = 1 / (norm2 - alpha * x0);
    for (let j = k + 1; j < count; j++) reflect(work, base, j * length, k, length, tau[k]!);
  }
  // Q = H_0 ... H_{count-1} [I; 0], built backwards: H_k only touches rows >= k of columns >= k.
  const q = new Float64Array(count * length);
  for (let c = 0; c < count; c++) q[c * length + c] = 1;
  for (let k = count - 1; k >= 0; k--) {
    if (tau[k] === 0) continue;
    for (let c = k; c < count; c++) reflect(q, k * length, c * length, k, length, tau[k]!, work);
  }
  return q;
}

/** target[k:] -= tau (v . target[k:]) v, with v = source[vBase + k:] (source defaults to target). */
function reflect(
  target: Float64Array,
  vBase: number,
  tBase: number,
  k: number,
  length: number,
  tau: number,
  source: Float64Array = target,
): void {
  let dot = 0;
  for (let i = k; i < length; i++) dot += source[vBase + i]! * target[tBase + i]!;
  const s = tau * dot;
  for (let i = k; i < length; i++) target[tBase + i]! -= s * source[vBase + i]!;
}
