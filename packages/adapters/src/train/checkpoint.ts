import * as tf from '@tensorflow/tfjs';
import type { BlockRunner } from '../encoders/encoder';

/** Lets a checkpointed block replay the random draws (dropout seeds) of its forward pass when recomputed. */
export interface RandomReplay {
  snapshot(): unknown;
  restore(state: unknown): void;
}

interface EngineTapeState {
  state: { activeTape: unknown[] | null; gradientDepth: number };
}

/**
 * Runs a gradient computation nested inside an outer backward pass. tfjs (4.22) resets and finally nulls
 * `engine.state.activeTape` at gradient depth 0, which would drop the outer pass's tape (its saved tensors leak
 * and its final clean-up crashes). We keep the outer tape aside and put it back afterwards.
 */
function withOuterTapePreserved<T>(compute: () => T): T {
  const engine = tf.engine() as unknown as EngineTapeState;
  if (!engine.state || !('activeTape' in engine.state)) {
    throw new Error(
      'activation checkpointing needs tfjs engine.state.activeTape (tfjs 4.x); disable checkpointing',
    );
  }
  const outer = engine.state.activeTape;
  try {
    return compute();
  } finally {
    engine.state.activeTape = outer;
  }
}

/**
 * Activation checkpointing: a block's forward runs without keeping its intermediates (tfjs keeps every tensor a
 * taped scope creates until the scope ends, so a step otherwise holds all activations of all layers); only its
 * input is saved. The backward pass recomputes the block under a fresh tape to get the input gradient and the
 * gradients of the block's trainable variables. Costs one extra forward per block, saves most activation memory.
 *
 * `variablesFor(weightPrefixes)` returns the trainable variables the block reads (LoRA factors of its adapted
 * weights, or its own weights in full fine-tuning): they must be inputs of the custom-gradient op so the outer
 * tape routes their gradients.
 */
export function checkpointRunner(
  variablesFor: (weightPrefixes: readonly string[]) => tf.Variable[],
  random?: RandomReplay,
): BlockRunner {
  return (weightPrefixes, block, input, constants) => {
    const variables = variablesFor(weightPrefixes);
    const before = random?.snapshot();
    const op = tf.customGrad((...args: unknown[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const x = args[0] as tf.Tensor;
      // Saved tensors are kept by the engine until backprop; closures over scope tensors would be disposed.
      save([x, ...constants]);
      return {
        value: block(x, constants),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const upstream = Array.isArray(dy) ? dy[0]! : dy;
          const after = random?.snapshot();
          if (random) random.restore(before);
          const [savedInput, ...savedConstants] = saved;
          const xVar = tf.variable(savedInput!, true);
          try {
            const { grads } = withOuterTapePreserved(() =>
              tf.variableGrads(
                () => tf.sum(tf.mul(block(xVar, savedConstants), upstream)) as tf.Scalar,
                [xVar, ...variables],
              ),
            );
            // A variable the block did not reach has no gradient; the op still needs one per input.
            return [xVar, ...variables].map((v) => grads[v.name] ?? tf.zerosLike(v));
          } finally {
            xVar.dispose();
            if (random) random.restore(after);
          }
        },
      };
    });
    return op(input, ...variables);
  };
}
