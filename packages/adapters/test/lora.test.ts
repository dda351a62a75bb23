import * as tf from '@tensorflow/tfjs';
import { rowImportance } from '@fedhft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AdaptableWeight } from '../src/encoders/encoder';
import { resolveLoraConfig } from '../src/lora/config';
import { LoraAdapters, type AdapterFactors } from '../src/lora/lora';
import { TinyEncoder } from './fixtures/tiny-encoder';
import { useTestBackend } from './helpers/backend';

const QUERY = 'layers.0.attention.query';
const VALUE = 'layers.0.attention.value';
const TEXTS = ['the movie was good', 'awful plot', 'a b c d e f'];

/** Deterministic pseudo-random values in [-1, 1). */
function values(length: number, salt: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(12.9898 * (i + 1) + 78.233 * salt) % 1);
}

/** Gives every target non-zero factors so outputs, deltas and gradients are not trivially zero. */
function randomize(lora: LoraAdapters, salt = 1): void {
  const factors: AdapterFactors = new Map();
  for (const w of lora.targets) {
    const rows = lora.rows(w.name);
    const { rank } = lora.config;
    factors.set(w.name, {
      A: values(rank * w.dIn, salt),
      B: values(rows.length * rank, salt + 7),
      rows,
      dOut: w.dOut,
      dIn: w.dIn,
      rank,
      scale: lora.scale,
    });
  }
  lora.importFactors(factors);
}

/** The tiny encoder's adaptable weights (plain descriptions, valid after the encoder is disposed). */
function tinyWeights(): readonly AdaptableWeight[] {
  const encoder = new TinyEncoder();
  const weights = encoder.adaptableWeights();
  encoder.dispose();
  return weights;
}

const disposables: { dispose(): void }[] = [];
function track<T extends { dispose(): void }>(value: T): T {
  disposables.push(value);
  return value;
}

beforeAll(useTestBackend);
afterEach(() => {
  for (const d of disposables.splice(0)) d.dispose();
});

