/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendName, ModelFiles } from '@fedhft/adapters';
import {
  activateBackend,
  ClassificationHead,
  loadUseLite,
  LoraAdapters,
  trainLocal,
  urlModelFiles,
} from '@fedhft/adapters';

/** What the page exposes on `window.__result` for the Playwright test. */
export interface BackendRun {
  /** Mean batch loss of each training step (the steps that ran, if the run failed). */
  losses: number[];
  /** True when every step ran. */
  completed: boolean;
  /** Backend tfjs actually ran on (activateBackend's answer, confirmed by tf.getBackend()). */
  backend: string;
  ms: number;
  /** LoRA factors + head parameters being trained. */
  trainableParameters: number;
  /** tf.memory().numTensors after disposing encoder, LoRA and head, minus before loading them. */
  tensorsLeft?: number;
  adapter?: AdapterReport;
  /** webgpu only: the limit that bounds how many tensors one tfjs kernel may read (tfjs keeps the default, 8). */
  maxStorageBuffersPerShaderStage?: number;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean | null;
}

export interface ParityResult {
  backends: Partial<Record<'webgpu' | 'wasm', BackendRun>>;
  maxAbsDiff: number | null;
  config: Record<string, unknown>;
  totalMs: number;
  /**
   * WebGPU validation/out-of-memory errors the device raised. tfjs does not watch for them: a kernel whose
   * pipeline is invalid silently leaves its output buffer unwritten, so any entry here means wrong numbers.
   */
  gpuErrors: string[];
  error?: string;
}

declare global {
  interface Window {
    __result?: ParityResult;
  }
}

const BACKENDS = ['webgpu', 'wasm'] as const;

const logElement = document.getElementById('log');
function log(message: string): void {
  console.log(`[parity] ${message}`);
  if (logElement) logElement.textContent += `${message}\n`;
}

/** Fetches each model file once and serves it from memory afterwards (the encoder is rebuilt per backend). */
function cachedFiles(files: ModelFiles): ModelFiles {
  const cache = new Map<string, Promise<ArrayBuffer>>();
  return {
    origin: files.origin,
    read(path: string) {
      let bytes = cache.get(path);
      if (!bytes) {
        bytes = files.read(path);
        cache.set(path, bytes);
      }
      // Callers may transfer or view the buffer: hand each one its own copy.
      return bytes.then((b) => b.slice(0));
    },
  };
}

/** The slice of the WebGPU API the report needs (the DOM lib of TypeScript 5.9 has no WebGPU types). */
interface GpuAdapterInfoLike {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<{ info: GpuAdapterInfoLike; isFallbackAdapter?: boolean } | null>;
}

async function describeAdapter(): Promise<AdapterReport | undefined> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return undefined;
  const { info } = adapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    // isFallbackAdapter moved from GPUAdapter to GPUAdapterInfo; read whichever this browser has.
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
  };
}

const MAX_GPU_ERRORS = 20;
const gpuErrors: string[] = [];

/** The slice of tfjs' GPUDevice used here. */
interface DeviceLike {
  limits: { maxStorageBuffersPerShaderStage: number };
  addEventListener(
    type: 'uncapturederror',
    listener: (event: Event & { error: { message: string } }) => void,
  ): void;
}

/** Records the uncaptured errors of the device tfjs' webgpu backend runs on (the browser also logs them). */
function watchDevice(): DeviceLike {
  const device = (tf.backend() as unknown as { device?: DeviceLike }).device;
  if (!device) throw new Error('the webgpu backend exposes no GPU device');
  device.addEventListener('uncapturederror', (event) => {
    const message = event.error.message.split('\n')[0] ?? '';
    if (gpuErrors.length < MAX_GPU_ERRORS && !gpuErrors.includes(message)) {
      gpuErrors.push(message);
      log(`webgpu error: ${message}`);
    }
  });
  return device;
}

