import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenizedBatch } from '../src/encoders/encoder';
import { loadBert } from '../src/encoders/bert/load';
import type { BertEncoder } from '../src/encoders/bert/model';
import { folderModelFiles } from '../src/models/model-files-node';
import { SafetensorsFile } from '../src/models/safetensors';
import { useTestBackend } from './helpers/backend';

/**
 * Our BERT forward pass against PyTorch: scripts/golden_bert.py built the same network from
 * nn.TransformerEncoderLayer (post-LayerNorm, erf GELU, eps 1e-12) from a random checkpoint and saved its
 * float64 outputs for padded token sequences in fixtures/golden-bert (no torch needed here).
 */
const FOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'golden-bert');
const TOLERANCE = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('BertEncoder against PyTorch (golden fixture)', () => {
  let batch: TokenizedBatch;
  let expected: SafetensorsFile;
  const encoders: BertEncoder[] = [];

  beforeAll(async () => {
    await useTestBackend();
    const inputs = JSON.parse(await readFile(path.join(FOLDER, 'inputs.json'), 'utf8')) as {
      ids: number[][];
      mask: number[][];
    };
    const seqLen = inputs.ids[0]!.length;
    batch = {
      batchSize: inputs.ids.length,
      seqLen,
      ids: Int32Array.from(inputs.ids.flat()),
      mask: Float32Array.from(inputs.mask.flat()),
      lengths: Int32Array.from(inputs.mask.map((row) => row.reduce((a, b) => a + b, 0))),
    };
    expected = new SafetensorsFile(
      await readFile(path.join(FOLDER, 'expected.safetensors')),
      'expected.safetensors',
    );
  });
  afterAll(() => encoders.forEach((e) => e.dispose()));

  // The fixture has a 100-token vocabulary and no tokenizer: the test feeds token ids directly.
  const idsOnly = { encode: () => [] as number[], padId: 0, maxId: 99 };
  const load = async (pooling: 'pooler' | 'mean') => {
    const encoder = await loadBert(folderModelFiles(FOLDER), { tokenizer: idsOnly, pooling });
    encoders.push(encoder);
    return encoder;
  };

  it(`matches the sequence output and BertModel's pooler output within ${TOLERANCE}`, async () => {
    const encoder = await load('pooler');
    expect(encoder.config).toMatchObject({ numLayers: 2, numHeads: 2, hiddenSize: 32, layerNormEps: 1e-12 });
    // Non-trivial LayerNorm parameters and non-zero biases, so the comparison exercises them.
    const spread = (name: string, center: number) =>
      Math.max(...Array.from(encoder.weights.get(name).dataSync(), (v) => Math.abs(v - center)));
    expect(spread('layers.1.ffn.norm.scale', 1)).toBeGreaterThan(0.1);
    expect(spread('layers.0.attention.norm.bias', 0)).toBeGreaterThan(0.1);
    expect(spread('layers.0.attention.query.bias', 0)).toBeGreaterThan(0.1);
    const hidden = encoder.forward(batch);
    const pooled = encoder.pool(hidden, batch);
    const sequenceDiff = maxAbsDiff(hidden.dataSync(), expected.readFloat32('sequence_output', hidden.shape));
    const poolerDiff = maxAbsDiff(pooled.dataSync(), expected.readFloat32('pooler_output', pooled.shape));
    console.log(
      `golden BERT: max |ours - torch| sequence ${sequenceDiff.toExponential(2)}, pooler ${poolerDiff.toExponential(2)}`,
    );
    expect(sequenceDiff).toBeLessThan(TOLERANCE);
    expect(poolerDiff).toBeLessThan(TOLERANCE);
    tf.dispose([hidden, pooled]);
  });

  it('matches masked mean pooling within the tolerance', async () => {
    const encoder = await load('mean');
    const pooled = encoder.embed(batch);
    const diff = maxAbsDiff(pooled.dataSync(), expected.readFloat32('mean_pooled', pooled.shape));
    expect(diff).toBeLessThan(TOLERANCE);
    pooled.dispose();
  });
});
