import * as tf from '@tensorflow/tfjs';
import type { ModelFiles } from '../../models/model-files';
import { readJsonFile } from '../../models/model-files';
import { readTfjsWeights } from '../../models/tfjs-weights';
import type { AdaptableKind, AdaptableWeight, Encoder, ForwardOptions, TokenizedBatch } from '../encoder';
import { gatherRows } from '../gather-rows';
import { layerNorm, linear, multiHeadAttention } from '../layers';
import { padTokenRows } from '../tokenized-batch';
import { mergeKernelDelta, WeightStore } from '../weight-store';
import { parseUseVocabulary, UseLiteTokenizer } from './tokenizer';
import { mapUseLiteWeights, USE_LITE } from './weights';

/** Adapted weights: name -> [stored kernel key, kind]. Query/key/value are split out of the fused qkv kernel. */
function adaptableWeightsOf(): AdaptableWeight[] {
  const list: AdaptableWeight[] = [];
  const add = (name: string, kind: AdaptableKind, dIn: number, dOut: number) =>
    list.push({ name, kind, dIn, dOut });
  USE_LITE.layers.forEach(({ width }, layer) => {
    const p = `layers.${layer}.`;
    add(`${p}attention.query`, 'query', width, width);
    add(`${p}attention.key`, 'key', width, width);
    add(`${p}attention.value`, 'value', width, width);
    add(`${p}attention.output`, 'attention.output', width, USE_LITE.hidden);
    add(`${p}ffn.in`, 'ffn.in', USE_LITE.hidden, USE_LITE.ffnHidden);
    add(`${p}ffn.out`, 'ffn.out', USE_LITE.ffnHidden, USE_LITE.hidden);
  });
  add('pooler', 'pooler', USE_LITE.hidden, USE_LITE.hidden);
  return list;
}

/**
 * Universal Sentence Encoder Lite rebuilt from its named weights as differentiable tfjs ops (the published
 * graph model cannot be trained). Two transformer layers (256 -> 512 wide), sinusoidal timing signal, mean
 * pooling, a tanh dense layer and L2 normalisation, exactly as the graph computes them.
 */
export class UseLiteEncoder implements Encoder {
  readonly id = 'use-lite';
  readonly embeddingSize: number = USE_LITE.hidden;
  readonly maxSeqLen: number = USE_LITE.maxSeqLen;
  readonly normalizedEmbedding = true;
  readonly weights: WeightStore;
  private readonly adaptable = adaptableWeightsOf();
  private readonly timing: tf.Tensor2D;

  constructor(
    private readonly tokenizer: UseLiteTokenizer,
    store: WeightStore,
    invTimescales: Float32Array,
  ) {
    this.weights = store;
    // Sinusoidal timing signal for every position: [maxSeqLen, 256] = [sin(p * w), cos(p * w)].
    this.timing = tf.tidy(() => {
      const positions = tf.range(0, USE_LITE.maxSeqLen, 1, 'float32').reshape([-1, 1]);
      const scaled = tf.mul(positions, tf.tensor2d(invTimescales, [1, invTimescales.length]));
      return tf.concat([tf.sin(scaled), tf.cos(scaled)], 1) as tf.Tensor2D;
    });
  }

  tokenize(texts: readonly string[], maxSeqLen = this.maxSeqLen): TokenizedBatch {
    const limit = Math.min(maxSeqLen, this.maxSeqLen);
    // Padding uses id 0, masked out; the graph treats every real id (0 included) as a token.
    return padTokenRows(
      texts.map((t) => this.tokenizer.encode(t)),
      limit,
      0,
    );
  }

  adaptableWeights(): readonly AdaptableWeight[] {
    return this.adaptable;
  }

  private w(name: string): tf.Tensor {
    return this.weights.get(name);
  }