/** Trains on backend `name`, filling `run` as it goes (so a failure still reports the steps that ran). */
async function runOn(name: BackendName, files: ModelFiles, run: BackendRun): Promise<void> {
  const started = performance.now();
  const active = await activateBackend([name], (failed, reason) =>
    log(`backend ${failed} failed: ${reason}`),
  );
  run.backend = tf.getBackend();
  if (active !== name || run.backend !== name) {
    throw new Error(`asked for backend ${name}, tfjs runs on ${run.backend}`);
  }
  if (name === 'webgpu') {
    run.adapter = await describeAdapter();
    log(`webgpu adapter: ${JSON.stringify(run.adapter ?? null)}`);
    run.maxStorageBuffersPerShaderStage = watchDevice().limits.maxStorageBuffersPerShaderStage;
  }
  const tensorsBefore = tf.memory().numTensors;
  const encoder = await loadUseLite(files);
  let lora: LoraAdapters | undefined;
  let head: ClassificationHead | undefined;
  try {
    lora = new LoraAdapters(encoder.adaptableWeights(), { seed: SEED });
    head = ClassificationHead.forEncoder(encoder, 2, SEED);
    run.trainableParameters = lora.parameterCount() + head.variables().reduce((sum, v) => sum + v.size, 0);
    // The project's own training loop (AdamW, clipping, LoRA dropout, seeded shuffling), K steps.
    const trained = await trainLocal(
      encoder,
      head,
      DATA,
      {
        mode: 'lora',
        maxSteps: STEPS,
        batchSize: BATCH_SIZE,
        learningRate: LEARNING_RATE,
        maxSeqLen: MAX_SEQ_LEN,
        seed: SEED,
        onStep: ({ step, loss }) => {
          run.losses.push(loss);
          log(`${name} step ${step}: loss ${loss}`);
        },
      },
      lora,
    );
    run.losses = trained.losses;
    run.completed = true;
  } finally {
    lora?.dispose();
    head?.dispose();
    encoder.dispose();
    run.tensorsLeft = tf.memory().numTensors - tensorsBefore;
    run.ms = Math.round(performance.now() - started);
  }
}

/** A tiny, fixed sentiment set: short sentences keep SwiftShader's shader compiles and matmuls cheap. */
const DATA = {
  texts: [
    'the movie was wonderful',
    'a dull and boring film',
    'I loved every minute of it',
    'terrible acting and a weak plot',
    'a joyful, moving story',
    'I want my two hours back',
    'brilliant and funny',
    'the worst film this year',
  ],
  labels: [1, 0, 1, 0, 1, 0, 1, 0],
};
// One batch = the whole set, so every step sees the same examples and the loss moves only by training.
const BATCH_SIZE = 8;
const MAX_SEQ_LEN = 16;
const STEPS = 4;
const LEARNING_RATE = 1e-3;
const SEED = 7;

async function main(): Promise<void> {
  const started = performance.now();
  const result: ParityResult = {
    backends: {},
    maxAbsDiff: null,
    config: {
      data: DATA,
      batchSize: BATCH_SIZE,
      maxSeqLen: MAX_SEQ_LEN,
      steps: STEPS,
      learningRate: LEARNING_RATE,
      seed: SEED,
    },
    totalMs: 0,
    gpuErrors,
  };
  try {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlainUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    });
    const files = cachedFiles(urlModelFiles(new URL('/models/use-lite/', location.href).href));
    for (const name of BACKENDS) {
      const run: BackendRun = { losses: [], completed: false, backend: '', ms: 0, trainableParameters: 0 };
      result.backends[name] = run;
      await runOn(name, files, run);
      log(`${name}: ${run.ms} ms, ${run.tensorsLeft} tensors left after dispose`);
    }
    // Both runs completed (runOn throws otherwise).
    const a = result.backends.webgpu!.losses;
    const b = result.backends.wasm!.losses;
    result.maxAbsDiff = Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
    log(`max |webgpu - wasm| = ${result.maxAbsDiff}`);
  } catch (error) {
    result.error = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
    log(`error: ${result.error}`);
  }
  result.totalMs = Math.round(performance.now() - started);
  window.__result = result;
}

void main();
