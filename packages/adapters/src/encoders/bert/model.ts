import * as tf from '@tensorflow/tfjs';
import type { PeftNaming } from '../../models/peft-naming';
import type { AdaptableWeight, Encoder, ForwardOptions, TokenizedBatch } from '../encoder';
import { gatherRows } from '../gather-rows';
import { geluErf, geluTanh, layerNorm, linear, multiHeadAttention } from '../layers';
import { padTokenRows } from '../tokenized-batch';
import type { WeightStore } from '../weight-store';
import { mergeKernelDelta } from '../weight-store';
import type { BertConfig } from './config';
import type { BertLayout } from './layout';
import type { TextTokenizer } from './tokenizer';
import { truncateKeepingLast } from './tokenizer';

/**
 * How the sentence embedding is pooled from the last hidden states:
 * - `pooler`: BertModel's pooler_output, tanh(dense([CLS])) (needs the checkpoint's pooler.dense weights);
 * - `cls`: the [CLS] hidden state itself (sentence-transformers' CLS pooling);
 * - `mean`: the mean over real tokens (sentence-transformers' mean pooling, all-MiniLM-L6-v2).
 */
export type BertPooling = 'pooler' | 'cls' | 'mean';

export interface BertEncoderOptions {
  readonly pooling: BertPooling;
  /** L2-normalise the pooled embedding (a sentence-transformers Normalize module). */
  readonly normalize: boolean;
  /** Longest input in tokens (at most the model's max_position_embeddings). */
  readonly maxSeqLen: number;
}

/** Additive attention bias on padding keys: exp(-1e9 - max) is exactly 0 in float32. */
const PADDING_BIAS = -1e9;
/** sentence-transformers' Normalize divides by max(norm, 1e-12). */
const L2_EPSILON = 1e-24;

/**
 * A BERT-family encoder (BertModel, DistilBertModel) as differentiable tfjs ops: learned word + position (+ token
 * type) embeddings and LayerNorm, then post-LayerNorm transformer layers, LN(x + attention(x)) and
 * LN(y + W2 act(W1 y)), each run as a block through `runBlock` (activation checkpointing), then pooling.
 * Dropout of the base model is not applied (the frozen encoder runs as in inference; LoRA has its own dropout).
 */
export class BertEncoder implements Encoder {
  readonly embeddingSize: number;
  readonly maxSeqLen: number;
  readonly normalizedEmbedding: boolean;
  readonly pooling: BertPooling;
  private readonly adaptable: AdaptableWeight[];

  constructor(
    readonly id: string,
    readonly config: BertConfig,
    readonly layout: BertLayout,
    readonly weights: WeightStore,
    private readonly tokenizer: TextTokenizer,
    options: BertEncoderOptions,
  ) {
    this.embeddingSize = config.hiddenSize;
    if (!Number.isSafeInteger(options.maxSeqLen) || options.maxSeqLen < 2) {
      throw new Error(`maxSeqLen must be an integer >= 2, got ${options.maxSeqLen}`);
    }
    this.maxSeqLen = Math.min(options.maxSeqLen, config.maxPositions);
    this.pooling = options.pooling;
    this.normalizedEmbedding = options.normalize;
    const hasPooler = layout.linears.some((l) => l.kind === 'pooler');
    if (this.pooling === 'pooler' && !hasPooler) {
      throw new Error(`${id}: pooling 'pooler' needs the checkpoint's pooler.dense weights`);
    }
    // The pooler is adaptable only when it is used (LoRA on an unused weight would train nothing).
    this.adaptable = layout.linears
      .filter((l) => l.kind !== 'pooler' || this.pooling === 'pooler')
      .map(({ ours, kind, dIn, dOut }) => ({ name: ours, kind, dIn, dOut }));
  }

