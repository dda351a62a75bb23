import {
  runClientRound,
  type ClientTrainConfig,
  type Encoder,
  type LabelledTexts,
  type MemoryMeter,
} from '@fedhft/adapters';
import {
  decodeLimits,
  decodeModelPayload,
  encodeUpdate,
  type EncodeOptions,
  type ModelSchema,
} from '@fedhft/core';
import type { RoundMetrics, TrainHyperParameters, TrainRequest } from './messages';

/**
 * One offered round inside the worker, transport-free (so a Node test runs exactly this): decode the payload
 * against the model schema, train with the shared client runtime, evaluate on the local held-out split and
 * encode the update. What it returns is all that can leave: the update bytes and numbers.
 */

export interface LocalData {
  readonly train: LabelledTexts;
  readonly heldOut: LabelledTexts;
}

export interface RoundOutput {
  readonly bytes: Uint8Array;
  readonly metrics: RoundMetrics;
}

export interface RoundHooks {
  readonly meter?: MemoryMeter;
  readonly onStep?: (step: number, totalSteps: number, loss: number) => void;
  /** Called after training, before the held-out evaluation. */
  readonly onEvaluate?: () => void;
}

/** The runtime's train config from the offer's hyper-parameters. */
export function clientTrainConfig(train: TrainHyperParameters): ClientTrainConfig {
  return {
    epochs: train.epochs,
    batchSize: train.batchSize,
    learningRate: train.learningRate,
    roundDecay: train.roundDecay,
    maxSeqLen: train.maxSeqLen,
    loraDropout: train.loraDropout,
    ...(train.microBatchSize === undefined ? {} : { microBatchSize: train.microBatchSize }),
    ...(train.checkpoint === undefined ? {} : { checkpoint: train.checkpoint }),
    ...(train.maxSteps === undefined ? {} : { maxSteps: train.maxSteps }),
  };
}

/** Tokens one epoch-ordered pass feeds the encoder: each batch padded to its longest text, as the trainer does. */
function paddedTokens(
  encoder: Encoder,
  texts: readonly string[],
  batchSize: number,
  maxSeqLen: number,
): number {
  let tokens = 0;
  for (let start = 0; start < texts.length; start += batchSize) {
    const batch = texts.slice(start, start + batchSize);
    tokens += batch.length * encoder.tokenize(batch, maxSeqLen).seqLen;
  }
  return tokens;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}

export async function trainOfferedRound(
  encoder: Encoder,
  schema: ModelSchema,
  request: Omit<TrainRequest, 'type' | 'id' | 'payload'> & { readonly payload: Uint8Array },
  data: LocalData,
  hooks: RoundHooks = {},
): Promise<RoundOutput> {
  if (data.train.texts.length === 0) throw new Error('no local training data: pick a file first');
  const payload = decodeModelPayload(request.payload, decodeLimits(schema));
  if (payload.round !== request.round) {
    throw new Error(`the payload is for round ${payload.round}, the offer for round ${request.round}`);
  }
  const config = clientTrainConfig(request.train);
  let totalSteps = 0;
  let trainEnded: number | null = null;
  const started = performance.now();
  const result = await runClientRound(
    encoder,
    { payload, plan: request.plan },
    data.train,
    {
      ...config,
      onStep: ({ step, totalSteps: total, loss }) => {
        totalSteps = total;
        hooks.onStep?.(step, total, loss);
        // The last step ends training; the held-out evaluation follows inside runClientRound.
        if (step + 1 === total && trainEnded === null) {
          trainEnded = performance.now();
          hooks.onEvaluate?.();
        }
      },
    },
    { clientId: request.clientId, round: request.round, seed: request.seed },
    {
      ...(hooks.meter ? { meter: hooks.meter } : {}),
      ...(data.heldOut.texts.length > 0 ? { heldOut: data.heldOut } : {}),
    },
  );
  const trainSeconds = ((trainEnded ?? performance.now()) - started) / 1000;
  const encodeOptions: EncodeOptions = {
    precision: request.precision,
    ...(request.headPrecision === undefined ? {} : { headPrecision: request.headPrecision }),
  };
  const bytes = encodeUpdate(result.update, encodeOptions);
  // Throughput counts every step's padded batch; steps beyond one epoch repeat the same sizes on average.
  const epochTokens = paddedTokens(
    encoder,
    data.train.texts,
    request.train.batchSize,
    request.train.maxSeqLen,
  );
  const epochSteps = Math.ceil(data.train.texts.length / request.train.batchSize);
  const tokens = (epochTokens / epochSteps) * (totalSteps || result.steps);
  const evaluation = result.evaluation;
  const metrics: RoundMetrics = {
    steps: result.steps,
    losses: result.losses,
    meanLoss: mean(result.losses),
    lastLoss: result.losses.at(-1) ?? NaN,
    accuracy: evaluation?.accuracy ?? null,
    macroF1: evaluation?.macroF1 ?? null,
    heldOutLoss: evaluation?.loss ?? null,
    heldOutExamples: evaluation?.count ?? 0,
    trainExamples: data.train.texts.length,
    peakBytes: result.peakBytes ?? 0,
    trainingBytes: (result.peakBytes ?? 0) - (result.baseBytes ?? 0),
    trainSeconds,
    tokensPerSecond: trainSeconds > 0 ? tokens / trainSeconds : 0,
    trainableParameters: result.trainableParameters,
    downloadBytes: request.payload.byteLength,
    uploadBytes: bytes.byteLength,
  };
  return { bytes, metrics };
}
