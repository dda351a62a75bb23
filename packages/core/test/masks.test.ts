import { describe, expect, it } from 'vitest';
import {
  keptRowCount,
  nestedRows,
  rowImportance,
  rowImportanceFromFactors,
  seededRows,
  topRows,
  validateRows,
} from '../src/index';

describe('keptRowCount', () => {
  it('is ceil(budget * dOut)', () => {
    expect(keptRowCount(10, 0.25)).toBe(3);
    expect(keptRowCount(768, 0.25)).toBe(192);
    expect(keptRowCount(7, 1)).toBe(7);
    expect(keptRowCount(5, 0.01)).toBe(1);
  });

  it('is not fooled by float error (0.3 * 10 = 3.0000000000000004)', () => {
    expect(keptRowCount(10, 0.3)).toBe(3);
    expect(keptRowCount(100, 0.07)).toBe(7);
  });

  it('rejects budgets outside (0, 1] and bad sizes', () => {
    for (const bad of [0, -0.1, 1.5, Number.NaN, Infinity]) {
      expect(() => keptRowCount(10, bad)).toThrow(/budget must be a number in \(0, 1\]/);
    }
    expect(() => keptRowCount(0, 0.5)).toThrow(/dOut must be a positive integer/);
    expect(() => keptRowCount(2.5, 0.5)).toThrow(/dOut/);
  });
});

describe('rowImportance', () => {
  it('returns squared row norms of a row-major [dOut, dIn] update', () => {
    const delta = Float32Array.from([1, 2, 0, 0, 3, -1]); // [[1, 2], [0, 0], [3, -1]]
    expect(Array.from(rowImportance(delta, 3, 2))).toEqual([5, 0, 10]);
  });

  it('validates the length', () => {
    expect(() => rowImportance(new Float32Array(5), 3, 2)).toThrow(/delta has 5 values, expected 6/);
  });
});

describe('rowImportanceFromFactors', () => {
  it('equals the squared row norms of B A on a hand-checked case', () => {
    const B = Float32Array.from([1, 0, 0, 1, 1, 1]); // [[1, 0], [0, 1], [1, 1]]
    const A = Float32Array.from([1, 2, 3, 4]); // [[1, 2], [3, 4]]
    // B A = [[1, 2], [3, 4], [4, 6]] -> [5, 25, 52]
    expect(Array.from(rowImportanceFromFactors(B, A, 3, 2, 2))).toEqual([5, 25, 52]);
  });

  it('matches rowImportance of the explicit product on a rectangular case', () => {
    const dOut = 5;
    const r = 3;
    const dIn = 4;
    const B = Float32Array.from({ length: dOut * r }, (_, i) => Math.sin(i + 1));
    const A = Float32Array.from({ length: r * dIn }, (_, i) => Math.cos(2 * i));
    const product = new Float32Array(dOut * dIn);
    for (let d = 0; d < dOut; d++) {
      for (let j = 0; j < dIn; j++) {
        let sum = 0;
        for (let p = 0; p < r; p++) sum += B[d * r + p]! * A[p * dIn + j]!;
        product[d * dIn + j] = sum;
      }
    }
    const expected = rowImportance(product, dOut, dIn);
    const actual = rowImportanceFromFactors(B, A, dOut, r, dIn);
    for (let d = 0; d < dOut; d++) expect(actual[d]).toBeCloseTo(expected[d]!, 5);
  });

  it('gives exactly 0 for zero rows and validates shapes', () => {
    const A = Float32Array.from([1, 2, 3, 4]);
    expect(Array.from(rowImportanceFromFactors(new Float32Array(4), A, 2, 2, 2))).toEqual([0, 0]);
    expect(() => rowImportanceFromFactors(new Float32Array(3), A, 2, 2, 2)).toThrow(
      /B has 3 values, expected 4/,
    );
    expect(() => rowImportanceFromFactors(new Float32Array(4), A, 2, 2, 3)).toThrow(
      /A has 4 values, expected 6/,
    );
  });
});

describe('topRows', () => {
  it('returns the indices of the largest values in ascending order', () => {
    expect(Array.from(topRows([5, 25, 52], 2))).toEqual([1, 2]);
    expect(Array.from(topRows([0.5, 9, 0.1, 3, 7], 3))).toEqual([1, 3, 4]);
  });

  it('breaks ties by the lower index', () => {
    expect(Array.from(topRows([1, 3, 3, 1], 1))).toEqual([1]);
    expect(Array.from(topRows([1, 3, 3, 1], 3))).toEqual([0, 1, 2]);
    expect(Array.from(topRows([0, 0, 0, 0], 2))).toEqual([0, 1]);
  });

  it('rejects bad counts and NaN', () => {
    expect(() => topRows([1, 2], 0)).toThrow(/count must be an integer in \[1, 2\]/);
    expect(() => topRows([1, 2], 3)).toThrow(/count/);
    expect(() => topRows([1, Number.NaN], 1)).toThrow(/importance\[1\] is NaN/);
  });
});

describe('nestedRows', () => {
  it('keeps the first ceil(budget * dOut) rows', () => {
    expect(Array.from(nestedRows(10, 0.25))).toEqual([0, 1, 2]);
    expect(nestedRows(4, 1)).toEqual(Int32Array.from([0, 1, 2, 3]));
  });
});

describe('seededRows', () => {
  it('is deterministic, distinct, ascending and in range', () => {
    const a = seededRows(64, 16, 7);
    expect(a).toEqual(seededRows(64, 16, 7));
    expect(a.length).toBe(16);
    expect(new Set(a).size).toBe(16);
    expect(() => validateRows(a, 64)).not.toThrow();
  });

  it('depends on the seed and accepts string seeds', () => {
    expect(seededRows(64, 16, 7)).not.toEqual(seededRows(64, 16, 8));
    expect(seededRows(64, 16, 'client-3')).toEqual(seededRows(64, 16, 'client-3'));
  });

  it('returns every row when count = dOut and validates input', () => {
    expect(Array.from(seededRows(5, 5, 1))).toEqual([0, 1, 2, 3, 4]);
    expect(() => seededRows(5, 6, 1)).toThrow(/count must be an integer in \[1, 5\]/);
    expect(() => seededRows(5, 2, Number.NaN)).toThrow(/seed must be a finite number or a string/);
  });

  it('spreads rows over the whole range', () => {
    const counts = new Array<number>(4).fill(0);
    for (let seed = 0; seed < 200; seed++) for (const row of seededRows(8, 2, seed)) counts[row >> 1]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(60); // 100 expected per quarter
  });
});

describe('validateRows', () => {
  it('accepts ascending in-range rows and rejects the rest with clear errors', () => {
    expect(() => validateRows(Int32Array.from([0, 2, 3]), 4)).not.toThrow();
    expect(() => validateRows(Int32Array.from([]), 4)).toThrow(/empty/);
    expect(() => validateRows(Int32Array.from([0, 4]), 4)).toThrow(/row 4, outside \[0, 4\)/);
    expect(() => validateRows(Int32Array.from([2, 1]), 4)).toThrow(/strictly ascending/);
    expect(() => validateRows(Int32Array.from([1, 1]), 4)).toThrow(/strictly ascending/);
    expect(() => validateRows([0, 1] as unknown as Int32Array, 4)).toThrow(/must be an Int32Array/);
  });
});
