import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** Decoupled weight decay (Loshchilov & Hutter): p <- p - lr * weightDecay * p, outside the moments. */
  readonly weightDecay?: number;
  /** Rescale all gradients together when their global L2 norm exceeds this; null disables clipping. */
  readonly clipNorm?: number | null;
  /** Per variable (same order): false exempts it from weight decay (biases, normalisation parameters). */
  readonly decay?: readonly boolean[];
}

interface Moments {
  readonly variable: tf.Variable;
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  readonly decay: boolean;
}

/**
 * AdamW as in PyTorch's torch.optim.AdamW (tfjs has none). Moments exist only for the variables given, so a
 * pre-masked LoRA's optimizer state shrinks with its budget.
 */
export class AdamW {
  private readonly state: Moments[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly clipNorm: number | null;
  private stepCount = 0;
  private disposed = false;

  constructor(variables: readonly tf.Variable[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.clipNorm = options.clipNorm === undefined ? 1 : options.clipNorm;
    for (const [label, beta] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(beta >= 0 && beta < 1)) throw new Error(`AdamW ${label} must be in [0, 1), got ${beta}`);
    }
    if (!(this.epsilon > 0)) throw new Error(`AdamW epsilon must be positive, got ${this.epsilon}`);
    if (!(this.weightDecay >= 0) || !Number.isFinite(this.weightDecay)) {
      throw new Error(`AdamW weightDecay must be a non-negative number, got ${this.weightDecay}`);
    }
    if (this.clipNorm !== null && !(this.clipNorm > 0 && Number.isFinite(this.clipNorm))) {
      throw new Error(`AdamW clipNorm must be a positive number or null, got ${this.clipNorm}`);
    }
    if (variables.length === 0) throw new Error('AdamW needs at least one variable');
    if (new Set(variables.map((v) => v.name)).size !== variables.length) {
      throw new Error('AdamW variables must be distinct (gradients are matched by variable name)');
    }
    if (options.decay && options.decay.length !== variables.length) {
      throw new Error(`AdamW decay flags: got ${options.decay.length} for ${variables.length} variables`);
    }
    this.state = variables.map((variable, i) => ({
      variable,
      m: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
      v: tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
      decay: options.decay?.[i] ?? true,
    }));
  }

  /** Number of updates applied so far. */
  get iterations(): number {
    return this.stepCount;
  }

  /**
   * One update. `grads` maps variable names (as tf.variableGrads returns them) to gradients; every variable
   * must have one. The caller keeps ownership of `grads`.
   */
  step(grads: tf.NamedTensorMap, learningRate: number): void {
    if (this.disposed) throw new Error('AdamW was disposed');
    if (!(learningRate >= 0) || !Number.isFinite(learningRate)) {
      throw new Error(`learning rate must be a non-negative number, got ${learningRate}`);
    }
    const gradients = this.state.map(({ variable }) => {
      const g = grads[variable.name];
      if (!g) throw new Error(`no gradient for variable ${variable.name}`);
      if (!tf.util.arraysEqual(g.shape, variable.shape)) {
        throw new Error(`gradient for ${variable.name} is [${g.shape}], the variable is [${variable.shape}]`);
      }
      return g;
    });
    this.stepCount++;
    const t = this.stepCount;
    // Bias corrections folded into the step size, as PyTorch does.
    const stepSize = learningRate / (1 - this.beta1 ** t);
    const secondCorrection = Math.sqrt(1 - this.beta2 ** t);
    // Clipping stays on the device (no sync): factor = min(1, clipNorm / norm).
    const factor =
      this.clipNorm === null
        ? null
        : tf.tidy(() => {
            const squares = gradients.map((g) => tf.tidy(() => tf.sum(tf.square(g))));
            // Pairwise adds, not tf.addN: WebGPU's AddN binds one buffer per input and fails silently past the
            // default limit of 8 storage buffers per shader stage.
            const norm = tf.sqrt(squares.reduce((a, b) => tf.add(a, b)));
            return tf.minimum(1, tf.div(this.clipNorm!, tf.maximum(norm, 1e-12)));
          });
    // One tidy per variable, so the update's temporaries never exist for all weights at once (full fine-tuning
    // would otherwise hold about ten weight-sized temporaries per parameter at the peak).
    this.state.forEach(({ variable, m, v, decay }, i) =>
      tf.tidy(() => {
        const g = factor ? tf.mul(gradients[i]!, factor) : gradients[i]!;
        const nextM = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const nextV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(nextM);
        v.assign(nextV);
        const decayed =
          decay && this.weightDecay > 0 ? tf.mul(variable, 1 - learningRate * this.weightDecay) : variable;
        const denominator = tf.add(tf.div(tf.sqrt(nextV), secondCorrection), this.epsilon);
        variable.assign(tf.sub(decayed, tf.mul(tf.div(nextM, denominator), stepSize)));
      }),
    );
    factor?.dispose();
  }

  /** Bytes held by the optimizer state (two float32 moments per parameter). */
  stateBytes(): number {
    return this.state.reduce((sum, { m, v }) => sum + 4 * (m.size + v.size), 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { m, v } of this.state) {
      m.dispose();
      v.dispose();
    }
  }
}
