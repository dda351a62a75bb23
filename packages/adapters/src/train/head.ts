import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { Encoder } from '../encoders/encoder';
import { assertFloatArray } from '../lora/float-arrays';

/** A head's parameters as plain arrays: what clients upload and the server averages. */
export interface HeadParams {
  readonly embeddingSize: number;
  readonly numClasses: number;
  /** Row-major [embeddingSize, numClasses]. */
  readonly kernel: Float32Array;
  /** [numClasses] */
  readonly bias: Float32Array;
}

export interface HeadOptions {
  readonly seed?: number;
  /** Multiplies the embedding before the dense layer (see `ClassificationHead.forEncoder`). */
  readonly inputScale?: number;
}

/** Linear classifier on the pooled sentence embedding: logits = (inputScale * e) W + b. */
export class ClassificationHead {
  readonly embeddingSize: number;
  readonly numClasses: number;
  readonly inputScale: number;
  readonly kernel: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  private disposed = false;

  constructor(embeddingSize: number, numClasses: number, options: HeadOptions = {}) {
    if (!Number.isInteger(embeddingSize) || embeddingSize < 1) {
      throw new Error(`embeddingSize must be a positive integer, got ${embeddingSize}`);
    }
    if (!Number.isInteger(numClasses) || numClasses < 2) {
      throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
    }
    const seed = options.seed ?? 0;
    const inputScale = options.inputScale ?? 1;
    if (!Number.isSafeInteger(seed)) throw new Error(`head seed must be an integer, got ${seed}`);
    if (!(inputScale > 0 && Number.isFinite(inputScale))) {
      throw new Error(`head inputScale must be a positive number, got ${inputScale}`);
    }
    this.embeddingSize = embeddingSize;
    this.numClasses = numClasses;
    this.inputScale = inputScale;
    // PyTorch nn.Linear's kernel init U(-1/sqrt(fanIn), 1/sqrt(fanIn)); not zero, so that the encoder side
    // (LoRA's B, which starts at zero) receives a gradient from the very first step.
    const random = seedrandom(`head:${seed}`);
    const bound = 1 / Math.sqrt(embeddingSize);
    const init = Float32Array.from({ length: embeddingSize * numClasses }, () => (2 * random() - 1) * bound);
    this.kernel = tf.tidy(() => tf.variable(tf.tensor2d(init, [embeddingSize, numClasses]), true));
    this.bias = tf.tidy(() => tf.variable(tf.zeros([numClasses]), true)) as tf.Variable<tf.Rank.R1>;
  }

  /**
   * A head sized for `encoder`. An L2-normalised embedding of size E has features of RMS 1/sqrt(E); scaling it
   * by sqrt(E) restores unit-scale features, so the standard init and the learning rate shared with the adapters
   * move the logits as they would for an unnormalised encoder (otherwise the head learns ~sqrt(E) times slower).
   */
  static forEncoder(encoder: Encoder, numClasses: number, seed = 0): ClassificationHead {
    const inputScale = encoder.normalizedEmbedding ? Math.sqrt(encoder.embeddingSize) : 1;
    return new ClassificationHead(encoder.embeddingSize, numClasses, { seed, inputScale });
  }

  /** Logits [batch, numClasses] for embeddings [batch, embeddingSize]. */
  apply(embedding: tf.Tensor2D): tf.Tensor2D {
    this.assertAlive();
    if (embedding.shape[1] !== this.embeddingSize) {
      throw new Error(`head expects embeddings of size ${this.embeddingSize}, got ${embedding.shape[1]}`);
    }
    return tf.tidy(() => {
      const input = this.inputScale === 1 ? embedding : tf.mul(embedding, this.inputScale);
      return tf.add(tf.matMul(input, this.kernel), this.bias);
    });
  }

  variables(): tf.Variable[] {
    this.assertAlive();
    return [this.kernel, this.bias];
  }

  exportParams(): HeadParams {
    this.assertAlive();
    return {
      embeddingSize: this.embeddingSize,
      numClasses: this.numClasses,
      kernel: new Float32Array(this.kernel.dataSync()),
      bias: new Float32Array(this.bias.dataSync()),
    };
  }

  importParams(params: HeadParams): void {
    this.assertAlive();
    if (typeof params !== 'object' || params === null) throw new Error('head params must be an object');
    if (params.embeddingSize !== this.embeddingSize || params.numClasses !== this.numClasses) {
      throw new Error(
        `head params are [${params.embeddingSize} x ${params.numClasses}], expected [${this.embeddingSize} x ${this.numClasses}]`,
      );
    }
    assertFloatArray(params.kernel, this.embeddingSize * this.numClasses, 'head kernel');
    assertFloatArray(params.bias, this.numClasses, 'head bias');
    tf.tidy(() => {
      this.kernel.assign(tf.tensor2d(params.kernel, this.kernel.shape));
      this.bias.assign(tf.tensor1d(params.bias));
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernel.dispose();
    this.bias.dispose();
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('classification head was disposed');
  }
}
