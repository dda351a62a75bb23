import { describe, expect, it } from 'vitest';
import {
  exactTruncatedSvd,
  gaussianFrom,
  lowRankProduct,
  randomizedSvd,
  seededRandom,
  type FactoredMatrix,
} from '../src/index';
import { orthonormalRows } from '../src/linalg/orthonormalize';

function gaussianArray(length: number, seed: number | string): Float32Array {
  const next = gaussianFrom(seededRandom(seed));
  return Float32Array.from({ length }, () => next());
}

/** A dOut x dIn matrix of rank `rank` (product of two Gaussian factors). */
function knownRank(dOut: number, dIn: number, rank: number, seed: number): Float32Array {
  return lowRankProduct({
    dOut,
    dIn,
    rank,
    B: gaussianArray(dOut * rank, `${seed}B`),
    A: gaussianArray(rank * dIn, `${seed}A`),
    scale: 1,
  });
}

/** U diag(s) V^T with orthonormal U, V (from QR) and the given singular values. */
function withSpectrum(dOut: number, dIn: number, s: number[], seed: number): Float32Array {
  const k = s.length;
  const Ut = orthonormalRows(Float64Array.from(gaussianArray(k * dOut, `${seed}U`)), k, dOut);
  const Vt = orthonormalRows(Float64Array.from(gaussianArray(k * dIn, `${seed}V`)), k, dIn);
  const B = new Float32Array(dOut * k);
  for (let i = 0; i < dOut; i++) for (let c = 0; c < k; c++) B[i * k + c] = Ut[c * dOut + i]! * s[c]!;
  return lowRankProduct({ dOut, dIn, rank: k, B, A: Float32Array.from(Vt), scale: 1 });
}

function frobenius(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! ** 2;
  return Math.sqrt(sum);
}

function residual(matrix: Float32Array, factors: FactoredMatrix): number {
  const approx = lowRankProduct(factors);
  return frobenius(matrix.map((v, i) => v - approx[i]!));
}

describe('lowRankProduct', () => {
  it('multiplies B [dOut, r] by A [r, dIn] and the scale', () => {
    // B = [[1, 0], [2, 1], [0, 3]], A = [[1, 2], [3, 4]].
    const factors = {
      dOut: 3,
      dIn: 2,
      rank: 2,
      B: Float32Array.from([1, 0, 2, 1, 0, 3]),
      A: Float32Array.from([1, 2, 3, 4]),
      scale: 1,
    };
    expect(Array.from(lowRankProduct(factors))).toEqual([1, 2, 5, 8, 9, 12]);
    expect(Array.from(lowRankProduct({ ...factors, scale: 0.5 }))).toEqual([0.5, 1, 2.5, 4, 4.5, 6]);
  });

  it('rejects factors whose lengths disagree with their dimensions', () => {
    const A = new Float32Array(4);
    const B = new Float32Array(6);
    expect(() => lowRankProduct({ dOut: 3, dIn: 2, rank: 2, B: new Float32Array(5), A, scale: 1 })).toThrow(
      /factors\.B must be a Float32Array of 3 x 2/,
    );
    expect(() => lowRankProduct({ dOut: 3, dIn: 2, rank: 0, B, A, scale: 1 })).toThrow(
      /rank must be a positive integer/,
    );
    expect(() => lowRankProduct({ dOut: 3, dIn: 2, rank: 2, B, A, scale: NaN })).toThrow(
      /scale must be a finite/,
    );
  });
});

describe('orthonormalRows (Householder)', () => {
  it('returns orthonormal vectors spanning the input, even when the input is rank deficient', () => {
    const length = 12;
    const v = Float64Array.from(gaussianArray(4 * length, 'orth'));
    v.copyWithin(length, 0, length); // second vector duplicates the first
    v.fill(0, 2 * length, 3 * length); // third is zero
    const q = orthonormalRows(v, 4, length);
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        let dot = 0;
        for (let i = 0; i < length; i++) dot += q[a * length + i]! * q[b * length + i]!;
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 12);
      }
    }
    // The first and fourth input vectors lie in the span of q: projecting them loses nothing.
    for (const row of [0, 3]) {
      const x = v.subarray(row * length, (row + 1) * length);
      const projected = new Float64Array(length);
      for (let a = 0; a < 4; a++) {
        let dot = 0;
        for (let i = 0; i < length; i++) dot += q[a * length + i]! * x[i]!;
        for (let i = 0; i < length; i++) projected[i]! += dot * q[a * length + i]!;
      }
      for (let i = 0; i < length; i++) expect(projected[i]).toBeCloseTo(x[i]!, 10);
    }
  });
});

