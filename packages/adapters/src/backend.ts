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