  forward(batch: TokenizedBatch, options: ForwardOptions = {}): tf.Tensor3D {
    const { batchSize, seqLen } = batch;
    // Each block in its own tidy: tensors a gradient needs are kept by the tape, the rest are freed at once.
    const run =
      options.runBlock ?? ((_prefixes, block, input, constants) => tf.tidy(() => block(input, constants)));
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batchSize, seqLen], 'int32');
      const mask = tf.tensor2d(batch.mask, [batchSize, seqLen]).expandDims(-1);
      const keyBias = tf.mul(tf.sub(1, tf.tensor2d(batch.mask, [batchSize, seqLen])), USE_LITE.paddingBias);
      const embedded = gatherRows(this.w('embeddings'), ids);
      const timing = this.timing.slice([0, 0], [seqLen, -1]);
      // The graph adds the embeddings once before and once after the timing signal: keep that quirk.
      let x: tf.Tensor = tf.mul(tf.add(embedded, tf.add(embedded, timing)), mask);
      USE_LITE.layers.forEach((_, layer) => {
        const p = `layers.${layer}.`;
        x = run(
          [`${p}attention.`, `${p}residual.`],
          (input, [m, bias]) => this.attentionBlock(layer, input, m!, bias!, options),
          x,
          [mask, keyBias],
        );
        x = run([`${p}ffn.`], (input, [m]) => this.ffnBlock(layer, input, m!, options), x, [mask]);
      });
      return x as tf.Tensor3D;
    });
  }

  private linear(input: tf.Tensor, name: string, options: ForwardOptions, bias = true): tf.Tensor {
    const kernel = this.w(`${name}.kernel`);
    return linear(
      input,
      kernel,
      bias ? this.w(`${name}.bias`) : null,
      name,
      options.adapter,
      options.training ?? false,
    );
  }

  /** Pre-norm self-attention with the residual (projected to 512 wide in layer 0, masked to real tokens). */
  private attentionBlock(
    layer: number,
    x: tf.Tensor,
    mask: tf.Tensor,
    keyBias: tf.Tensor,
    options: ForwardOptions,
  ): tf.Tensor {
    const p = `layers.${layer}.`;
    const { width, heads } = USE_LITE.layers[layer]!;
    const h = layerNorm(
      x,
      this.w(`${p}attention.norm.scale`),
      this.w(`${p}attention.norm.bias`),
      USE_LITE.layerNormEpsilon,
    );
    const q = this.linear(h, `${p}attention.query`, options);
    const k = this.linear(h, `${p}attention.key`, options);
    const v = this.linear(h, `${p}attention.value`, options);
    const attended = this.linear(
      multiHeadAttention(q, k, v, keyBias, heads),
      `${p}attention.output`,
      options,
    );
    const residual = width === USE_LITE.hidden ? x : tf.mul(this.linear(x, `${p}residual`, options), mask);
    return tf.add(attended, residual);
  }

  /** Pre-norm ReLU FFN; the graph runs it on real tokens only, so padding positions get no FFN update. */
  private ffnBlock(layer: number, y: tf.Tensor, mask: tf.Tensor, options: ForwardOptions): tf.Tensor {
    const p = `layers.${layer}.`;
    const z = layerNorm(
      y,
      this.w(`${p}ffn.norm.scale`),
      this.w(`${p}ffn.norm.bias`),
      USE_LITE.layerNormEpsilon,
    );
    const inner = tf.relu(this.linear(z, `${p}ffn.in`, options));
    return tf.add(y, tf.mul(this.linear(inner, `${p}ffn.out`, options), mask));
  }

  pool(hidden: tf.Tensor3D, batch: TokenizedBatch, options: ForwardOptions = {}): tf.Tensor2D {
    const { adapter, training = false } = options;
    return tf.tidy(() => {
      const mask = tf.tensor2d(batch.mask, [batch.batchSize, batch.seqLen]);
      const lengths = tf.maximum(tf.sum(mask, 1, true), 1);
      const mean = tf.div(tf.sum(tf.mul(hidden, mask.expandDims(-1)), 1), lengths);
      const dense = tf.tanh(
        linear(mean, this.w('pooler.kernel'), this.w('pooler.bias'), 'pooler', adapter, training),
      );
      const norm = tf.rsqrt(tf.maximum(tf.sum(tf.square(dense), 1, true), USE_LITE.l2Epsilon));
      return tf.mul(dense, norm) as tf.Tensor2D;
    });
  }

  embed(batch: TokenizedBatch, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.pool(this.forward(batch, options), batch, options));
  }

  mergeDelta(name: string, delta: Float32Array): void {
    mergeKernelDelta(this.weights, this.adaptableWeights(), 'USE Lite', name, delta);
  }

  unmergeAll(): void {
    this.weights.unmergeAll();
  }

  dispose(): void {
    this.weights.dispose();
    this.timing.dispose();
  }
}

/** Stores the fused qkv kernel/bias as separate query, key and value weights (columns [q | k | v]). */
function splitQkv(store: WeightStore, name: string, fused: tf.Tensor): void {
  const parts = tf.split(fused, 3, fused.rank - 1);
  fused.dispose();
  ['query', 'key', 'value'].forEach((part, i) => store.add(name.replace('qkv', part), parts[i]!));
}

/** Loads USE Lite (model.json, weight shards, vocab.json) from any model file source. */
export async function loadUseLite(files: ModelFiles): Promise<UseLiteEncoder> {
  const [{ weights }, vocabulary] = await Promise.all([
    readTfjsWeights(files),
    readJsonFile(files, 'vocab.json').then(parseUseVocabulary),
  ]);
  const ours = mapUseLiteWeights(weights);
  const store = new WeightStore();
  let invTimescales: Float32Array | null = null;
  for (const [name, { shape, data }] of ours) {
    if (name === 'timing.invTimescales') invTimescales = data as Float32Array;
    else if (name.includes('.qkv.')) splitQkv(store, name, tf.tensor(data, [...shape], 'float32'));
    else store.add(name, tf.tensor(data, [...shape], 'float32'));
  }
  if (!invTimescales) throw new Error('USE Lite timing signal missing');
  return new UseLiteEncoder(new UseLiteTokenizer(vocabulary), store, invTimescales);
}