describe('randomizedSvd', () => {
  it('recovers a matrix of known rank almost exactly, with the exact singular values', () => {
    const [dOut, dIn, rank] = [40, 30, 5];
    const matrix = knownRank(dOut, dIn, rank, 1);
    const exact = exactTruncatedSvd(matrix, dOut, dIn, rank);
    for (const r of [5, 8]) {
      const svd = randomizedSvd(matrix, dOut, dIn, r, { seed: 7 });
      expect(svd.rank).toBe(r);
      expect(svd.B.length).toBe(dOut * r);
      expect(svd.A.length).toBe(r * dIn);
      expect(residual(matrix, svd) / frobenius(matrix)).toBeLessThan(1e-6);
      expect(svd.relativeError).toBeLessThan(1e-6);
      for (let i = 0; i < rank; i++) {
        expect(svd.singularValues[i]! / exact.singularValues[i]!).toBeCloseTo(1, 9);
      }
      for (let i = rank; i < r; i++)
        expect(svd.singularValues[i]! / exact.singularValues[0]!).toBeLessThan(1e-6);
    }
  });

  it('comes within a few percent of the optimal (Eckart-Young) error on full-rank matrices', () => {
    const cases = [
      { name: 'Gaussian, flat spectrum', matrix: gaussianArray(60 * 48, 'flat'), dOut: 60, dIn: 48 },
      {
        name: 'decaying spectrum',
        matrix: withSpectrum(
          64,
          40,
          Array.from({ length: 40 }, (_, i) => 0.85 ** i),
          3,
        ),
        dOut: 64,
        dIn: 40,
      },
    ];
    for (const { matrix, dOut, dIn } of cases) {
      for (const r of [4, 10]) {
        const optimal = exactTruncatedSvd(matrix, dOut, dIn, r);
        const tail = residual(matrix, optimal);
        const svd = randomizedSvd(matrix, dOut, dIn, r, { seed: 'full' });
        const error = residual(matrix, svd);
        expect(error).toBeGreaterThanOrEqual(tail * (1 - 1e-5));
        expect(error).toBeLessThan(tail * 1.05);
        // Without power iterations the sketch is looser but still bounded.
        const plain = residual(
          matrix,
          randomizedSvd(matrix, dOut, dIn, r, { seed: 'full', powerIterations: 0 }),
        );
        expect(plain).toBeLessThan(tail * 1.5);
      }
    }
  });

  it('reports the relative truncation error it achieves', () => {
    const matrix = withSpectrum(50, 36, [5, 4, 3, 2, 1, 0.5, 0.25], 11);
    const svd = randomizedSvd(matrix, 50, 36, 3);
    const measured = residual(matrix, svd) / frobenius(matrix);
    // ||M - B A|| / ||M|| = sqrt(2^2 + 1 + 0.5^2 + 0.25^2) / sqrt(25 + 16 + 9 + 4 + 1 + 0.25 + 0.0625).
    expect(svd.relativeError).toBeCloseTo(Math.sqrt(5.3125 / 55.3125), 5);
    expect(svd.relativeError).toBeCloseTo(measured, 5);
  });

  it('returns B = U S and A = V^T: orthonormal rows of A, orthogonal columns of B with norms s', () => {
    const matrix = gaussianArray(30 * 20, 'convention');
    const svd = randomizedSvd(matrix, 30, 20, 6);
    const { A, B, singularValues: s } = svd;
    for (let a = 0; a < 6; a++) {
      expect(s[a]!).toBeGreaterThan(0);
      if (a > 0) expect(s[a]!).toBeLessThanOrEqual(s[a - 1]!);
      for (let b = 0; b < 6; b++) {
        let rowDot = 0;
        for (let j = 0; j < 20; j++) rowDot += A[a * 20 + j]! * A[b * 20 + j]!;
        expect(rowDot).toBeCloseTo(a === b ? 1 : 0, 5);
        let columnDot = 0;
        for (let i = 0; i < 30; i++) columnDot += B[i * 6 + a]! * B[i * 6 + b]!;
        expect(columnDot / (s[0]! * s[0]!)).toBeCloseTo(a === b ? (s[a]! / s[0]!) ** 2 : 0, 5);
      }
    }
  });

  it('is deterministic for a seed and uses the seed', () => {
    const matrix = gaussianArray(32 * 24, 'det');
    const first = randomizedSvd(matrix, 32, 24, 4, { seed: 42, powerIterations: 0 });
    const again = randomizedSvd(matrix, 32, 24, 4, { seed: 42, powerIterations: 0 });
    const other = randomizedSvd(matrix, 32, 24, 4, { seed: 43, powerIterations: 0 });
    expect(Array.from(again.B)).toEqual(Array.from(first.B));
    expect(Array.from(again.A)).toEqual(Array.from(first.A));
    expect(Array.from(other.B)).not.toEqual(Array.from(first.B));
    expect(randomizedSvd(matrix, 32, 24, 4).relativeError).toBe(
      randomizedSvd(matrix, 32, 24, 4).relativeError,
    );
  });

  it('handles wide and tall shapes', () => {
    for (const [dOut, dIn] of [
      [12, 70],
      [70, 12],
      [1, 9],
      [9, 1],
    ] as const) {
      const rank = Math.min(3, dOut, dIn);
      const matrix = knownRank(dOut, dIn, rank, dOut * 100 + dIn);
      const svd = randomizedSvd(matrix, dOut, dIn, 3, { seed: 5 });
      expect(svd.rank).toBe(rank);
      expect(svd.B.length).toBe(dOut * rank);
      expect(svd.A.length).toBe(rank * dIn);
      expect(residual(matrix, svd) / frobenius(matrix)).toBeLessThan(1e-6);
    }
  });

  it('is exact and caps the rank at min(dOut, dIn) when rank >= min(dOut, dIn)', () => {
    for (const [dOut, dIn] of [
      [16, 10],
      [10, 16],
      [12, 12],
    ] as const) {
      const matrix = gaussianArray(dOut * dIn, `cap${dOut}x${dIn}`);
      for (const rank of [Math.min(dOut, dIn), 40]) {
        const svd = randomizedSvd(matrix, dOut, dIn, rank);
        expect(svd.rank).toBe(Math.min(dOut, dIn));
        expect(residual(matrix, svd) / frobenius(matrix)).toBeLessThan(1e-6);
        expect(svd.relativeError).toBeLessThan(1e-6);
      }
    }
  });

  it('accepts Float64Array input and a zero matrix', () => {
    const matrix = Float64Array.from(knownRank(20, 15, 2, 9));
    expect(randomizedSvd(matrix, 20, 15, 2).relativeError).toBeLessThan(1e-6);
    const zero = randomizedSvd(new Float32Array(20 * 15), 20, 15, 3);
    expect(zero.relativeError).toBe(0);
    expect(zero.B.every((v) => v === 0)).toBe(true);
  });

  it('validates its inputs', () => {
    const matrix = new Float32Array(6);
    expect(() => randomizedSvd(matrix, 2, 4, 1)).toThrow(/matrix has 6 values, expected 2 x 4 = 8/);
    expect(() => randomizedSvd(matrix, 2, 3, 0)).toThrow(/rank must be a positive integer/);
    expect(() => randomizedSvd(matrix, 2.5, 3, 1)).toThrow(/dOut must be a positive integer/);
    expect(() => randomizedSvd(Float32Array.from([1, 2, NaN, 4, 5, 6]), 2, 3, 1)).toThrow(
      /matrix\[2\] is not finite/,
    );
    expect(() => randomizedSvd(matrix, 2, 3, 1, { oversampling: -1 })).toThrow(
      /oversampling must be a non-negative/,
    );
    expect(() => randomizedSvd(matrix, 2, 3, 1, { powerIterations: 1.5 })).toThrow(/powerIterations/);
    expect(() => randomizedSvd([1, 2] as unknown as Float32Array, 1, 2, 1)).toThrow(
      /Float32Array or Float64Array/,
    );
  });
});

describe('exactTruncatedSvd', () => {
  it('attains the Eckart-Young optimum on wide and tall matrices', () => {
    const s = [3, 2, 1, 0.5];
    for (const [dOut, dIn] of [
      [9, 14],
      [14, 9],
    ] as const) {
      const matrix = withSpectrum(dOut, dIn, s, dOut);
      const svd = exactTruncatedSvd(matrix, dOut, dIn, 2);
      expect(Array.from(svd.singularValues)).toEqual([expect.closeTo(3, 5), expect.closeTo(2, 5)]);
      expect(residual(matrix, svd)).toBeCloseTo(Math.sqrt(1 + 0.25), 5);
    }
  });
});
