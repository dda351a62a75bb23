import {
  BACKEND_CHOICES,
  type BackendChoice,
  type ProbeShape,
  type TrainHyperParameters,
} from './worker/messages';

/**
 * What the page reads from its link's query string: the coordinator and token to join with (prefilled in the
 * form), the backend (`backend=wasm` forces the fallback), where the model files are, and the local round's
 * training settings (small by default; tests make them tiny).
 */
export interface PageConfig {
  readonly coordinator: string;
  readonly token: string;
  /** Federation id to join ('demo' when the link names none, as `npm start`'s). */
  readonly federation: string;
  /** Train on a demo shard from the coordinator instead of a file (`demo=1`); with a coordinator and token
   * in the link the page then joins by itself once the worker is ready. */
  readonly demo: boolean;
  /** The most memory training may use, bytes (`maxMemory` in MiB); the coordinator's budget follows it. */
  readonly maxMemoryBytes?: number;
  readonly backend: BackendChoice;
  /** Base URL of the USE Lite files (model.json, shards, vocab.json). */
  readonly modelUrl: string;
  readonly probe: ProbeShape;
  readonly train: TrainHyperParameters;
  readonly rank: number;
  readonly alpha: number;
  readonly clusters: number;
  readonly seed: number;
}

function positiveInt(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`?${name}= must be a positive integer, got '${raw}'`);
  return value;
}

function positiveNumber(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`?${name}= must be a positive number, got '${raw}'`);
  return value;
}

export function readPageConfig(location: { href: string; search: string; origin: string }): PageConfig {
  const params = new URLSearchParams(location.search);
  const backend = params.get('backend') ?? 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) {
    throw new Error(`?backend= must be one of ${BACKEND_CHOICES.join(', ')}, got '${backend}'`);
  }
  const coordinator = params.get('coordinator') ?? '';
  // The coordinator serves the model files; without one, the server that served this page does.
  const modelBase = coordinator === '' ? location.href : coordinator;
  const modelUrl = new URL(params.get('model') ?? '/models/use-lite/', modelBase).href;
  const seqLen = positiveInt(params, 'seqLen', 32);
  const batch = positiveInt(params, 'batch', 8);
  const maxSteps = params.get('maxSteps');
  const demo = params.get('demo') ?? '0';
  if (!['0', '1', 'true', 'false'].includes(demo)) throw new Error(`?demo= must be 1 or 0, got '${demo}'`);
  const maxMemory = params.get('maxMemory');
  return {
    coordinator,
    token: params.get('token') ?? '',
    federation: params.get('federation') ?? 'demo',
    demo: demo === '1' || demo === 'true',
    ...(maxMemory === null ? {} : { maxMemoryBytes: positiveInt(params, 'maxMemory', 1) * 2 ** 20 }),
    backend: backend as BackendChoice,
    modelUrl,
    probe: {
      batch: positiveInt(params, 'probeBatch', batch),
      seqLen: positiveInt(params, 'probeSeqLen', seqLen),
      steps: positiveInt(params, 'probeSteps', 2),
      rank: positiveInt(params, 'rank', 8),
    },
    train: {
      epochs: positiveInt(params, 'epochs', 1),
      batchSize: batch,
      learningRate: positiveNumber(params, 'lr', 3e-3),
      roundDecay: 0.9,
      maxSeqLen: seqLen,
      loraDropout: 0.1,
      ...(maxSteps === null ? {} : { maxSteps: positiveInt(params, 'maxSteps', 1) }),
    },
    rank: positiveInt(params, 'rank', 8),
    alpha: positiveNumber(params, 'alpha', 16),
    clusters: positiveInt(params, 'clusters', 2),
    seed: positiveInt(params, 'seed', 1),
  };
}
