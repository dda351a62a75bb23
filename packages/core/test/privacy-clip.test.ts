import { describe, expect, it } from 'vitest';
import {
  addGaussianNoise,
  blocksNorm,
  clipBlocks,
  clipUpdate,
  deltaRowsFromFactors,
  denseDeltaRows,
  gaussianFrom,
  gaussianNoiseStd,
  HEAD_BIAS_BLOCK,
  HEAD_KERNEL_BLOCK,
  normBoundedMean,
  PROTOCOL_VERSION,
  seededRandom,
  trimmedMean,
  updateDeltaBlocks,
  updateNorm,
  type ClientUpdate,
  type DeltaBlocks,
  type DeltaRows,
  type HeadParams,
  type MaskedFactors,
} from '../src/index';

const factors: MaskedFactors = {
  dOut: 3,
  dIn: 2,
  rank: 2,
  rows: Int32Array.from([0, 2]),
  A: Float32Array.from([1, 2, 3, 4]), // [[1, 2], [3, 4]]
  B: Float32Array.from([1, 0, 1, 1]), // rows 0 and 2: [1, 0], [1, 1]
  scale: 0.5,
};
const startHead: HeadParams = {
  embeddingSize: 2,
  numClasses: 2,
  kernel: Float32Array.from([1, 1, 1, 1]),
  bias: Float32Array.from([0, 0]),
};
const trainedHead: HeadParams = {
  ...startHead,
  kernel: Float32Array.from([1, 2, 1, 1]),
  bias: Float32Array.from([0, -2]),
};

function clientUpdate(adapters: Map<string, MaskedFactors>, head = trainedHead): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: 'a',
    round: 0,
    exampleCount: 5,
    adapters,
    dense: new Map(),
    head,
  };
}

function randomUpdate(seed: string): ClientUpdate {
  const normal = gaussianFrom(seededRandom(seed));
  const f = (dOut: number, dIn: number, rank: number, rows: number[]): MaskedFactors => ({
    dOut,
    dIn,
    rank,
    rows: Int32Array.from(rows),
    A: Float32Array.from({ length: rank * dIn }, normal),
    B: Float32Array.from({ length: rows.length * rank }, normal),
    scale: 2,
  });
  const head: HeadParams = {
    ...startHead,
    kernel: startHead.kernel.map((v) => v + normal()),
    bias: startHead.bias.map((v) => v + normal()),
  };
  return clientUpdate(
    new Map([
      ['q', f(8, 6, 3, [0, 3, 7])],
      ['v', f(5, 6, 3, [1, 2])],
    ]),
    head,
  );
}

describe('row blocks', () => {
  it('reconstructs the kept rows of scale * B A', () => {
    const block = deltaRowsFromFactors(factors);
    // Row 0: 0.5 * [1, 2]; row 2: 0.5 * [4, 6].
    expect(Array.from(block.rows)).toEqual([0, 2]);
    expect(Array.from(block.values)).toEqual([0.5, 1, 2, 3]);
  });

  it('collects adapters, dense deltas and the head change of an update', () => {
    const update = { ...clientUpdate(new Map([['q', factors]])) };
    const withDense: ClientUpdate = {
      ...update,
      dense: new Map([['bias', { shape: [3], data: Float32Array.from([1, 2, 2]) }]]),
    };
    const blocks = updateDeltaBlocks(withDense, startHead);
    expect([...blocks.keys()]).toEqual(['q', 'bias', HEAD_KERNEL_BLOCK, HEAD_BIAS_BLOCK]);
    expect(Array.from(blocks.get(HEAD_KERNEL_BLOCK)!.values)).toEqual([0, 1, 0, 0]);
    expect(Array.from(blocks.get(HEAD_BIAS_BLOCK)!.values)).toEqual([0, -2]);
    // ||q||^2 = 0.25 + 1 + 4 + 9, ||bias||^2 = 9, head 1 + 4.
    expect(blocksNorm(blocks)).toBeCloseTo(Math.sqrt(14.25 + 9 + 5), 6);
    expect(() => updateDeltaBlocks(clientUpdate(new Map([[HEAD_BIAS_BLOCK, factors]])), startHead)).toThrow(
      /used twice/,
    );
    expect(() => updateDeltaBlocks(update, { ...startHead, numClasses: 3 })).toThrow(/does not match/);
  });

  it('validates blocks', () => {
    expect(() => denseDeltaRows(2, 2, new Float32Array(3))).toThrow(/values must be a Float32Array of 4/);
    expect(() => denseDeltaRows(1, 2, Float32Array.from([1, Number.NaN]))).toThrow(/value 1 is not finite/);
  });
});

