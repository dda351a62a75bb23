import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UseLiteEncoder } from '../src/encoders/use-lite/model';
import { loadUseLite } from '../src/encoders/use-lite/model';
import type { ModelFiles } from '../src/models/model-files';
import { useLitePackageFiles } from '../src/models/model-files-node';
import { activateBackend } from '../src/backend';
import { useTestBackend } from './helpers/backend';

const TEXTS = ['a fine movie', 'the plot is dull and far too long', ''];

describe('UseLiteEncoder', () => {
  let encoder: UseLiteEncoder;
  beforeAll(async () => {
    await useTestBackend();
    encoder = await loadUseLite(useLitePackageFiles());
  });
  afterAll(() => encoder?.dispose());

  it('lists adaptable weights whose shapes match the stored kernels', () => {
    const weights = encoder.adaptableWeights();
    expect(weights.filter((w) => w.kind === 'query').map((w) => w.name)).toEqual([
      'layers.0.attention.query',
      'layers.1.attention.query',
    ]);
    for (const w of weights) {
      expect(encoder.weights.get(`${w.name}.kernel`).shape).toEqual([w.dIn, w.dOut]);
    }
    expect(encoder.weights.parameterCount()).toBeGreaterThan(6_000_000);
  });

  it('merging a delta equals adding x dW^T inside the linear map, and unmerging restores exactly', async () => {
    const batch = encoder.tokenize(TEXTS);
    const name = 'layers.1.attention.value';
    const { dOut, dIn } = encoder.adaptableWeights().find((w) => w.name === name)!;
    const delta = tf.tidy(() => tf.randomNormal([dOut, dIn], 0, 0.05, 'float32', 7));
    const deltaData = (await delta.data()) as Float32Array;
    const before = encoder.embed(batch);
    const viaAdapter = encoder.embed(batch, {
      adapter: (n, x) => (n === name ? (tf.matMul(x, delta, false, true) as tf.Tensor2D) : null),
    });
    encoder.mergeDelta(name, deltaData);
    const merged = encoder.embed(batch);
    encoder.unmergeAll();
    const after = encoder.embed(batch);
    expect(tf.max(tf.abs(tf.sub(merged, viaAdapter))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(merged, before))).dataSync()[0]).toBeGreaterThan(1e-3);
    expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
    tf.dispose([delta, before, viaAdapter, merged, after]);
  });

  it('gives the same embeddings on the cpu and wasm backends', async () => {
    const batch = encoder.tokenize(TEXTS);
    const onBackend = async (name: 'cpu' | 'wasm') => {
      await activateBackend([name]);
      // Weights live on the backend that created them; tfjs moves them on first use.
      const out = encoder.embed(batch);
      const data = await out.data();
      out.dispose();
      return data;
    };
    const wasm = await onBackend('wasm');
    const cpu = await onBackend('cpu');
    await useTestBackend();
    let worst = 0;
    wasm.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - cpu[i]!))));
    expect(worst).toBeLessThan(1e-5);
  });

  it('rejects a delta of the wrong size or for an unknown weight', () => {
    expect(() => encoder.mergeDelta('layers.0.attention.query', new Float32Array(3))).toThrow(
      /expected 256 x 256/,
    );
    expect(() => encoder.mergeDelta('nope', new Float32Array(3))).toThrow(/no adaptable weight nope/);
  });

  it('names the weight when a shard is truncated', async () => {
    const real = useLitePackageFiles();
    const truncated: ModelFiles = {
      origin: 'truncated copy',
      read: async (path) => {
        const bytes = await real.read(path);
        return path.endsWith('shard7of7') ? bytes.slice(0, 1000) : bytes;
      },
    };
    await expect(loadUseLite(truncated)).rejects.toThrow(
      /weight .* needs bytes up to \d+ but the shards hold/,
    );
  });

  it('names the file when model.json is not JSON', async () => {
    const broken: ModelFiles = {
      origin: 'broken copy',
      read: async (path) =>
        path === 'model.json' ? new TextEncoder().encode('{oops').buffer : new ArrayBuffer(0),
    };
    await expect(loadUseLite(broken)).rejects.toThrow(/model.json from broken copy is not valid JSON/);
  });
});
