import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loraTerm } from '../src/lora/lora-op';
import { useTestBackend } from './helpers/backend';

/** The same term with plain tfjs ops (tf.dropout draws the same mask for the same seed). */
function reference(
  x: tf.Tensor2D,
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  scale: number,
  rate: number,
  seed: number,
) {
  const dropped = rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
  return tf.matMul(tf.mul(tf.matMul(dropped, A, false, true), scale), B, false, true);
}

describe('loraTerm', () => {
  beforeAll(useTestBackend);

  for (const rate of [0, 0.3]) {
    it(`matches plain ops in value and in every gradient (dropout ${rate})`, () => {
      const x = tf.randomNormal([6, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
      const A = tf.randomNormal([3, 5], 0, 1, 'float32', 2) as tf.Tensor2D;
      const B = tf.randomNormal([4, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
      const upstream = tf.randomNormal([6, 4], 0, 1, 'float32', 4);
      const loss = (f: typeof reference) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, 0.5, rate, 11), upstream));
      const ours = tf.grads(loss(loraTerm))([x, A, B]);
      const theirs = tf.grads(loss(reference))([x, A, B]);
      expect(loraTerm(x, A, B, 0.5, rate, 11).arraySync()).toEqual(
        reference(x, A, B, 0.5, rate, 11).arraySync(),
      );
      ours.forEach((g, i) => {
        const diff = tf.max(tf.abs(tf.sub(g, theirs[i]!))).dataSync()[0]!;
        expect(diff).toBeLessThan(1e-5);
      });
      if (rate > 0) expect(tf.min(tf.abs(ours[0]!)).dataSync()[0]).toBe(0); // dropped inputs get no gradient
    });
  }
});
