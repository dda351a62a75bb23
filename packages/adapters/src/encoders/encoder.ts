import type * as tf from '@tensorflow/tfjs';

/**
 * A dense weight of an encoder that LoRA may adapt. Shapes follow FedHFT's convention: the weight update is
 * dW in R^{dOut x dIn} (rows are output units, the rows masks select), although tfjs kernels are stored [dIn, dOut].
 */
export interface AdaptableWeight {
  /** Stable, hierarchical name, e.g. `layers.0.attention.query`. Used on the wire and in exports. */
  readonly name: string;
  /** Module kind, so targets can be chosen by kind: `query`, `key`, `value`, `attention.output`, `ffn.in`, ... */
  readonly kind: AdaptableKind;
  readonly dOut: number;
  readonly dIn: number;
}

export type AdaptableKind = 'query' | 'key' | 'value' | 'attention.output' | 'ffn.in' | 'ffn.out' | 'pooler';

/** Token ids and attention mask for a batch, as plain arrays (no tensors) so data pipelines never leak memory. */
export interface TokenizedBatch {
  readonly batchSize: number;
  readonly seqLen: number;
  /** Row-major [batchSize, seqLen] token ids; padding positions hold `padId`. */
  readonly ids: Int32Array;
  /** Row-major [batchSize, seqLen]: 1 for a real token, 0 for padding. */
  readonly mask: Float32Array;
  /** Number of real tokens per row (after truncation). */
  readonly lengths: Int32Array;
}

/**
 * Extra output of an adapted linear map: given the input rows x [n, dIn] of weight `name`, returns the
 * additive term [n, dOut] (LoRA's x A^T B^T), or null when that weight is not adapted.
 */
export type LinearAdapter = (name: string, x: tf.Tensor2D, training: boolean) => tf.Tensor2D | null;

/** A block of an encoder: maps its input to its output, reading `constants` (masks, biases) as given. */
export type EncoderBlock = (x: tf.Tensor, constants: readonly tf.Tensor[]) => tf.Tensor;

/**
 * Runs one block of the encoder (a layer's attention or FFN sub-block) that reads only weights whose names start
 * with one of `weightPrefixes`. The default runs it as is; a checkpointing runner (train/checkpoint.ts)
 * recomputes it in the backward pass instead of keeping its activations, so constants are passed explicitly.
 */
export type BlockRunner = (
  weightPrefixes: readonly string[],
  block: EncoderBlock,
  input: tf.Tensor,
  constants: readonly tf.Tensor[],
) => tf.Tensor;

export interface ForwardOptions {
  /** LoRA (or any additive) adapters applied inside the encoder's linear maps. */
  readonly adapter?: LinearAdapter;
  /** True during training (enables dropout inside adapters). */
  readonly training?: boolean;
  /** How blocks run; set by the trainer for activation checkpointing. */
  readonly runBlock?: BlockRunner;
}

/** Every encoder (USE Lite now, BERT-family next) implements this. */
export interface Encoder {
  /** Human-readable model id, e.g. `use-lite` or a Hugging Face id. */
  readonly id: string;
  /** Size of the pooled sentence embedding. */
  readonly embeddingSize: number;
  /** Longest sequence the model accepts; longer inputs are truncated. */
  readonly maxSeqLen: number;
  /** True when the pooled embedding is L2-normalised (heads rescale it, see head.ts). */
  readonly normalizedEmbedding: boolean;

  /** Tokenize and pad to the longest row (at most `maxSeqLen`, default the model's). */
  tokenize(texts: readonly string[], maxSeqLen?: number): TokenizedBatch;
  /** Sequence output [batch, seqLen, hidden] for a tokenized batch. */
  forward(batch: TokenizedBatch, options?: ForwardOptions): tf.Tensor3D;
  /** Pooled sentence embedding [batch, embeddingSize] from the sequence output (model-specific pooling). */
  pool(hidden: tf.Tensor3D, batch: TokenizedBatch, options?: ForwardOptions): tf.Tensor2D;
  /** forward + pool. */
  embed(batch: TokenizedBatch, options?: ForwardOptions): tf.Tensor2D;

  /** Every weight LoRA may adapt, in a stable order. */
  adaptableWeights(): readonly AdaptableWeight[];
  /** The frozen weights (name -> tensor); full fine-tuning makes them variables through `setTrainable`. */
  readonly weights: WeightStoreView;
  /** Add dW [dOut, dIn] (row-major) to a frozen weight; `unmergeAll` restores the pretrained values exactly. */
  mergeDelta(name: string, delta: Float32Array): void;
  unmergeAll(): void;
  dispose(): void;
}

/** Read access to an encoder's named weights, plus the switch full fine-tuning needs. */
export interface WeightStoreView {
  names(): readonly string[];
  get(name: string): tf.Tensor;
  /** Number of scalar parameters over all weights. */
  parameterCount(): number;
  /** Turn every weight into a trainable tf.Variable (full fine-tuning) and return them; false turns them back. */
  setTrainable(trainable: boolean): tf.Variable[];
}
