import { Matrix as MlMatrix, SingularValueDecomposition } from 'ml-matrix';
import { gaussianFrom, seededRandom } from '../random';
import { assertPositiveInteger, type FactoredMatrix } from './low-rank';
import { orthonormalRows } from './orthonormalize';
import { rowDots, sumOfSquares, transpose64, type Matrix } from './products';

/** A rank-k truncated SVD as factors B = U S [dOut, k] and A = V^T [k, dIn] (scale 1), k = min(rank, dOut, dIn). */
export interface TruncatedSvd extends FactoredMatrix {
  /** The k leading singular values, descending. */
  readonly singularValues: Float64Array;
  /** ||M - B A||_F / ||M||_F (0 for a zero matrix), from the float64 computation before B and A become fp32. */
  readonly relativeError: number;
}

export interface RandomizedSvdOptions {
  /** Seed of the Gaussian sketch; the same seed gives the same factors. Default 0. */
  readonly seed?: number | string;
  /** Extra sketch columns p beyond the rank (Halko et al. recommend 5-10). Default 10. */
  readonly oversampling?: number;
  /** Subspace (power) iterations q; each sharpens a slowly decaying spectrum at the cost of two products. Default 2. */
  readonly powerIterations?: number;
}

function validateMatrix(matrix: Matrix, dOut: number, dIn: number, rank: number): void {
  assertPositiveInteger(dOut, 'dOut');
  assertPositiveInteger(dIn, 'dIn');
  assertPositiveInteger(rank, 'rank');
  if (!(matrix instanceof Float32Array || matrix instanceof Float64Array)) {
    throw new Error('matrix must be a Float32Array or Float64Array');
  }
  if (matrix.length !== dOut * dIn) {
    throw new Error(`matrix has ${matrix.length} values, expected ${dOut} x ${dIn} = ${dOut * dIn}`);
  }
  for (let i = 0; i < matrix.length; i++) {
    if (!Number.isFinite(matrix[i]!)) throw new Error(`matrix[${i}] is not finite (${matrix[i]})`);
  }
}

function nonNegativeInteger(value: number | undefined, fallback: number, label: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${label} must be a non-negative integer, got ${value}`);
  return value;
}

/** Thin SVD of a row-major [rows, cols] matrix by ml-matrix, run on the tall orientation it expects. */
function thinSvd(X: Matrix, rows: number, cols: number): { left: MlMatrix; s: number[]; right: MlMatrix } {
  const matrix = MlMatrix.from1DArray(rows, cols, X);
  if (rows >= cols) {
    const svd = new SingularValueDecomposition(matrix);
    return { left: svd.leftSingularVectors, s: svd.diagonal, right: svd.rightSingularVectors };
  }
  // X^T = U S V^T, so X = V S U^T.
  const svd = new SingularValueDecomposition(matrix.transpose());
  return { left: svd.rightSingularVectors, s: svd.diagonal, right: svd.leftSingularVectors };
}

/**
 * Factors B = Q U_k S_k and A = V_k^T from the SVD U S V^T of Q^T M, with Q^T given as Qt [l, dOut]
 * (null stands for Q = I).
 * B A = Q U_k U_k^T Q^T M is an orthogonal projection of M, so ||M - B A||^2 = ||M||^2 - sum_{i<k} s_i^2.
 */
function assemble(
  matrix: Matrix,
  dOut: number,
  dIn: number,
  Qt: Float64Array | null,
  l: number,
  k: number,
  { left, s, right }: { left: MlMatrix; s: number[]; right: MlMatrix },
): TruncatedSvd {
  const B = new Float32Array(dOut * k);
  for (let i = 0; i < dOut; i++) {
    for (let c = 0; c < k; c++) {
      let sum = 0;
      if (Qt === null) sum = left.get(i, c);
      else for (let p = 0; p < l; p++) sum += Qt[p * dOut + i]! * left.get(p, c);
      B[i * k + c] = sum * s[c]!;
    }
  }
  const A = new Float32Array(k * dIn);
  for (let c = 0; c < k; c++) for (let j = 0; j < dIn; j++) A[c * dIn + j] = right.get(j, c);
  const singularValues = Float64Array.from(s.slice(0, k));
  const total = sumOfSquares(matrix);
  const kept = sumOfSquares(singularValues);
  const relativeError = total === 0 ? 0 : Math.sqrt(Math.max(0, total - kept) / total);
  return { dOut, dIn, rank: k, B, A, scale: 1, singularValues, relativeError };
}

/**
 * Truncated randomized SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4): sketch the range of M [dOut, dIn] with
 * l = k + p Gaussian directions, sharpen with q subspace iterations (re-orthonormalising after every product so
 * small singular directions are not lost to rounding), then take the exact SVD of the small projection.
 * Cost O(dOut dIn l (2q + 2)) instead of O(dOut dIn min(dOut, dIn)) for a full SVD. The returned rank is
 * min(rank, dOut, dIn); when that is min(dOut, dIn) the sketch spans the whole range and the result is exact.
 */
export function randomizedSvd(
  matrix: Matrix,
  dOut: number,
  dIn: number,
  rank: number,
  options: RandomizedSvdOptions = {},
): TruncatedSvd {
  validateMatrix(matrix, dOut, dIn, rank);
  const oversampling = nonNegativeInteger(options.oversampling, 10, 'oversampling');
  const powerIterations = nonNegativeInteger(options.powerIterations, 2, 'powerIterations');
  const seed = options.seed ?? 0;
  const k = Math.min(rank, dOut, dIn);
  if (sumOfSquares(matrix) === 0) {
    // A zero delta (every cluster before its first update) needs no sketch: zero factors are exact.
    return {
      dOut,
      dIn,
      rank: k,
      B: new Float32Array(dOut * k),
      A: new Float32Array(k * dIn),
      scale: 1,
      singularValues: new Float64Array(k),
      relativeError: 0,
    };
  }
  const l = Math.min(k + oversampling, dOut, dIn);
  // Sketch vectors are kept one per row (transposed) so every product is a dot of contiguous rows.
  const gaussian = gaussianFrom(seededRandom(seed));
  const omega = new Float64Array(l * dIn);
  for (let i = 0; i < omega.length; i++) omega[i] = gaussian();
  const rowsOfM = matrix instanceof Float64Array ? matrix : Float64Array.from(matrix);
  const rowsOfMt = transpose64(matrix, dOut, dIn);
  let Qt = orthonormalRows(rowDots(rowsOfM, dOut, dIn, omega, l), l, dOut); // range of M Omega
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    const Zt = orthonormalRows(rowDots(rowsOfMt, dIn, dOut, Qt, l), l, dIn); // range of M^T Q
    Qt = orthonormalRows(rowDots(rowsOfM, dOut, dIn, Zt, l), l, dOut); // range of M Z
  }
  const small = rowDots(rowsOfMt, dIn, dOut, Qt, l); // Q^T M, row-major [l, dIn]
  return assemble(matrix, dOut, dIn, Qt, l, k, thinSvd(small, l, dIn));
}

/**
 * The exact rank-k truncated SVD by a full dense SVD (ml-matrix), O(dOut dIn min(dOut, dIn)): the reference the
 * randomized version is tested against, and a fallback for small matrices.
 */
export function exactTruncatedSvd(matrix: Matrix, dOut: number, dIn: number, rank: number): TruncatedSvd {
  validateMatrix(matrix, dOut, dIn, rank);
  const k = Math.min(rank, dOut, dIn);
  return assemble(matrix, dOut, dIn, null, 0, k, thinSvd(matrix, dOut, dIn));
}
