import * as tf from '@tensorflow/tfjs';

/**
 * The LoRA term of one adapted weight, out = (dropout(x) A^T * scale) B^T, as one differentiable op that keeps
 * almost nothing for the backward pass: only the rank-r projection P = dropout(x) A^T ([n, r]). The dropped
 * input ([n, dIn]) and the dropout mask are recomputed from x and the seed when gradients are needed, instead
 * of being held by the tape for every adapted weight (tfjs would keep the mask, the dropped input and the
 * output alive: about three activation-sized tensors per weight, more than full fine-tuning keeps).
 *
 *   dB = scale G^T P,  dP = scale G B,  dA = dP^T dropout(x),  dx = (dP A) * mask / keep
 */
export function loraTerm(
  x: tf.Tensor2D,
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  scale: number,
  dropout: number,
  seed: number,
): tf.Tensor2D {
  // Inverted dropout's multiplier (0 or 1/keep), regenerated identically from the seed when needed.
  const multiplier = (shape: [number, number]) =>
    tf.div(tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', seed), 1 - dropout)), 1 - dropout);
  const drop = (input: tf.Tensor2D) =>
    dropout > 0 ? (tf.mul(input, multiplier(input.shape)) as tf.Tensor2D) : input;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const projected = tf.matMul(drop(input), a, false, true); // P, [n, r]
    save([input, a, b, projected]);
    return {
      value: tf.matMul(tf.mul(projected, scale), b, false, true),
      // tfjs calls gradFunc outside any tidy of its own, so without this every temporary here would live until
      // the whole backward pass ends.
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const g = (Array.isArray(dy) ? dy[0]! : dy) as tf.Tensor2D;
          const [savedInput, savedA, savedB, savedP] = saved as [
            tf.Tensor2D,
            tf.Tensor2D,
            tf.Tensor2D,
            tf.Tensor2D,
          ];
          const dB = tf.mul(tf.matMul(g, savedP, true, false), scale);
          const dP = tf.mul(tf.matMul(g, savedB), scale); // [n, r]
          const dA = tf.matMul(dP, drop(savedInput), true, false);
          const dDropped = tf.matMul(dP, savedA); // [n, dIn]
          // Given its mask, dropout is a fixed scaling of its input: the gradient gets the same scaling.
          const dx = dropout > 0 ? tf.mul(dDropped, multiplier(savedInput.shape)) : dDropped;
          return [dx, dA, dB];
        }),
    };
  });
  return op(x, A, B) as tf.Tensor2D;
}
