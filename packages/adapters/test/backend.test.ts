import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { activateBackend } from '../src/backend';

describe('wasm kernel overrides', () => {
  beforeAll(async () => {
    await activateBackend(['wasm']);
  });

  it('multiplies with transpose flags exactly as with explicit transposes, leaking nothing', () => {
    const a = tf.randomNormal([3, 7, 5], 0, 1, 'float32', 1);
    const b = tf.randomNormal([3, 6, 5], 0, 1, 'float32', 2);
    const c = tf.randomNormal([3, 7, 6], 0, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    const cases = tf.tidy(() => [
      [tf.matMul(a, b, false, true), tf.matMul(a, tf.transpose(b, [0, 2, 1]))],
      [tf.matMul(a, c, true, false), tf.matMul(tf.transpose(a, [0, 2, 1]), c)],
      [tf.matMul(b, c, true, true), tf.matMul(tf.transpose(b, [0, 2, 1]), tf.transpose(c, [0, 2, 1]))],
    ]);
    for (const [flags, explicit] of cases) {
      expect(Array.from(flags!.dataSync())).toEqual(Array.from(explicit!.dataSync()));
    }
    tf.dispose(cases.flat());
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, c]);
  });

  it('shares buffers on clone instead of copying', () => {
    const x = tf.tensor([1, 2, 3]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([x, y]);
  });
});
