import * as tf from '@tensorflow/tfjs';
import type { AdaptableWeight, WeightStoreView } from './encoder';

/**
 * Owns an encoder's named weights. Forward passes read `get(name)`, which returns the pretrained tensor, a
 * merged copy (pretrained + delta) or a trainable variable. The pretrained tensors are kept untouched, so
 * `unmergeAll` restores them bit-exactly instead of subtracting deltas back out.
 */
export class WeightStore implements WeightStoreView {
  private readonly pretrained = new Map<string, tf.Tensor>();
  private readonly merged = new Map<string, tf.Tensor>();
  private variables: Map<string, tf.Variable> | null = null;

  add(name: string, tensor: tf.Tensor): void {
    if (this.pretrained.has(name)) throw new Error(`weight ${name} is defined twice`);
    this.pretrained.set(name, tensor);
  }

  names(): readonly string[] {
    return [...this.pretrained.keys()];
  }

  has(name: string): boolean {
    return this.pretrained.has(name);
  }

  get(name: string): tf.Tensor {
    const current = this.variables?.get(name) ?? this.merged.get(name) ?? this.pretrained.get(name);
    if (!current) throw new Error(`unknown weight ${name}`);
    return current;
  }

  parameterCount(): number {
    let total = 0;
    for (const t of this.pretrained.values()) total += t.size;
    return total;
  }

  /** Adds `delta` (same shape as the stored tensor) to the current value of `name`. */
  addDelta(name: string, delta: tf.Tensor): void {
    if (this.variables) throw new Error('cannot merge a delta while the weights are trainable variables');
    const base = this.get(name);
    if (!tf.util.arraysEqual(base.shape, delta.shape)) {
      throw new Error(`delta for ${name} has shape [${delta.shape}] but the weight is [${base.shape}]`);
    }
    const next = tf.tidy(() => tf.add(base, delta));
    this.merged.get(name)?.dispose();
    this.merged.set(name, tf.keep(next));
  }

  unmergeAll(): void {
    for (const t of this.merged.values()) t.dispose();
    this.merged.clear();
  }

  setTrainable(trainable: boolean): tf.Variable[] {
    if (!trainable) {
      for (const v of this.variables?.values() ?? []) v.dispose();
      this.variables = null;
      return [];
    }
    if (!this.variables) {
      this.variables = new Map();
      for (const name of this.pretrained.keys()) {
        const value = this.get(name);
        // int tensors (if any) cannot be trained; only float weights become variables.
        if (value.dtype !== 'float32') continue;
        this.variables.set(name, tf.variable(value, true, `full/${name}`));
      }
    }
    return [...this.variables.values()];
  }

  dispose(): void {
    this.setTrainable(false);
    this.unmergeAll();
    for (const t of this.pretrained.values()) t.dispose();
    this.pretrained.clear();
  }
}

/**
 * Merges dW [dOut, dIn] (row-major, FedHFT's convention) into the kernel `${name}.kernel`, stored [dIn, dOut] as
 * tfjs expects. Shared by every encoder whose adaptable weights are kernels named that way.
 */
export function mergeKernelDelta(
  store: WeightStore,
  adaptable: readonly AdaptableWeight[],
  encoderId: string,
  name: string,
  delta: Float32Array,
): void {
  const weight = adaptable.find((w) => w.name === name);
  if (!weight) throw new Error(`${encoderId} has no adaptable weight ${name}`);
  if (delta.length !== weight.dOut * weight.dIn) {
    throw new Error(`delta for ${name} has ${delta.length} values, expected ${weight.dOut} x ${weight.dIn}`);
  }
  tf.tidy(() => store.addDelta(`${name}.kernel`, tf.tensor2d(delta, [weight.dOut, weight.dIn]).transpose()));
}
