import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'webgpu' | 'wasm' | 'cpu' | 'webgl';

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
