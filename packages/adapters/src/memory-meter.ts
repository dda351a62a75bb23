import * as tf from '@tensorflow/tfjs';

interface BufferInfo {
  bytes: number;
}
interface EngineBuffers {
  state: { tensorInfo: WeakMap<object, BufferInfo> };
}

/** Live and peak bytes of tensor data buffers. */
export interface MemoryMeter {
  /** Bytes of all data buffers alive now (created since the meter was installed). */
  liveBytes(): number;
  /** Highest `liveBytes()` since install or the last `resetPeak()`. */
  peakBytes(): number;
  resetPeak(): void;
}

let installed: MemoryMeter | null = null;

/**
 * Counts real tensor memory: each data buffer once. `tf.memory().numBytes` (and `tf.profile().peakBytes`) add
 * up tensor sizes, so a buffer shared by several tensors (reshapes, clones the gradient tape saves, a variable
 * made from a tensor) is counted several times and the figure overstates memory. We follow the engine's
 * buffer registry instead: tfjs records a buffer when its first tensor appears and forgets it when the
 * backend frees it. Install before creating the tensors you want counted; one meter per engine.
 */
export function installMemoryMeter(): MemoryMeter {
  if (installed) return installed;
  const registry = (tf.engine() as unknown as EngineBuffers).state?.tensorInfo;
  if (!registry || typeof registry.set !== 'function') {
    throw new Error('memory meter needs tfjs engine.state.tensorInfo (tfjs 4.x)');
  }
  let live = 0;
  let peak = 0;
  const set = registry.set.bind(registry);
  const remove = registry.delete.bind(registry);
  registry.set = (key, value) => {
    if (!registry.has(key)) {
      live += value.bytes;
      peak = Math.max(peak, live);
    }
    return set(key, value);
  };
  registry.delete = (key) => {
    const info = registry.get(key);
    if (info) live -= info.bytes;
    return remove(key);
  };
  installed = {
    liveBytes: () => live,
    peakBytes: () => peak,
    resetPeak: () => {
      peak = live;
    },
  };
  return installed;
}
