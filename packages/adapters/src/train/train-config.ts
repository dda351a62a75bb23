/** What a local training run updates: LoRA adapters + head, every encoder weight + head, or the head alone. */
export type TrainMode = 'lora' | 'full' | 'probe';

export interface StepInfo {
  /** 0-based step within this run. */
  readonly step: number;
  readonly totalSteps: number;
  /** 0-based epoch the step belongs to. */
  readonly epoch: number;
  readonly loss: number;
  readonly learningRate: number;
}

export interface TrainConfig {
  readonly mode: TrainMode;
  /** Passes over the data (default 2, FedHFT's reference, unless only maxSteps is given). */
  readonly epochs?: number;
  /** Stops after this many steps (alone: exactly this many, reshuffling at each epoch boundary). */
  readonly maxSteps?: number;
  readonly batchSize?: number;
  /** Peak learning rate of round 0. */
  readonly learningRate: number;
  /** 0-based federated round: the peak learning rate is learningRate * roundDecay^round. */
  readonly round?: number;
  readonly roundDecay?: number;
  readonly weightDecay?: number;
  /** Global gradient-norm clip; null disables it. */
  readonly clipNorm?: number | null;
  readonly maxSeqLen?: number;
  /** Gradient accumulation over chunks of this many examples (memory lever; null = whole batch at once). */
  readonly microBatchSize?: number | null;
  /** Recompute encoder blocks in the backward pass instead of keeping activations (memory lever). */
  readonly checkpoint?: boolean;
  /** Seeds the shuffling (together with the round). */
  readonly seed?: number;
  readonly onStep?: (info: StepInfo) => void;
}

export interface ResolvedTrainConfig {
  readonly mode: TrainMode;
  readonly epochs: number | null;
  readonly maxSteps: number | null;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly round: number;
  readonly roundDecay: number;
  readonly weightDecay: number;
  readonly clipNorm: number | null;
  readonly maxSeqLen: number;
  readonly microBatchSize: number | null;
  readonly checkpoint: boolean;
  readonly seed: number;
  readonly onStep: ((info: StepInfo) => void) | null;
}

const KEYS = new Set([
  'mode',
  'epochs',
  'maxSteps',
  'batchSize',
  'learningRate',
  'round',
  'roundDecay',
  'weightDecay',
  'clipNorm',
  'maxSeqLen',
  'microBatchSize',
  'checkpoint',
  'seed',
  'onStep',
]);
const MODES: readonly TrainMode[] = ['lora', 'full', 'probe'];

function positiveInt(value: unknown, label: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new Error(`${label} must be a positive integer, got ${String(value)}`);
  }
  return value as number;
}

function booleanFlag(value: unknown, label: string): boolean {
  if (typeof value !== 'boolean') throw new Error(`${label} must be true or false, got ${String(value)}`);
  return value;
}

function finiteNumber(value: unknown, label: string, ok: (v: number) => boolean, range: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new Error(`${label} must be ${range}, got ${String(value)}`);
  }
  return value;
}

/** Fills defaults (FedHFT's reference values) and validates; unknown keys are rejected to catch typos. */
export function resolveTrainConfig(config: TrainConfig): ResolvedTrainConfig {
  if (typeof config !== 'object' || config === null) throw new Error('train config must be an object');
  for (const key of Object.keys(config))
    if (!KEYS.has(key)) throw new Error(`unknown train config option "${key}"`);
  if (!MODES.includes(config.mode)) {
    throw new Error(`train mode must be one of ${MODES.join(', ')}, got ${String(config.mode)}`);
  }
  const maxSteps = config.maxSteps === undefined ? null : positiveInt(config.maxSteps, 'maxSteps');
  const epochs =
    config.epochs === undefined ? (maxSteps === null ? 2 : null) : positiveInt(config.epochs, 'epochs');
  if (config.onStep !== undefined && typeof config.onStep !== 'function') {
    throw new Error('onStep must be a function');
  }
  return {
    mode: config.mode,
    epochs,
    maxSteps,
    batchSize: positiveInt(config.batchSize ?? 32, 'batchSize'),
    learningRate: finiteNumber(config.learningRate, 'learningRate', (v) => v > 0, 'a positive number'),
    round: config.round === undefined ? 0 : nonNegativeInt(config.round, 'round'),
    roundDecay: finiteNumber(config.roundDecay ?? 0.9, 'roundDecay', (v) => v > 0 && v <= 1, 'in (0, 1]'),
    weightDecay: finiteNumber(
      config.weightDecay ?? 0.01,
      'weightDecay',
      (v) => v >= 0,
      'a non-negative number',
    ),
    clipNorm:
      config.clipNorm === null
        ? null
        : finiteNumber(config.clipNorm ?? 1, 'clipNorm', (v) => v > 0, 'a positive number or null'),
    maxSeqLen: positiveInt(config.maxSeqLen ?? 128, 'maxSeqLen'),
    microBatchSize:
      config.microBatchSize === undefined || config.microBatchSize === null
        ? null
        : positiveInt(config.microBatchSize, 'microBatchSize'),
    checkpoint: booleanFlag(config.checkpoint ?? false, 'checkpoint'),
    seed: config.seed === undefined ? 0 : integer(config.seed, 'seed'),
    onStep: config.onStep ?? null,
  };
}

function nonNegativeInt(value: unknown, label: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new Error(`${label} must be a non-negative integer, got ${String(value)}`);
  }
  return value as number;
}

function integer(value: unknown, label: string): number {
  if (!Number.isSafeInteger(value)) throw new Error(`${label} must be an integer, got ${String(value)}`);
  return value as number;
}

/** Steps of a run over `exampleCount` examples: epochs * ceil(n / batch), capped by maxSteps. */
export function totalSteps(config: ResolvedTrainConfig, exampleCount: number): number {
  const perEpoch = Math.ceil(exampleCount / config.batchSize);
  const byEpochs = config.epochs === null ? Infinity : config.epochs * perEpoch;
  return Math.min(byEpochs, config.maxSteps ?? Infinity);
}

/** Linear decay to 0 within the round from the round's peak learningRate * roundDecay^round. */
export function learningRateAt(config: ResolvedTrainConfig, step: number, steps: number): number {
  return config.learningRate * config.roundDecay ** config.round * ((steps - step) / steps);
}
