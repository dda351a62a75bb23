import * as tf from '@tensorflow/tfjs';
import type { LinearAdapter } from './encoder';

/**
 * y = x W + b (+ adapter term). x is [..., dIn], the kernel W is stored [dIn, dOut] as tfjs expects; the
 * adapter (LoRA) sees x flattened to 2-D and returns the extra [n, dOut] output for this weight.
 */
export function linear(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | null,
  name: string,
  adapter: LinearAdapter | undefined,
  training: boolean,
): tf.Tensor {
  const dIn = kernel.shape[0] as number;
  const dOut = kernel.shape[1] as number;
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, dIn]) as tf.Tensor2D;
  let y: tf.Tensor = tf.matMul(x2, kernel as tf.Tensor2D);
  if (bias) y = tf.add(y, bias);
  const extra = adapter?.(name, x2, training);
  if (extra) y = tf.add(y, extra);
  return y.reshape([...lead, dOut]);
}

/** Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) * scale + bias. */
export function layerNorm(x: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor, epsilon: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, epsilon))), scale), bias);
}

/**
 * Multi-head scaled dot-product attention. q, k, v: [batch, seq, heads * headDim]; keyBias: [batch, seq]
 * additive bias on the keys (0 for tokens, a large negative number for padding).
 */
export function multiHeadAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  keyBias: tf.Tensor,
  heads: number,
): tf.Tensor3D {
  const [batch, seq, width] = q.shape as [number, number, number];
  const headDim = width / heads;
  const split = (t: tf.Tensor) =>
    t.reshape([batch, seq, heads, headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  const qh = tf.mul(split(q), 1 / Math.sqrt(headDim));
  const scores = tf.add(tf.matMul(qh, split(k), false, true), keyBias.reshape([batch, 1, 1, seq]));
  const context = tf.matMul(tf.softmax(scores), split(v));
  return context.transpose([0, 2, 1, 3]).reshape([batch, seq, width]) as tf.Tensor3D;
}

/**
 * GELU with the exact normal CDF, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as BERT computes it. One custom op
 * that keeps only its input for the backward pass (the composite would keep four activation-sized
 * intermediates): d/dx = Phi(x) + x phi(x).
 */
export function geluErf(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([input]);
    return {
      value: tf.mul(tf.mul(input, 0.5), tf.add(1, tf.erf(tf.mul(input, Math.SQRT1_2)))),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const g = Array.isArray(dy) ? dy[0]! : dy;
          const v = saved[0]!;
          const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, Math.SQRT1_2))));
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(v), -0.5)), 1 / Math.sqrt(2 * Math.PI));
          return [tf.mul(g, tf.add(cdf, tf.mul(v, pdf)))];
        }),
    };
  });
  return op(x);
}

/** GELU's tanh approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (`gelu_new` in Hugging Face). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}
