import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { activateBackend } from '@fedhft/adapters';
import type { AdapterReport, BackendChoice, BackendEvent } from './messages';

/**
 * Picks the worker's tfjs backend. WebGPU is tried only when the browser gives an adapter, and tfjs'
 * setBackend('webgpu') may still resolve false (tf.getBackend() then names webgpu anyway and every op throws):
 * activateBackend trusts the boolean. Whatever stops WebGPU is reported, so the page can say why it runs on wasm.
 */

/** The slice of the WebGPU API used here (TypeScript's DOM lib has no WebGPU types). */
interface GpuAdapterLike {
  info?: Partial<Omit<AdapterReport, 'isFallbackAdapter'>> & { isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

/** Limits that bound what tfjs' kernels may bind and allocate. */
const REPORTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
] as const;

export type WebGpuProbe =
  | { readonly ok: true; readonly adapter: AdapterReport; readonly limits: Record<string, number> }
  | { readonly ok: false; readonly reason: string };

export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return { ok: false, reason: 'navigator.gpu is missing (no WebGPU in this browser or context)' };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (error) {
    return { ok: false, reason: `requestAdapter() failed: ${(error as Error).message}` };
  }
  if (!adapter)
    return { ok: false, reason: 'requestAdapter() returned no adapter (WebGPU disabled or blocked)' };
  const info = adapter.info ?? {};
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') limits[name] = value;
  }
  return {
    ok: true,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      // isFallbackAdapter moved from GPUAdapter to GPUAdapterInfo; read whichever this browser has.
      isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
    },
    limits,
  };
}

let wasmPathsSet = false;

/** Vite serves the wasm binaries as assets; tfjs must be told where (it cannot find them in a bundle). */
function setWasmAssetPaths(): void {
  if (wasmPathsSet) return;
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlainUrl,
    'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
  });
  wasmPathsSet = true;
}

/** Starts tfjs on WebGPU or wasm as `choice` says; 'webgpu' fails rather than fall back. */
export async function startBackend(choice: BackendChoice): Promise<Omit<BackendEvent, 'type'>> {
  setWasmAssetPaths();
  const probe = choice === 'wasm' ? null : await probeWebGpu();
  const adapter = probe?.ok ? probe.adapter : null;
  const limits = probe?.ok ? probe.limits : null;
  let fallback: string;
  if (probe === null) {
    fallback = 'wasm requested (backend=wasm)';
  } else if (!probe.ok) {
    fallback = probe.reason;
  } else {
    let reason = '';
    try {
      const name = await activateBackend(['webgpu'], (_failed, why) => (reason = why));
      if (name === 'webgpu' && tf.getBackend() === 'webgpu')
        return { backend: 'webgpu', adapter, limits, fallback: null };
      reason = `tfjs runs on ${tf.getBackend()}`;
    } catch {
      // activateBackend throws after reporting the reason through the callback.
    }
    fallback = `tfjs could not start WebGPU: ${reason || 'unknown reason'}`;
  }
  if (choice === 'webgpu') throw new Error(`WebGPU was required (backend=webgpu): ${fallback}`);
  await activateBackend(['wasm']);
  return { backend: 'wasm', adapter, limits, fallback };
}

/**
 * WebGPU device errors (a kernel whose pipeline is invalid leaves its output unwritten; tfjs does not check)
 * and the loss of the device (then every later op fails).
 */
export function watchGpuErrors(onError: (message: string) => void): void {
  const device = (
    tf.backend() as unknown as {
      device?: {
        addEventListener(type: string, listener: (event: { error: { message: string } }) => void): void;
        lost?: Promise<{ reason: string; message: string }>;
      };
    }
  ).device;
  device?.addEventListener('uncapturederror', (event) => onError(event.error.message.split('\n')[0] ?? ''));
  void device?.lost?.then((info) => onError(`device lost (${info.reason}): ${info.message}`));
}