  tokenize(texts: readonly string[], maxSeqLen = this.maxSeqLen): TokenizedBatch {
    const limit = Math.max(2, Math.min(maxSeqLen, this.maxSeqLen));
    return padTokenRows(
      texts.map((t) => truncateKeepingLast(this.tokenizer.encode(t), limit)),
      limit,
      this.tokenizer.padId,
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
    if (seqLen > this.config.maxPositions) {
      throw new Error(`${this.id}: sequence length ${seqLen} exceeds ${this.config.maxPositions} positions`);
    }
    const run =
      options.runBlock ?? ((_prefixes, block, input, constants) => tf.tidy(() => block(input, constants)));
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batchSize, seqLen], 'int32');
      const keyBias = tf.mul(tf.sub(1, tf.tensor2d(batch.mask, [batchSize, seqLen])), PADDING_BIAS);
      const { hiddenSize } = this.config;
      let embedded: tf.Tensor = tf.add(
        gatherRows(this.w('embeddings.word'), ids),
        this.w('embeddings.position').slice([0, 0], [seqLen, hiddenSize]),
      );
      // Single-sentence inputs: every token has token type 0.
      if (this.config.typeVocabSize > 0) {
        embedded = tf.add(embedded, this.w('embeddings.tokenType').slice([0, 0], [1, hiddenSize]));
      }
      let x = this.norm(embedded, 'embeddings.norm');
      for (let layer = 0; layer < this.config.numLayers; layer++) {
        const p = `layers.${layer}.`;
        x = run([`${p}attention.`], (input, [bias]) => this.attentionBlock(layer, input, bias!, options), x, [
          keyBias,
        ]);
        x = run([`${p}ffn.`], (input) => this.ffnBlock(layer, input, options), x, []);
      }
      return x as tf.Tensor3D;
    });
  }

  private norm(x: tf.Tensor, name: string): tf.Tensor {
    return layerNorm(x, this.w(`${name}.scale`), this.w(`${name}.bias`), this.config.layerNormEps);
  }

  private linear(input: tf.Tensor, name: string, options: ForwardOptions): tf.Tensor {
    return linear(
      input,
      this.w(`${name}.kernel`),
      this.w(`${name}.bias`),
      name,
      options.adapter,
      options.training ?? false,
    );
  }

  /** LN(x + W_o attention(W_q x, W_k x, W_v x)). */
  private attentionBlock(
    layer: number,
    x: tf.Tensor,
    keyBias: tf.Tensor,
    options: ForwardOptions,
  ): tf.Tensor {
    const p = `layers.${layer}.attention.`;
    const q = this.linear(x, `${p}query`, options);
    const k = this.linear(x, `${p}key`, options);
    const v = this.linear(x, `${p}value`, options);
    const attended = this.linear(
      multiHeadAttention(q, k, v, keyBias, this.config.numHeads),
      `${p}output`,
      options,
    );
    return this.norm(tf.add(x, attended), `${p}norm`);
  }

  /** LN(y + W_2 act(W_1 y)). */
  private ffnBlock(layer: number, y: tf.Tensor, options: ForwardOptions): tf.Tensor {
    const p = `layers.${layer}.ffn.`;
    const inner = this.linear(y, `${p}in`, options);
    const activated =
      this.config.activation === 'gelu'
        ? geluErf(inner)
        : this.config.activation === 'gelu_tanh'
          ? geluTanh(inner)
          : tf.relu(inner);
    return this.norm(tf.add(y, this.linear(activated, `${p}out`, options)), `${p}norm`);
  }

  pool(hidden: tf.Tensor3D, batch: TokenizedBatch, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const [batchSize, seqLen, width] = hidden.shape;
      let pooled: tf.Tensor;
      if (this.pooling === 'mean') {
        const mask = tf.tensor2d(batch.mask, [batchSize, seqLen]);
        const lengths = tf.maximum(tf.sum(mask, 1, true), 1e-9);
        pooled = tf.div(tf.sum(tf.mul(hidden, mask.expandDims(-1)), 1), lengths);
      } else {
        const cls = hidden.slice([0, 0, 0], [batchSize, 1, width]).reshape([batchSize, width]);
        pooled = this.pooling === 'cls' ? cls : tf.tanh(this.linear(cls, 'pooler', options));
      }
      if (this.normalizedEmbedding) {
        pooled = tf.mul(pooled, tf.rsqrt(tf.maximum(tf.sum(tf.square(pooled), 1, true), L2_EPSILON)));
      }
      return pooled as tf.Tensor2D;
    });
  }

  embed(batch: TokenizedBatch, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.pool(this.forward(batch, options), batch, options));
  }

  mergeDelta(name: string, delta: Float32Array): void {
    mergeKernelDelta(this.weights, this.adaptable, this.id, name, delta);
  }

  unmergeAll(): void {
    this.weights.unmergeAll();
  }

  /** Hugging Face module paths of our weights, for PEFT adapter files (models/peft.ts). */
  peftNaming(): PeftNaming {
    const byName = new Map(this.layout.linears.map((l) => [l.ours, l]));
    const byModule = new Map(this.layout.linears.map((l) => [l.module, l.ours]));
    const prefixes = this.layout.checkpointPrefixes;
    return {
      scheme: `transformers:${this.config.family}`,
      module: (name) => {
        const linear = byName.get(name);
        if (!linear) throw new Error(`${this.id} has no adaptable weight ${name}`);
        return linear.module;
      },
      weightOf: (module) => {
        for (const prefix of prefixes) {
          if (!module.startsWith(prefix)) continue;
          const ours = byModule.get(module.slice(prefix.length));
          if (ours) return ours;
        }
        return undefined;
      },
      targetModules: (names) => {
        const wanted = new Set(names);
        const targets: string[] = [];
        const kinds = [...new Set(this.adaptable.filter((w) => wanted.has(w.name)).map((w) => w.kind))];
        for (const kind of kinds) {
          const ofKind = this.adaptable.filter((w) => w.kind === kind);
          const suffix = this.layout.peftKindSuffix[kind];
          if (suffix && ofKind.every((w) => wanted.has(w.name))) targets.push(suffix);
          // Not every layer, or no unambiguous suffix: the full module paths (peft matches them exactly).
          else
            targets.push(...ofKind.filter((w) => wanted.has(w.name)).map((w) => byName.get(w.name)!.module));
        }
        return targets;
      },
    };
  }

  dispose(): void {
    this.weights.dispose();
  }
}
