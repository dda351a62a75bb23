import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinearAdapter, TokenizedBatch } from '../src/encoders/encoder';
import type { UseLiteEncoder } from '../src/encoders/use-lite/model';
import { loadUseLite } from '../src/encoders/use-lite/model';
import { useLitePackageFiles } from '../src/models/model-files-node';
import { checkpointRunner } from '../src/train/checkpoint';
import { useTestBackend } from './helpers/backend';

const TEXTS = ['a gripping , well acted drama', 'dull and far too long', 'the best film of the year', 'meh'];

/** Variables whose name mentions one of the weight prefixes (names look like `x/<weight>/...`). */
function byPrefix(variables: tf.Variable[]) {
  return (prefixes: readonly string[]) =>
    variables.filter((v) => prefixes.some((p) => v.name.split('/')[1]!.startsWith(p)));
}

async function gradients(
  encoder: UseLiteEncoder,
  batch: TokenizedBatch,
  variables: tf.Variable[],
  adapter: LinearAdapter | undefined,
  checkpoint: boolean,
) {
  const runBlock = checkpoint ? checkpointRunner(byPrefix(variables)) : undefined;
  const target = tf.randomNormal([batch.batchSize, encoder.embeddingSize], 0, 1, 'float32', 3);
  let grads: tf.NamedTensorMap = {};
  const profile = await tf.profile(() => {
    const result = tf.variableGrads(
      () => tf.sum(tf.mul(encoder.embed(batch, { adapter, training: true, runBlock }), target)) as tf.Scalar,
      variables,
    );
    result.value.dispose();
    grads = result.grads;
  });
  const values = Object.fromEntries(
    Object.entries(grads).map(([k, g]) => [k, (g.dataSync() as Float32Array).slice()]),
  );
  tf.dispose([target, ...Object.values(grads)]);
  return { values, peakBytes: profile.peakBytes };
}

function maxDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [k, va] of Object.entries(a)) {
    const vb = b[k]!;
    for (let i = 0; i < va.length; i++) worst = Math.max(worst, Math.abs(va[i]! - vb[i]!));
  }
  return worst;
}

describe('activation checkpointing', () => {
  let encoder: UseLiteEncoder;
  beforeAll(async () => {
    await useTestBackend();
    encoder = await loadUseLite(useLitePackageFiles());
  });
  afterAll(() => encoder?.dispose());

  it('gives the same adapter gradients as plain backprop, with a lower peak', async () => {
    const batch = encoder.tokenize(TEXTS);
    const targets = ['layers.0.attention.query', 'layers.1.attention.value', 'layers.1.ffn.in'];
    const variables: tf.Variable[] = [];
    const factors = new Map<string, [tf.Variable, tf.Variable]>();
    for (const w of encoder.adaptableWeights().filter((w) => targets.includes(w.name))) {
      const a = tf.variable(tf.randomNormal([4, w.dIn], 0, 0.1, 'float32', 1), true, `t/${w.name}/A`);
      const b = tf.variable(tf.randomNormal([w.dOut, 4], 0, 0.1, 'float32', 2), true, `t/${w.name}/B`);
      factors.set(w.name, [a, b]);
      variables.push(a, b);
    }
    const adapter: LinearAdapter = (name, x) => {
      const f = factors.get(name);
      return f ? (tf.matMul(tf.matMul(x, f[0], false, true), f[1], false, true) as tf.Tensor2D) : null;
    };
    const plain = await gradients(encoder, batch, variables, adapter, false);
    const tensorsBefore = tf.memory().numTensors;
    const checkpointed = await gradients(encoder, batch, variables, adapter, true);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(Object.keys(plain.values)).toHaveLength(6);
    expect(maxDiff(plain.values, checkpointed.values)).toBeLessThan(1e-5);
    expect(checkpointed.peakBytes).toBeLessThan(plain.peakBytes);
    tf.dispose(variables);
  });

  it('gives the same full fine-tuning gradients as plain backprop', async () => {
    const batch = encoder.tokenize(TEXTS.slice(0, 2));
    const variables = encoder.weights.setTrainable(true);
    try {
      const plain = await gradients(encoder, batch, variables, undefined, false);
      const checkpointed = await gradients(encoder, batch, variables, undefined, true);
      expect(Object.keys(plain.values).length).toBeGreaterThan(20);
      expect(maxDiff(plain.values, checkpointed.values)).toBeLessThan(1e-4);
    } finally {
      encoder.weights.setTrainable(false);
    }
  });
});
