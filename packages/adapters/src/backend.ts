import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'webgpu' | 'wasm' | 'cpu' | 'webgl';

interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

/**
 * tfjs-backend-wasm's Identity kernel copies its input, and the gradient tape clones (Identity) every tensor
 * it saves for the backward pass, so on wasm each saved activation existed twice. Tensors are immutable in
 * tfjs, so Identity may share the data like Reshape does (and like the cpu and webgpu backends' Identity):
 * this halves the activation memory of training on wasm.
 */
function shareIdentityOnWasm(): void {
  const kernelName = 'Identity';
  if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as RefCountingBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}
shareIdentityOnWasm();

interface DisposingBackend {
  disposeData(dataId: tf.DataId): boolean;
}

/**
 * tfjs-backend-wasm's BatchMatMul is 11-25x slower when asked to transpose an operand than when given the
 * transposed operand (measured on [576 x 1536] x [512 x 1536]^T: 562 ms against 50 ms), and backward passes
 * ask for transposes all the time. We transpose explicitly, then multiply without flags.
 */
function explicitTransposesOnWasm(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    // The wasm kernel binds its C function when the backend starts: keep that step.
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return original.kernelFunc(args);
      const swapLastTwo = (x: tf.TensorInfo): tf.TensorInfo => {
        const perm = x.shape.map((_, i) => i);
        const rank = perm.length;
        [perm[rank - 1], perm[rank - 2]] = [perm[rank - 2]!, perm[rank - 1]!];
        return transpose.kernelFunc({
          inputs: { x },
          attrs: { perm },
          backend: args.backend,
        }) as tf.TensorInfo;
      };
      const a = transposeA ? swapLastTwo(args.inputs.a as tf.TensorInfo) : (args.inputs.a as tf.TensorInfo);
      const b = transposeB ? swapLastTwo(args.inputs.b as tf.TensorInfo) : (args.inputs.b as tf.TensorInfo);
      const out = original.kernelFunc({
        ...args,
        inputs: { a, b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
      const backend = args.backend as unknown as DisposingBackend;
      if (transposeA) backend.disposeData(a.dataId);
      if (transposeB) backend.disposeData(b.dataId);
      return out;
    },
  });
}
explicitTransposesOnWasm();

/**
 * Activates the first backend of `preferred` that initialises. `tf.setBackend` resolves false when a backend
 * fails to start while tf.getBackend() may still report it, so the boolean is what we trust. The webgpu backend
 * must be imported by the caller (browser code) before asking for it.
 */
export async function activateBackend(
  preferred: readonly BackendName[],
  onFallback?: (failed: BackendName, reason: string) => void,
): Promise<BackendName> {
  for (const name of preferred) {
    let ok = false;
    let reason = 'setBackend returned false';
    try {
      ok = await tf.setBackend(name);
    } catch (error) {
      reason = (error as Error).message;
    }
    if (ok) {
      await tf.ready();
      return name;
    }
    onFallback?.(name, reason);
  }
  throw new Error(`none of the tfjs backends ${preferred.join(', ')} could be started`);
}
