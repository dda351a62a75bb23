import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UseLiteEncoder } from '../src/encoders/use-lite/model';
import { loadUseLite } from '../src/encoders/use-lite/model';
import { LoraAdapters } from '../src/lora/lora';
import type { LoraConfig } from '../src/lora/config';
import { useLitePackageFiles } from '../src/models/model-files-node';
import { evaluate } from '../src/train/evaluate';
import { ClassificationHead } from '../src/train/head';
import type { TrainConfig } from '../src/train/train-config';
import { trainLocal } from '../src/train/trainer';
import { useTestBackend } from './helpers/backend';

// Topic sentences the pretrained encoder has never been tuned on: food (0), weather (1), computers (2).
const TOPICS = [
  ['the soup was too salty', 'we baked fresh bread', 'this pasta needs garlic', 'the cake tasted sweet'],
  [
    'heavy rain is expected tonight',
    'a cold wind from the north',
    'sunny skies all weekend',
    'snow closed the roads',
  ],
  [
    'the laptop will not boot',
    'install the latest driver',
    'my keyboard stopped working',
    'the server ran out of memory',
  ],
];
const DATA = {
  texts: TOPICS.flat(),
  labels: TOPICS.flatMap((sentences, label) => sentences.map(() => label)),
};

describe('training LoRA inside USE Lite', () => {
  let encoder: UseLiteEncoder;
  beforeAll(async () => {
    await useTestBackend();
    encoder = await loadUseLite(useLitePackageFiles());
  });
  afterAll(() => encoder?.dispose());

  async function run(train: Partial<TrainConfig>, lora: Partial<LoraConfig> = {}) {
    const adapters = new LoraAdapters(encoder.adaptableWeights(), { rank: 4, seed: 3, ...lora });
    const head = ClassificationHead.forEncoder(encoder, 3, 3);
    try {
      const result = await trainLocal(
        encoder,
        head,
        DATA,
        { mode: 'lora', learningRate: 0.01, batchSize: 6, maxSteps: 3, seed: 1, ...train },
        adapters,
      );
      return { result, metrics: await evaluate(encoder, head, DATA, { lora: adapters }) };
    } finally {
      adapters.dispose();
      head.dispose();
    }
  }

  it('checkpointing gives the same training run, dropout included', async () => {
    const plain = await run({});
    const checkpointed = await run({ checkpoint: true });
    plain.result.losses.forEach((loss, i) => expect(checkpointed.result.losses[i]).toBeCloseTo(loss, 5));
  });

  it('micro-batching gives the same training run (no dropout)', async () => {
    const plain = await run({}, { dropout: 0 });
    const micro = await run({ microBatchSize: 2, checkpoint: true }, { dropout: 0 });
    plain.result.losses.forEach((loss, i) => expect(micro.result.losses[i]).toBeCloseTo(loss, 5));
  });

  it('fits a small topic set with a pre-masked budget and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const { result, metrics } = await run(
      { maxSteps: undefined, epochs: 12, learningRate: 0.02 },
      { maskMode: 'pre', budget: 0.25, dropout: 0 },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]! * 0.5);
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    for (const [, f] of result.factors!) expect(f.rows.length).toBe(Math.ceil(0.25 * f.dOut));
  });
});
