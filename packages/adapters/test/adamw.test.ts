import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from '../src/train/adamw';
import { useTestBackend } from './helpers/backend';

beforeAll(useTestBackend);

/** Runs `steps` updates of one optimizer over scalar variables with the given gradients; returns the values. */
function run(
  initial: number[],
  gradients: number[][],
  options: ConstructorParameters<typeof AdamW>[1],
  lr = 0.1,
) {
  const variables = initial.map((value) => tf.tidy(() => tf.variable(tf.scalar(value))));
  const optimizer = new AdamW(variables, options);
  for (const step of gradients) {
    const grads = Object.fromEntries(variables.map((v, i) => [v.name, tf.scalar(step[i]!)]));
    optimizer.step(grads, lr);
    tf.dispose(Object.values(grads));
  }
  const values = variables.map((v) => v.dataSync()[0]!);
  optimizer.dispose();
  tf.dispose(variables);
  return values;
}

describe('AdamW', () => {
  it('matches a hand computation of two steps (bias correction, decoupled decay)', () => {
    // lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, p0 = 1, gradients 0.5 then -0.2.
    // Step 1: p = 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25;
    //         p = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002.
    // Step 2: p = 0.899000002 * 0.999 = 0.898101002; m = 0.025, v = 0.00028975;
    //         m^ = 0.025 / 0.19 = 0.1315789, v^ = 0.00028975 / 0.001999 = 0.1449475, sqrt = 0.3807197;
    //         p = 0.898101002 - 0.1 * 0.1315789 / 0.3807197 = 0.8635404.
    const [p] = run([1], [[0.5], [-0.2]], { weightDecay: 0.01, clipNorm: null });
    expect(p).toBeCloseTo(0.8635404, 6);
    const [afterOne] = run([1], [[0.5]], { weightDecay: 0.01, clipNorm: null });
    expect(afterOne).toBeCloseTo(0.899000002, 6);
  });

  it('clips by the global norm over all variables', () => {
    // Gradients (3, 4) have norm 5 and are scaled to (0.6, 0.8) with clipNorm 1; step 2's (0.1, -0.1) is kept.
    // A scalar reference of the same two steps, without decay, on the clipped gradients:
    const reference = (g1: number, g2: number) => {
      let p = 0;
      let m = 0;
      let v = 0;
      [g1, g2].forEach((g, i) => {
        const t = i + 1;
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        p -= (0.1 * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
      });
      return p;
    };
    const clipped = run(
      [0, 0],
      [
        [3, 4],
        [0.1, -0.1],
      ],
      { weightDecay: 0, clipNorm: 1 },
    );
    expect(clipped[0]).toBeCloseTo(reference(0.6, 0.1), 6);
    expect(clipped[1]).toBeCloseTo(reference(0.8, -0.1), 6);
    // Without clipping the large first gradient dominates the moments and the result differs.
    const unclipped = run(
      [0, 0],
      [
        [3, 4],
        [0.1, -0.1],
      ],
      { weightDecay: 0, clipNorm: null },
    );
    expect(unclipped[0]).toBeCloseTo(reference(3, 0.1), 6);
    expect(Math.abs(unclipped[0]! - clipped[0]!)).toBeGreaterThan(1e-3);
  });

  it('skips weight decay for variables flagged false', () => {
    // A zero gradient leaves only the decay: p = 2 * (1 - 0.1 * 0.5) = 1.9 when decayed.
    const [decayed, kept] = run([2, 2], [[0, 0]], { weightDecay: 0.5, clipNorm: null, decay: [true, false] });
    expect(decayed).toBeCloseTo(1.9, 6);
    expect(kept).toBe(2);
  });

  it('holds two moments per parameter of the variables it was given, and frees them', () => {
    const before = tf.memory().numTensors;
    const a = tf.tidy(() => tf.variable(tf.zeros([3, 4])));
    const b = tf.tidy(() => tf.variable(tf.zeros([5])));
    const optimizer = new AdamW([a, b]);
    expect(optimizer.stateBytes()).toBe(2 * 4 * (12 + 5));
    const grads = { [a.name]: tf.ones([3, 4]), [b.name]: tf.ones([5]) };
    optimizer.step(grads, 0.01);
    expect(optimizer.iterations).toBe(1);
    tf.dispose(Object.values(grads));
    optimizer.dispose();
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with clear errors', () => {
    const a = tf.tidy(() => tf.variable(tf.zeros([2])));
    expect(() => new AdamW([])).toThrow(/at least one variable/);
    expect(() => new AdamW([a, a])).toThrow(/must be distinct/);
    expect(() => new AdamW([a], { beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => new AdamW([a], { clipNorm: 0 })).toThrow(/clipNorm must be a positive number or null/);
    expect(() => new AdamW([a], { decay: [true, false] })).toThrow(/decay flags: got 2 for 1 variables/);
    const optimizer = new AdamW([a]);
    const wrong = tf.zeros([3]);
    expect(() => optimizer.step({}, 0.1)).toThrow(/no gradient for variable/);
    expect(() => optimizer.step({ [a.name]: wrong }, 0.1)).toThrow(
      /gradient for .* is \[3\], the variable is \[2\]/,
    );
    expect(() => optimizer.step({ [a.name]: wrong }, Number.NaN)).toThrow(
      /learning rate must be a non-negative number/,
    );
    optimizer.dispose();
    expect(() => optimizer.step({ [a.name]: wrong }, 0.1)).toThrow(/disposed/);
    tf.dispose([a, wrong]);
  });
});