describe('LoRA config', () => {
  it('defaults to the reference hyper-parameters', () => {
    expect(resolveLoraConfig()).toEqual({
      rank: 32,
      alpha: 32,
      dropout: 0.1,
      targets: ['query', 'value'],
      maskMode: 'none',
      budget: 1,
      seed: 0,
    });
  });

  it('rejects invalid options with clear errors', () => {
    expect(() => resolveLoraConfig({ rank: 0 })).toThrow(/rank must be a positive integer/);
    expect(() => resolveLoraConfig({ alpha: -1 })).toThrow(/alpha must be a positive number/);
    expect(() => resolveLoraConfig({ dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
    expect(() => resolveLoraConfig({ targets: [] })).toThrow(/targets must be a non-empty array/);
    expect(() => resolveLoraConfig({ maskMode: 'mid' as 'pre' })).toThrow(/maskMode must be one of/);
    expect(() => resolveLoraConfig({ budget: 0 })).toThrow(/budget must be a number in \(0, 1\]/);
    expect(() => resolveLoraConfig({ seed: 0.5 })).toThrow(/seed must be an integer/);
    expect(() => resolveLoraConfig({ rnak: 4 } as never)).toThrow(/unknown LoRA config option "rnak"/);
  });

  it('selects targets by kind or exact name and rejects unknown targets', () => {
    const encoder = track(new TinyEncoder());
    const byKind = track(new LoraAdapters(encoder.adaptableWeights(), { rank: 2 }));
    expect(byKind.targets.map((t) => t.name)).toEqual([QUERY, VALUE]);
    const byName = track(new LoraAdapters(encoder.adaptableWeights(), { rank: 2, targets: [VALUE, 'key'] }));
    expect(byName.targets.map((t) => t.name)).toEqual(['layers.0.attention.key', VALUE]);
    expect(() => new LoraAdapters(encoder.adaptableWeights(), { targets: ['ffn.in'] })).toThrow(
      /target "ffn.in" matches no adaptable weight/,
    );
  });
});

describe('LoraAdapters', () => {
  it('starts with B = 0, so the encoder output is unchanged (with and without dropout)', () => {
    const encoder = track(new TinyEncoder());
    const lora = track(new LoraAdapters(encoder.adaptableWeights(), { rank: 4, dropout: 0.5 }));
    const batch = encoder.tokenize(TEXTS);
    const [base, adapted, trained] = tf.tidy(() => [
      encoder.embed(batch).arraySync(),
      encoder.embed(batch, { adapter: lora.adapter }).arraySync(),
      encoder.embed(batch, { adapter: lora.adapter, training: true }).arraySync(),
    ]);
    expect(adapted).toEqual(base);
    expect(trained).toEqual(base);
    for (const w of lora.targets) expect(Array.from(lora.delta(w.name)).every((v) => v === 0)).toBe(true);
  });

  it('initialises A like PEFT (uniform within 1/sqrt(dIn)) and deterministically by seed', () => {
    const weights = tinyWeights();
    const a = track(new LoraAdapters(weights, { rank: 8, seed: 3 }))
      .exportFactors()
      .get(QUERY)!.A;
    const b = track(new LoraAdapters(weights, { rank: 8, seed: 3 }))
      .exportFactors()
      .get(QUERY)!.A;
    const c = track(new LoraAdapters(weights, { rank: 8, seed: 4 }))
      .exportFactors()
      .get(QUERY)!.A;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(16));
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.8 / Math.sqrt(16));
  });

  it('computes x A^T B^T * alpha / r and delta = scale * B A', () => {
    const weights: AdaptableWeight[] = [{ name: 'w', kind: 'query', dOut: 3, dIn: 2 }];
    const lora = track(new LoraAdapters(weights, { targets: ['w'], rank: 1, alpha: 2, dropout: 0 }));
    const factors: AdapterFactors = new Map([
      [
        'w',
        {
          A: Float32Array.from([1, 2]),
          B: Float32Array.from([1, 0, -1]),
          rows: Int32Array.from([0, 1, 2]),
          dOut: 3,
          dIn: 2,
          rank: 1,
          scale: 2,
        },
      ],
    ]);
    lora.importFactors(factors);
    // B A = [[1, 2], [0, 0], [-1, -2]], times alpha / r = 2.
    expect(Array.from(lora.delta('w'))).toEqual([2, 4, 0, 0, -2, -4]);
    const out = tf.tidy(() => lora.adapter('w', tf.tensor2d([[1, 1]]), false)!.arraySync());
    expect(out).toEqual([[6, 0, -6]]);
    expect(lora.adapter('other', tf.zeros([1, 2]) as tf.Tensor2D, false)).toBeNull();
  });

  it('pre-mask: B holds only ceil(budget * dOut) rows, seeded or given', () => {
    const weights = tinyWeights();
    const seeded = track(new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.25, seed: 5 }));
    const shapes = seeded.trainableVariables().map((v) => v.shape);
    expect(shapes).toEqual([
      [4, 16],
      [4, 4],
      [4, 16],
      [4, 4],
    ]);
    expect(seeded.rows(QUERY)).toHaveLength(4);
    expect(seeded.rows(QUERY)).toEqual(
      track(new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.25, seed: 5 })).rows(QUERY),
    );
    expect(seeded.parameterCount()).toBe(2 * (4 * 16 + 4 * 4));

    const rows = new Map([
      [QUERY, Int32Array.from([1, 3, 5, 7])],
      [VALUE, Int32Array.from([0, 2, 4, 15])],
    ]);
    const given = track(new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.25 }, { rows }));
    expect(given.rows(VALUE)).toEqual(Int32Array.from([0, 2, 4, 15]));
  });

  it('pre-mask: rejects rows that are missing, misplaced, mis-sized or unordered', () => {
    const weights = tinyWeights();
    const config = { rank: 2, maskMode: 'pre' as const, budget: 0.25 };
    const ok = Int32Array.from([0, 1, 2, 3]);
    const make =
      (rows: Map<string, Int32Array>, cfg: object = config) =>
      () =>
        track(new LoraAdapters(weights, cfg, { rows }));
    expect(make(new Map([[QUERY, ok]]))).toThrow(/pre-mask rows for layers.0.attention.value are missing/);
    expect(
      make(
        new Map([
          [QUERY, ok],
          [VALUE, ok],
          ['key', ok],
        ]),
      ),
    ).toThrow(/rows were given for key, which is not a target/);
    expect(
      make(
        new Map([
          [QUERY, ok],
          [VALUE, Int32Array.from([0, 1])],
        ]),
      ),
    ).toThrow(/hold 2 rows; budget 0.25 keeps 4/);
    expect(
      make(
        new Map([
          [QUERY, ok],
          [VALUE, Int32Array.from([3, 2, 1, 0])],
        ]),
      ),
    ).toThrow(/strictly ascending/);
    expect(
      make(
        new Map([
          [QUERY, ok],
          [VALUE, Int32Array.from([0, 1, 2, 16])],
        ]),
      ),
    ).toThrow(/outside \[0, 16\)/);
    expect(
      make(
        new Map([
          [QUERY, ok],
          [VALUE, ok],
        ]),
        { rank: 2 },
      ),
    ).toThrow(/maskMode is 'none'/);
  });

  it('pre-mask: only kept rows get gradients; the other output rows stay exactly unchanged', () => {
    const weights = tinyWeights();
    const kept = Int32Array.from([2, 5, 11, 12]);
    const rows = new Map([
      [QUERY, kept],
      [VALUE, kept],
    ]);
    const pre = track(
      new LoraAdapters(weights, { rank: 3, maskMode: 'pre', budget: 0.25, dropout: 0 }, { rows }),
    );
    const full = track(new LoraAdapters(weights, { rank: 3, dropout: 0 }));
    randomize(pre);
    // The full adapter gets the same A and the same kept rows of B (zero elsewhere).
    full.importFactors(pre.exportFactors());

    const x = tf.tensor2d(values(5 * 16, 3), [5, 16]);
    const target = tf.tensor2d(values(5 * 16, 4), [5, 16]);
    const lossOf = (lora: LoraAdapters) => () =>
      tf.sum(tf.square(tf.sub(lora.adapter(QUERY, x, true)!, target))) as tf.Scalar;
    const preB = pre.trainableVariables()[1]!;
    const fullB = full.trainableVariables()[1]!;
    const [preGrad, fullGrad, output] = tf.tidy(() => [
      tf.variableGrads(lossOf(pre), [preB]).grads[preB.name]!.arraySync() as number[][],
      tf.variableGrads(lossOf(full), [fullB]).grads[fullB.name]!.arraySync() as number[][],
      pre.adapter(QUERY, x, true)!.arraySync() as number[][],
    ]);
    x.dispose();
    target.dispose();
    expect(preGrad).toHaveLength(4); // no gradient exists for the 12 other rows
    kept.forEach((row, i) => preGrad[i]!.forEach((g, k) => expect(g).toBeCloseTo(fullGrad[row]![k]!, 4)));
    const others = Array.from({ length: 16 }, (_, d) => d).filter((d) => !kept.includes(d));
    for (const outputRow of output) {
      for (const d of others) expect(outputRow[d]).toBe(0);
      for (const d of kept) expect(outputRow[d]).not.toBe(0);
    }
    const delta = pre.delta(QUERY);
    for (const d of others)
      expect(Array.from(delta.subarray(d * 16, (d + 1) * 16)).every((v) => v === 0)).toBe(true);
  });

  it('post-mask rows are the brute-force top rows of B A by squared norm', () => {
    const weights = tinyWeights();
    const lora = track(new LoraAdapters(weights, { rank: 4 }));
    randomize(lora, 11);
    const masks = lora.postMaskRows(0.3);
    for (const w of lora.targets) {
      const importance = rowImportance(lora.delta(w.name), w.dOut, w.dIn);
      const expected = Array.from(importance.keys())
        .sort((a, b) => importance[b]! - importance[a]! || a - b)
        .slice(0, Math.ceil(0.3 * 16))
        .sort((a, b) => a - b);
      expect(Array.from(masks.get(w.name)!)).toEqual(expected);
    }
  });

  it('post-mask on a pre-masked adapter ranks only the rows it trains first', () => {
    const weights = tinyWeights();
    const lora = track(new LoraAdapters(weights, { rank: 2, maskMode: 'pre', budget: 0.25, seed: 1 }));
    randomize(lora);
    expect(lora.postMaskRows(0.25).get(QUERY)).toEqual(lora.rows(QUERY));
  });

  it('round-trips factors through export and import', () => {
    const weights = tinyWeights();
    const source = track(new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.5, seed: 2 }));
    randomize(source);
    const exported = source.exportFactors();
    const rows = new Map([...exported].map(([name, f]) => [name, f.rows]));
    const copy = track(new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.5 }, { rows }));
    copy.importFactors(exported);
    expect(copy.exportFactors()).toEqual(exported);
    for (const w of source.targets) expect(copy.delta(w.name)).toEqual(source.delta(w.name));
  });

  it('exports only the given rows of B and loads them into a full adapter with zeros elsewhere', () => {
    const weights = tinyWeights();
    const source = track(new LoraAdapters(weights, { rank: 2, maskMode: 'post', budget: 0.25 }));
    randomize(source);
    const masks = source.postMaskRows(0.25);
    const upload = source.exportFactors({ rows: masks });
    const q = upload.get(QUERY)!;
    const all = source.exportFactors().get(QUERY)!;
    expect(q.rows).toEqual(masks.get(QUERY));
    expect(q.B).toHaveLength(4 * 2);
    q.rows.forEach((row, i) =>
      expect(q.B.subarray(2 * i, 2 * i + 2)).toEqual(all.B.subarray(2 * row, 2 * row + 2)),
    );

    const target = track(new LoraAdapters(weights, { rank: 2 }));
    target.importFactors(upload);
    const loaded = target.exportFactors().get(QUERY)!;
    for (let d = 0; d < 16; d++) {
      const expected = q.rows.includes(d) ? all.B.subarray(2 * d, 2 * d + 2) : new Float32Array(2);
      expect(loaded.B.subarray(2 * d, 2 * d + 2)).toEqual(expected);
    }
  });

  it('rejects invalid factors with clear errors', () => {
    const weights = tinyWeights();
    const lora = track(new LoraAdapters(weights, { rank: 2, maskMode: 'pre', budget: 0.25, seed: 1 }));
    const good = lora.exportFactors();
    const withQuery = (patch: object): AdapterFactors =>
      new Map([...good, [QUERY, { ...good.get(QUERY)!, ...patch }]]);
    expect(() => lora.importFactors(new Map([[QUERY, good.get(QUERY)!]]))).toThrow(
      /factors for layers.0.attention.value are missing/,
    );
    expect(() => lora.importFactors(new Map([...good, ['bogus', good.get(QUERY)!]]))).toThrow(
      /bogus is not a LoRA target/,
    );
    expect(() => lora.importFactors(withQuery({ rank: 3 }))).toThrow(
      /are rank 3, \[16 x 16\]; expected rank 2/,
    );
    expect(() => lora.importFactors(withQuery({ scale: 1 }))).toThrow(/scale 1, expected alpha \/ rank = 16/);
    expect(() => lora.importFactors(withQuery({ A: new Float32Array(3) }))).toThrow(
      /A for .* has 3 values, expected 32/,
    );
    expect(() => lora.importFactors(withQuery({ B: new Float32Array(8).fill(Number.NaN) }))).toThrow(
      /non-finite/,
    );
    const held = lora.rows(QUERY);
    const otherRows = Int32Array.from(
      Array.from({ length: 16 }, (_, i) => i)
        .filter((d) => !held.includes(d))
        .slice(0, 4),
    );
    expect(() => lora.importFactors(withQuery({ rows: otherRows }))).toThrow(
      /is not one of the rows this adapter trains/,
    );
    expect(() => lora.importFactors({} as AdapterFactors)).toThrow(/must be a Map/);
    expect(() => lora.exportFactors({ rows: new Map([[QUERY, otherRows]]) })).toThrow(/not one of the rows/);
  });

  it('passes a finite-difference gradient check of A and B (full and pre-masked B)', () => {
    const weights: AdaptableWeight[] = [{ name: 'w', kind: 'query', dOut: 4, dIn: 3 }];
    const overrides = { targets: ['w'], rank: 2, alpha: 3, dropout: 0, seed: 9 };
    for (const config of [{ maskMode: 'none' as const }, { maskMode: 'pre' as const, budget: 0.5 }]) {
      const lora = track(new LoraAdapters(weights, { ...overrides, ...config }));
      randomize(lora, 5);
      const x = tf.tensor2d(values(2 * 3, 6), [2, 3]);
      const c = tf.tensor2d(values(2 * 4, 8), [2, 4]);
      // Quadratic in each factor, so central differences are exact up to float rounding.
      const loss = () => tf.sum(tf.mul(tf.square(tf.add(lora.adapter('w', x, true)!, c)), c)) as tf.Scalar;
      const variables = lora.trainableVariables();
      const analytic = tf.tidy(() => {
        const { grads } = tf.variableGrads(loss, variables);
        return variables.map((v) => Array.from(grads[v.name]!.dataSync()));
      });
      const eps = 1e-2;
      variables.forEach((variable, vi) => {
        const base = Float32Array.from(variable.dataSync());
        for (let i = 0; i < base.length; i++) {
          const at = (delta: number) => {
            const shifted = base.slice();
            shifted[i]! += delta;
            tf.tidy(() => variable.assign(tf.tensor(shifted, variable.shape)));
            return tf.tidy(() => loss().dataSync()[0]!);
          };
          const numeric = (at(eps) - at(-eps)) / (2 * eps);
          expect(analytic[vi]![i]).toBeCloseTo(numeric, 2);
        }
        tf.tidy(() => variable.assign(tf.tensor(base, variable.shape)));
      });
      x.dispose();
      c.dispose();
    }
  });

  it('lists the variables of the targets under given name prefixes', () => {
    const lora = track(new LoraAdapters(tinyWeights(), { rank: 2 }));
    const [qA, qB, vA, vB] = lora.trainableVariables();
    expect(lora.variablesFor(['layers.0.attention.'])).toEqual([qA, qB, vA, vB]);
    expect(lora.variablesFor([VALUE])).toEqual([vA, vB]);
    expect(lora.variablesFor(['layers.1.'])).toEqual([]);
  });

  it('draws fresh dropout masks per call and replays them after a restore', () => {
    const lora = track(new LoraAdapters(tinyWeights(), { rank: 4, dropout: 0.5, seed: 3 }));
    randomize(lora);
    const x = tf.ones([4, 16]) as tf.Tensor2D;
    const run = () => tf.tidy(() => lora.adapter(QUERY, x, true)!.arraySync());
    const state = lora.dropoutReplay.snapshot();
    const first = run();
    const second = run();
    expect(second).not.toEqual(first);
    lora.dropoutReplay.restore(state);
    expect(run()).toEqual(first);
    expect(run()).toEqual(second);
    x.dispose();
  });

  it('disposes every tensor it created', () => {
    const weights = tinyWeights();
    const before = tf.memory().numTensors;
    const lora = new LoraAdapters(weights, { rank: 4, maskMode: 'pre', budget: 0.5 });
    randomize(lora);
    lora.delta(QUERY);
    lora.postMaskRows(0.25);
    lora.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => lora.exportFactors()).toThrow(/disposed/);
  });
});
