import * as tf from '@tensorflow/tfjs';
import type { Encoder } from '../encoders/encoder';
import type { LoraAdapters } from '../lora/lora';
import { AdamW } from './adamw';
import { validateLabelledTexts } from './data';
import type { ClassificationHead } from './head';
import { crossEntropy } from './loss';
import type { TrainMode } from './train-config';

export interface SessionOptions {
  readonly mode: TrainMode;
  readonly weightDecay?: number;
  readonly clipNorm?: number | null;
  readonly maxSeqLen?: number;
}

/**
 * Optimisation state of one local training run: the trainable variables of `mode` and their AdamW moments.
 * `step` runs exactly one batch, so benchmarks and browser tests can drive training step by step.
 * Always `dispose()` it: in 'full' mode that turns the encoder's weights back into frozen tensors.
 */
export class TrainSession {
  readonly mode: TrainMode;
  readonly optimizer: AdamW;
  private readonly variables: tf.Variable[];
  private readonly maxSeqLen: number;
  /** 'full' only: each trainable encoder weight with its value before training (owned by the encoder). */
  private readonly fullWeights: Map<string, { variable: tf.Variable; start: tf.Tensor }> = new Map();
  private disposed = false;

  constructor(
    private readonly encoder: Encoder,
    private readonly head: ClassificationHead,
    options: SessionOptions,
    private readonly lora?: LoraAdapters,
  ) {
    this.mode = options.mode;
    if (options.mode === 'lora' && !lora) throw new Error("mode 'lora' needs LoRA adapters");
    if (options.mode !== 'lora' && lora)
      throw new Error(`LoRA adapters were given but mode is '${options.mode}'`);
    if (head.embeddingSize !== encoder.embeddingSize) {
      throw new Error(
        `head takes embeddings of size ${head.embeddingSize}, encoder gives ${encoder.embeddingSize}`,
      );
    }
    this.maxSeqLen = Math.min(options.maxSeqLen ?? 128, encoder.maxSeqLen);

    const encoderVariables: tf.Variable[] = [];
    if (options.mode === 'full') {
      const starts = new Map(encoder.weights.names().map((name) => [name, encoder.weights.get(name)]));
      encoder.weights.setTrainable(true);
      for (const [name, start] of starts) {
        const variable = encoder.weights.get(name);
        if (variable instanceof tf.Variable) {
          this.fullWeights.set(name, { variable, start });
          encoderVariables.push(variable);
        }
      }
    }
    this.variables = [...(lora?.trainableVariables() ?? []), ...encoderVariables, ...head.variables()];
    try {
      // Biases and normalisation parameters (rank < 2) are exempt from weight decay, as is common practice.
      this.optimizer = new AdamW(this.variables, {
        weightDecay: options.weightDecay ?? 0.01,
        clipNorm: options.clipNorm === undefined ? 1 : options.clipNorm,
        decay: this.variables.map((v) => v.rank >= 2),
      });
    } catch (error) {
      if (options.mode === 'full') encoder.weights.setTrainable(false);
      throw error;
    }
  }

  /** Number of scalars being trained. */
  trainableParameterCount(): number {
    return this.variables.reduce((sum, v) => sum + v.size, 0);
  }

  /** One optimisation step on a batch; returns the batch's mean loss before the update. */
  async step(texts: readonly string[], labels: readonly number[], learningRate: number): Promise<number> {
    if (this.disposed) throw new Error('train session was disposed');
    validateLabelledTexts({ texts, labels }, this.head.numClasses);
    const lossTensor = tf.tidy(() => {
      // Dynamic padding: each batch is padded to its own longest text.
      const batch = this.encoder.tokenize(texts, this.maxSeqLen);
      const labelTensor = tf.tensor1d(labels as number[], 'int32');
      // A probe never backpropagates into the encoder, so its embedding is computed outside the gradient tape.
      const frozen = this.mode === 'probe' ? this.encoder.embed(batch) : null;
      const { value, grads } = tf.variableGrads(() => {
        const embedding =
          frozen ?? this.encoder.embed(batch, { adapter: this.lora?.adapter, training: true });
        return crossEntropy(this.head.apply(embedding), labelTensor);
      }, this.variables);
      this.optimizer.step(grads, learningRate);
      return value;
    });
    const loss = (await lossTensor.data())[0]!;
    lossTensor.dispose();
    if (!Number.isFinite(loss))
      throw new Error(`training diverged: loss is ${loss} at step ${this.optimizer.iterations}`);
    return loss;
  }

  /**
   * 'full' only: trained minus starting value of every trained encoder weight, in the weight store's own layout
   * (the tensor's shape, row-major): what full-fine-tuning FedAvg uploads.
   */
  fullDeltas(): Map<string, Float32Array> {
    if (this.disposed) throw new Error('train session was disposed');
    if (this.mode !== 'full') throw new Error(`full deltas exist only in mode 'full', not '${this.mode}'`);
    const deltas = new Map<string, Float32Array>();
    for (const [name, { variable, start }] of this.fullWeights) {
      const delta = tf.sub(variable, start);
      deltas.set(name, new Float32Array(delta.dataSync()));
      delta.dispose();
    }
    return deltas;
  }

  /** Frees the optimizer state and, in 'full' mode, restores the encoder's frozen weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    if (this.mode === 'full') this.encoder.weights.setTrainable(false);
  }
}
