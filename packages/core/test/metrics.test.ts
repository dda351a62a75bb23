import { describe, expect, it } from 'vitest';
import { classificationMetrics } from '../src/index';

describe('classificationMetrics', () => {
  it('computes accuracy, confusion and macro-F1 on a hand-checked case', () => {
    const labels = [0, 0, 0, 1, 1, 2];
    const predictions = [0, 0, 1, 1, 2, 2];
    const m = classificationMetrics(predictions, labels, 3);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    expect(m.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    // F1 per class = 2TP / (2TP + FP + FN): class 0: 4/5, class 1: 2/4, class 2: 2/3.
    expect(m.macroF1).toBeCloseTo((4 / 5 + 1 / 2 + 2 / 3) / 3, 12);
  });

  it('leaves out classes absent from both labels and predictions', () => {
    const m = classificationMetrics([0, 1, 1], [0, 1, 0], 4);
    // class 0: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 1 -> 2/3; classes 2 and 3 never occur.
    expect(m.macroF1).toBeCloseTo(2 / 3, 12);
  });

  it('counts a class that is only predicted (F1 = 0)', () => {
    const m = classificationMetrics([2, 0], [0, 0], 3);
    // class 0: TP 1, FN 1 -> 2/3; class 2: FP 1 -> 0.
    expect(m.macroF1).toBeCloseTo(1 / 3, 12);
    expect(m.accuracy).toBe(0.5);
  });

  it('accepts typed arrays and gives 1 for a perfect prediction', () => {
    const labels = Int32Array.from([1, 0, 1]);
    expect(classificationMetrics(labels, labels, 2)).toMatchObject({ accuracy: 1, macroF1: 1 });
  });

  it('rejects invalid input with clear errors', () => {
    expect(() => classificationMetrics([0], [0, 1], 2)).toThrow(/got 1 predictions for 2 labels/);
    expect(() => classificationMetrics([], [], 2)).toThrow(/empty set/);
    expect(() => classificationMetrics([0, 2], [0, 1], 2)).toThrow(/predictions\[1\] = 2 is not a class id/);
    expect(() => classificationMetrics([0, 1], [0, 0.5], 2)).toThrow(/labels\[1\] = 0.5/);
    expect(() => classificationMetrics([0], [0], 0)).toThrow(/numClasses must be a positive integer/);
  });
});
