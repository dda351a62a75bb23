import * as tf from '@tensorflow/tfjs';
import type { BlockRunner, Encoder } from '../encoders/encoder';
import type { LoraAdapters } from '../lora/lora';
import { AdamW } from './adamw';
import { checkpointRunner } from './checkpoint';
import { validateLabelledTexts } from './data';
import type { ClassificationHead } from './head';
import { crossEntropy } from './loss';
import type { TrainMode } from './train-config';

export interface SessionOptions {
  readonly mode: TrainMode;
  readonly weightDecay?: number;
  readonly clipNorm?: number | null;
  readonly maxSeqLen?: number;
  /**
   * Memory levers for small clients; neither changes the gradient (up to float rounding). `microBatchSize`
   * splits each batch into chunks whose gradients are accumulated, `checkpoint` recomputes each encoder block
   * in the backward pass instead of keeping its activations.
   */
  readonly microBatchSize?: number | null;
  readonly checkpoint?: boolean;
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
  private readonly microBatchSize: number | null;
  private readonly runBlock: BlockRunner | undefined;
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
    const micro = options.microBatchSize ?? null;
    if (micro !== null && (!Number.isSafeInteger(micro) || micro < 1)) {
      throw new Error(`microBatchSize must be a positive integer or null, got ${String(micro)}`);
    }
    this.microBatchSize = micro;
    this.runBlock =
      options.checkpoint && options.mode !== 'probe'
        ? checkpointRunner((prefixes) => this.blockVariables(prefixes), lora?.dropoutReplay)
        : undefined;
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

  /** The trainable variables read by an encoder block (for checkpointing): LoRA factors or full weights. */
  private blockVariables(prefixes: readonly string[]): tf.Variable[] {
    if (this.lora) return this.lora.variablesFor(prefixes);
    const found: tf.Variable[] = [];
    for (const [name, { variable }] of this.fullWeights) {
      if (prefixes.some((p) => name.startsWith(p))) found.push(variable);
    }
    return found;
  }

  /** Loss and gradients of one chunk of a batch, scaled by `weight` (its share of the batch). */
  private chunkGradients(texts: readonly string[], labels: readonly number[], weight: number) {
    // Dynamic padding: each chunk is padded to its own longest text.
    const batch = this.encoder.tokenize(texts, this.maxSeqLen);
    const labelTensor = tf.tensor1d(labels as number[], 'int32');
    // A probe never backpropagates into the encoder, so its embedding is computed outside the gradient tape.
    const frozen = this.mode === 'probe' ? this.encoder.embed(batch) : null;
    return tf.variableGrads(() => {
      const embedding =
        frozen ??
        this.encoder.embed(batch, { adapter: this.lora?.adapter, training: true, runBlock: this.runBlock });
      return tf.mul(crossEntropy(this.head.apply(embedding), labelTensor), weight) as tf.Scalar;
    }, this.variables);
  }

  /** One optimisation step on a batch; returns the batch's mean loss before the update. */
  async step(texts: readonly string[], labels: readonly number[], learningRate: number): Promise<number> {
    if (this.disposed) throw new Error('train session was disposed');
    validateLabelledTexts({ texts, labels }, this.head.numClasses);
    const chunk = this.microBatchSize ?? texts.length;
    let lossSum: tf.Scalar = tf.scalar(0);
    const grads: tf.NamedTensorMap = {};
    for (let start = 0; start < texts.length; start += chunk) {
      const end = Math.min(texts.length, start + chunk);
      const part = tf.tidy(() =>
        this.chunkGradients(texts.slice(start, end), labels.slice(start, end), (end - start) / texts.length),
      );
      // Accumulate outside tidy so only the running sums (one gradient-sized copy) stay alive between chunks.
      const nextLoss = tf.add(lossSum, part.value) as tf.Scalar;
      tf.dispose([lossSum, part.value]);
      lossSum = nextLoss;
      for (const [name, g] of Object.entries(part.grads)) {
        const previous = grads[name];
        if (previous) {
          grads[name] = tf.add(previous, g);
          tf.dispose([previous, g]);
        } else grads[name] = g;
      }
    }
    tf.tidy(() => this.optimizer.step(grads, learningRate));
    tf.dispose(Object.values(grads));
    const lossTensor = lossSum;
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
