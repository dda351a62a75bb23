import * as tf from '@tensorflow/tfjs';
import { WeightStore } from '../weight-store';
import type { BertConfig } from './config';
import { bertLayout } from './layout';
import type { BertPooling } from './model';
import { BertEncoder } from './model';
import type { TextTokenizer } from './tokenizer';

export interface RandomBertOptions {
  readonly id?: string;
  readonly seed?: number;
  readonly pooling?: BertPooling;
  readonly maxSeqLen?: number;
}

/**
 * A BERT-shaped encoder with Hugging Face's initialisation (weights and embeddings N(0, 0.02), zero biases,
 * LayerNorm 1 / 0), seeded: for benchmarks and demos at a real model's size when no pretrained weights are at
 * hand. Nothing it computes means anything linguistically.
 */
export function randomBertEncoder(
  config: BertConfig,
  tokenizer: TextTokenizer,
  options: RandomBertOptions = {},
): BertEncoder {
  if (tokenizer.maxId >= config.vocabSize) {
    throw new Error(
      `the tokenizer produces ids up to ${tokenizer.maxId} but vocab_size is ${config.vocabSize}`,
    );
  }
  const pooling = options.pooling ?? 'pooler';
  const layout = bertLayout(config, pooling === 'pooler');
  const store = new WeightStore();
  let seed = options.seed ?? 0;
  const normal = (shape: number[]) => tf.randomNormal(shape, 0, 0.02, 'float32', seed++);
  const h = config.hiddenSize;
  for (const { ours, rows } of layout.embeddings) store.add(ours, normal([rows, h]));
  for (const { ours } of layout.norms) {
    store.add(`${ours}.scale`, tf.ones([h]));
    store.add(`${ours}.bias`, tf.zeros([h]));
  }
  for (const { ours, dIn, dOut } of layout.linears) {
    store.add(`${ours}.kernel`, normal([dIn, dOut]));
    store.add(`${ours}.bias`, tf.zeros([dOut]));
  }
  return new BertEncoder(options.id ?? `random-${config.family}`, config, layout, store, tokenizer, {
    pooling,
    normalize: false,
    maxSeqLen: options.maxSeqLen ?? config.maxPositions,
  });
}
