import * as tf from '@tensorflow/tfjs';

/**
 * Rows of `table` [rows, width] at integer `indices` (any shape) -> [...indices.shape, width], differentiable
 * with respect to `table` on every backend. tf.gather's gradient needs the UnsortedSegmentSum kernel, which the
 * wasm backend lacks; scatterND (which sums duplicate indices) exists on cpu, wasm and webgpu.
 */
export function gatherRows(table: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  const [rows, width] = table.shape as [number, number];
  const indexShape = indices.shape;
  const flat = indices.reshape([-1]);
  const gathered = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, idx, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const saveIdx = saved[0]!;
        const dTable = tf.scatterND(saveIdx.reshape([-1, 1]), dy.reshape([-1, width]), [rows, width]);
        // Indices get no gradient; customGrad still wants a tensor for each input.
        return [dTable, tf.zerosLike(saveIdx)];
      },
    };
  });
  return gathered(table, flat).reshape([...indexShape, width]);
}