describe('clipping', () => {
  it('computes the exact whole-update norm from the factors', () => {
    for (const seed of ['n1', 'n2', 'n3']) {
      const update = randomUpdate(seed);
      expect(updateNorm(update, startHead)).toBeCloseTo(blocksNorm(updateDeltaBlocks(update, startHead)), 4);
    }
  });

  it('scales B and the head change so the whole update has the bound as norm, direction kept', () => {
    const update = randomUpdate('clip');
    const before = updateDeltaBlocks(update, startHead);
    const norm = blocksNorm(before);
    const { value, factor } = clipUpdate(update, startHead, norm / 4);
    expect(factor).toBeCloseTo(0.25, 6); // norm from the factors in float64, blocks in float32
    expect(updateNorm(value, startHead)).toBeCloseTo(norm / 4, 4);
    const after = updateDeltaBlocks(value, startHead);
    for (const [name, block] of before) {
      block.values.forEach((v, i) => expect(after.get(name)!.values[i]).toBeCloseTo(0.25 * v, 5));
    }
    expect(value.adapters.get('q')!.A).toEqual(update.adapters.get('q')!.A); // A untouched
  });

  it('leaves an update within the bound as it is', () => {
    const update = randomUpdate('small');
    const clipped = clipUpdate(update, startHead, 1e6);
    expect(clipped.factor).toBe(1);
    expect(clipped.value).toBe(update);
  });

  it('clips row blocks', () => {
    const blocks = new Map([['w', denseDeltaRows(1, 2, Float32Array.from([3, 4]))]]);
    const { value, norm, factor } = clipBlocks(blocks, 1);
    expect(norm).toBe(5);
    expect(factor).toBeCloseTo(0.2, 12);
    expect(Array.from(value.get('w')!.values)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(clipBlocks(blocks, 10).factor).toBe(1);
    expect(() => clipBlocks(blocks, 0)).toThrow(/clip bound must be a positive number/);
  });
});

describe('Gaussian mechanism', () => {
  it('adds seeded noise of the requested std, leaving the input alone', () => {
    expect(gaussianNoiseStd(1.1, 0.5)).toBeCloseTo(0.55, 15);
    const values = new Float32Array(50000).fill(3);
    const noisy = addGaussianNoise(values, 2, seededRandom('noise'));
    expect(addGaussianNoise(values, 2, seededRandom('noise'))).toEqual(noisy);
    expect(values[0]).toBe(3);
    const mean = noisy.reduce((s, v) => s + v, 0) / noisy.length;
    const std = Math.sqrt(noisy.reduce((s, v) => s + (v - mean) ** 2, 0) / noisy.length);
    expect(mean).toBeCloseTo(3, 1);
    expect(std).toBeCloseTo(2, 1);
    expect(addGaussianNoise(values, 0, seededRandom(1))).toEqual(values);
    expect(() => gaussianNoiseStd(-1, 1)).toThrow(/noiseMultiplier/);
    expect(() => addGaussianNoise(values, Number.NaN, seededRandom(1))).toThrow(/std/);
  });
});

function block(dOut: number, cols: number, rows: number[], values: number[]): DeltaRows {
  return { dOut, cols, rows: Int32Array.from(rows), values: Float32Array.from(values) };
}

describe('robust aggregation', () => {
  it('trims the extremes of every coordinate, over the clients that sent the row', () => {
    const updates: DeltaBlocks[] = [
      new Map([['w', block(3, 2, [0, 1], [1, 10, 5, 5])]]),
      new Map([['w', block(3, 2, [0], [2, 20])]]),
      new Map([['w', block(3, 2, [0], [3, 30])]]),
      new Map([['w', block(3, 2, [0, 1], [100, -50, 7, 7])]]),
    ];
    const w = trimmedMean(updates, 0.25).get('w')!;
    // Row 0 (4 clients, trim 1 each side): [2.5, 15]; row 1 (2 clients, no trim): [6, 6]; row 2: nobody.
    expect(Array.from(w.values)).toEqual([2.5, 15, 6, 6, 0, 0]);
    expect(Array.from(w.coverage)).toEqual([4, 2, 0]);
    expect(Array.from(trimmedMean(updates, 0).get('w')!.values.slice(0, 2))).toEqual([26.5, 2.5]);
    expect(() => trimmedMean(updates, 0.5)).toThrow(/trimFraction/);
  });

  it('clips every client to the median norm before a mask-aware weighted mean', () => {
    const updates: DeltaBlocks[] = [
      new Map([['w', block(2, 2, [0], [3, 4])]]), // norm 5
      new Map([['w', block(2, 2, [0, 1], [0, 6, 0, 8])]]), // norm 10
      new Map([['w', block(2, 2, [1], [60, 80])]]), // norm 100
    ];
    const result = normBoundedMean(updates, { weights: [1, 1, 2] });
    expect(result.bound).toBe(10);
    expect(Array.from(result.factors)).toEqual([1, 1, 0.1]);
    // Row 0: ([3, 4] + [0, 6]) / 2; row 1: ([0, 8] + 2 * [6, 8]) / 3.
    const w = result.blocks.get('w')!;
    [1.5, 5, 4, 8].forEach((v, i) => expect(w.values[i]).toBeCloseTo(v, 6));
    expect(normBoundedMean(updates, { bound: 5 }).factors[1]).toBe(0.5);
    expect(() => normBoundedMean(updates, { weights: [1] })).toThrow(/1 weights for 3 updates/);
    expect(() => normBoundedMean([updates[0]!, new Map([['w', block(3, 2, [0], [1, 1])]])])).toThrow(
      /is \[3, 2\], others \[2, 2\]/,
    );
  });

  describe('with 10% of outliers', () => {
    const [clients, dOut, cols] = [40, 16, 32];
    const normal = gaussianFrom(seededRandom('honest'));
    const base = Float32Array.from({ length: dOut * cols }, normal);
    // Honest clients: base plus noise, each sending a random half of the rows (masks).
    const honest: DeltaBlocks[] = Array.from({ length: clients - 4 }, (_, k) => {
      const rows = Array.from({ length: dOut }, (_, d) => d).filter((d) => (d + k) % 2 === 0);
      const values = rows.flatMap((d) =>
        Array.from({ length: cols }, (_, j) => base[d * cols + j]! + 0.5 * normal()),
      );
      return new Map([['w', block(dOut, cols, rows, values)]]);
    });
    // Outliers follow the same masks, so each row has 10% of outliers too (trimming must cover that share).
    const attacks: Record<string, DeltaBlocks[]> = {
      'scaled (x -50)': honest.slice(0, 4).map((u) => {
        const b = u.get('w')!;
        return new Map([['w', { ...b, values: b.values.map((v) => -50 * v) }]]);
      }),
      'random (std 30)': honest.slice(0, 4).map((u) => {
        const b = u.get('w')!;
        return new Map([['w', { ...b, values: b.values.map(() => 30 * normal()) }]]);
      }),
    };
    const distance = (a: Float32Array, b: Float32Array) =>
      Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));
    const reference = trimmedMean(honest, 0).get('w')!.values; // plain mean of the honest clients
    const baseNorm = Math.sqrt(base.reduce((s, v) => s + v * v, 0));

    it.each(Object.keys(attacks))('barely moves the robust aggregates under a %s attack', (attack) => {
      const all = [...honest, ...attacks[attack]!];
      const plain = trimmedMean(all, 0).get('w')!.values;
      const trimmed = trimmedMean(all, 0.1).get('w')!.values;
      const bounded = normBoundedMean(all).blocks.get('w')!.values;
      const shifts = [plain, trimmed, bounded].map((v) => distance(v, reference) / baseNorm);
      // Measured: plain 5.40 / 2.23 times the signal's norm; trimmed 0.09 / 0.08 (trimming the honest side too
      // costs a little bias); median-bounded 0.21 / 0.13.
      expect(shifts[0]).toBeGreaterThan(2);
      expect(shifts[1]).toBeLessThan(0.15);
      expect(shifts[2]).toBeLessThan(0.3);
    });
  });
});
