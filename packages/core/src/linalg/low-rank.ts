/**
 * A dOut x dIn matrix held as scale * B A: the shape in which a delta travels to a client (like LoRA). It is
 * structurally the wire codec's LowRankFactors, so factors computed here go into a download as they are.
 */
export interface FactoredMatrix {
  readonly dOut: number;
  readonly dIn: number;
  readonly rank: number;
  /** Row-major [dOut, rank]. */
  readonly B: Float32Array;
  /** Row-major [rank, dIn]. */
  readonly A: Float32Array;
  /** Multiplies B A (LoRA's alpha / r; 1 for SVD factors, whose singular values are folded into B). */
  readonly scale: number;
}

export function assertPositiveInteger(value: number, label: string): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${label} must be a positive integer, got ${value}`);
}

/** Throws unless the factors' arrays are Float32Arrays of the lengths their dimensions declare and scale is finite. */
export function validateFactoredMatrix(factors: FactoredMatrix, label = 'factors'): void {
  assertPositiveInteger(factors.dOut, `${label}.dOut`);
  assertPositiveInteger(factors.dIn, `${label}.dIn`);
  assertPositiveInteger(factors.rank, `${label}.rank`);
  const { B, A, dOut, dIn, rank } = factors;
  if (!(B instanceof Float32Array) || B.length !== dOut * rank) {
    throw new Error(`${label}.B must be a Float32Array of ${dOut} x ${rank} values`);
  }
  if (!(A instanceof Float32Array) || A.length !== rank * dIn) {
    throw new Error(`${label}.A must be a Float32Array of ${rank} x ${dIn} values`);
  }
  if (typeof factors.scale !== 'number' || !Number.isFinite(factors.scale)) {
    throw new Error(`${label}.scale must be a finite number, got ${factors.scale}`);
  }
}

/** The dense product scale * B A, row-major [dOut, dIn]; each row is accumulated in float64. */
export function lowRankProduct(factors: FactoredMatrix): Float32Array {
  validateFactoredMatrix(factors);
  const { B, A, dOut, dIn, rank, scale } = factors;
  const out = new Float32Array(dOut * dIn);
  const row = new Float64Array(dIn);
  for (let d = 0; d < dOut; d++) {
    row.fill(0);
    for (let p = 0; p < rank; p++) {
      const b = B[d * rank + p]!;
      if (b === 0) continue;
      for (let c = 0, a = p * dIn; c < dIn; c++, a++) row[c]! += b * A[a]!;
    }
    for (let c = 0; c < dIn; c++) out[d * dIn + c] = scale * row[c]!;
  }
  return out;
}
