// Browser-safe (no Node imports): the simulator runs it in-process, the browser client in its Web Worker.
import * as tf from '@tensorflow/tfjs';
import {
  PROTOCOL_VERSION,
  lowRankProduct,
  mixFactors,
  seededRandom,
  type ClientUpdate,
  type ClusterModel,
  type DenseTensor,
  type FactorSet,
  type LowRankFactors,
  type MaskedFactors,
  type ModelPayload,
  type ModelSchema,
  type TrainingPlan,
} from '@fedhft/core';
import type { Encoder } from '../encoders/encoder';
import { WeightStore } from '../encoders/weight-store';
import { LoraAdapters, type AdapterFactors } from '../lora/lora';
import type { LabelledTexts } from '../train/data';
import { evaluate, type EvaluationResult } from '../train/evaluate';
import { ClassificationHead } from '../train/head';
import type { TrainConfig } from '../train/train-config';
import { trainLocal } from '../train/trainer';
import type { MemoryMeter } from '../memory-meter';

/**
 * One client's side of a federated round, shared by the simulator and the browser worker: apply the server's
 * payload to the frozen encoder, train locally as the plan says, build the update to upload, and (optionally)
 * evaluate the trained model on the client's own held-out split. The transport (in-process or socket.io, with
 * the binary codec in between) is the caller's business.
 */

/** What a selected client received: the offer's payload (decoded) and plan. */
export interface ClientRoundOffer {
  readonly payload: ModelPayload;
  readonly plan: TrainingPlan;
}

/**
 * Local training hyper-parameters. `mode` comes from the plan, `round` and `seed` from the round context, so
 * they are not set here.
 */
export type ClientTrainConfig = Omit<TrainConfig, 'mode' | 'round' | 'seed'> & {
  /** LoRA dropout on the adapter input (default 0.1, FedHFT's reference). */
  readonly loraDropout?: number;
  /** Batch size of the held-out evaluation (default 64). */
  readonly evalBatchSize?: number;
};

export interface ClientRoundContext {
  readonly clientId: string;
  /** The federated round (0-based): sets the learning-rate decay and, with the seed, the shuffling. */
  readonly round: number;
  /** The run's seed; the client's LoRA initialisation, dropout and shuffling derive from it, id and round. */
  readonly seed: number | string;
}

export interface ClientRoundOptions {
  /** The client's own held-out split: the trained model is evaluated on it (personalized evaluation). */
  readonly heldOut?: LabelledTexts;
  /**
   * Measures the client's peak tensor memory during training (installMemoryMeter). The peak counts every live
   * buffer, the frozen encoder included, as the device would hold it.
   */
  readonly meter?: MemoryMeter;
}

export interface ClientRoundResult {
  readonly update: ClientUpdate;
  /** Mean batch loss of every step, in order. */
  readonly losses: number[];
  readonly steps: number;
  /** Peak tensor bytes while training (only with a meter). */
  readonly peakBytes?: number;
  /** Tensor bytes alive when the round started (the encoder's weights and whatever else was alive). */
  readonly baseBytes?: number;
  /** Personalized evaluation on `heldOut` (only when given). */
  readonly evaluation?: PersonalizedEvaluation;
  /** Trainable scalars of the round (LoRA factors + head, or the encoder + head). */
  readonly trainableParameters: number;
}

export interface PersonalizedEvaluation {
  readonly accuracy: number;
  readonly macroF1: number;
  readonly loss: number;
  /** Held-out examples behind the figures, to weight clients by split size. */
  readonly count: number;
}

/** A 31-bit integer seed derived from any seed and labels (LoRA and train configs take integer seeds). */
export function derivedSeed(seed: number | string, ...parts: (number | string)[]): number {
  return Math.floor(seededRandom([seed, ...parts].join('/'))() * 2 ** 31);
}

/**
 * The model schema every strategy of a run is built on, from the encoder the clients train: the LoRA targets'
 * [dOut, dIn] (by kind or exact name, as LoraConfig.targets), every float encoder weight with its stored shape
 * (full fine-tuning), the head's size, and the reference rank and alpha.
 */
export function modelSchema(
  encoder: Encoder,
  options: {
    readonly numClasses: number;
    readonly rank: number;
    readonly alpha: number;
    readonly targets: readonly string[];
  },
): ModelSchema {
  const weights = encoder.adaptableWeights();
  for (const target of options.targets) {
    if (!weights.some((w) => w.kind === target || w.name === target)) {
      throw new Error(`LoRA target "${target}" matches no adaptable weight of ${encoder.id}`);
    }
  }
  const adapted = weights
    .filter((w) => options.targets.includes(w.kind) || options.targets.includes(w.name))
    .map(({ name, dOut, dIn }) => ({ name, dOut, dIn }));
  const dense = encoder.weights
    .names()
    .map((name) => encoder.weights.get(name))
    .map((tensor, i) => ({ tensor, name: encoder.weights.names()[i]! }))
    .filter(({ tensor }) => tensor.dtype === 'float32')
    .map(({ name, tensor }) => ({ name, shape: [...tensor.shape] }));
  return {
    adapted,
    dense,
    embeddingSize: encoder.embeddingSize,
    numClasses: options.numClasses,
    rank: options.rank,
    alpha: options.alpha,
  };
}

function isZero(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) return false;
  return true;
}

/** The encoder's weight store, which full fine-tuning's dense deltas are merged into. */
function weightStore(encoder: Encoder): WeightStore {
  if (!(encoder.weights instanceof WeightStore)) {
    throw new Error(`${encoder.id}: dense deltas need a WeightStore-backed encoder`);
  }
  return encoder.weights;
}

/** Adds dense deltas (each in its weight's stored layout) to the encoder's current weights; zeros are skipped. */
export function mergeDenseDeltas(
  encoder: Encoder,
  deltas: ReadonlyMap<string, DenseTensor | Float32Array>,
): void {
  const store = weightStore(encoder);
  for (const [name, value] of deltas) {
    const data = value instanceof Float32Array ? value : value.data;
    if (isZero(data)) continue;
    const shape = store.get(name).shape;
    tf.tidy(() => store.addDelta(name, tf.tensor(data, shape)));
  }
}

/** Adds dW [dOut, dIn] per adapted weight to the encoder (zeros skipped, so an empty start stays bit-exact). */
export function mergeAdapterDeltas(encoder: Encoder, deltas: ReadonlyMap<string, Float32Array>): void {
  for (const [name, delta] of deltas) if (!isZero(delta)) encoder.mergeDelta(name, delta);
}

/** The payload's starting adapter delta per weight, dense [dOut, dIn]: the mixture's factors or the exact mix. */
export function payloadDeltas(payload: ModelPayload): Map<string, Float32Array> {
  const { adapters } = payload;
  const factors: ReadonlyMap<string, LowRankFactors> =
    adapters.kind === 'mixture' ? adapters.factors : mixFactors(adapters.clusters, adapters.membership);
  return new Map([...factors].map(([name, f]) => [name, lowRankProduct(f)]));
}

function payloadFactorSet(payload: ModelPayload): FactorSet {
  const { adapters } = payload;
  if (adapters.kind !== 'mixture') {
    throw new Error(
      "adapterStart 'continue' needs a mixture payload (one factor set), got per-cluster factors",
    );
  }
  return adapters.factors;
}

/** The payload's factors as LoRA factors holding `rows` of B (every row unless a pre-mask says otherwise). */
function continueFactors(set: FactorSet, lora: LoraAdapters): AdapterFactors {
  const factors: AdapterFactors = new Map();
  for (const weight of lora.targets) {
    const f = set.get(weight.name);
    if (!f) throw new Error(`the payload has no factors for "${weight.name}"`);
    const rows = lora.rows(weight.name);
    const B = new Float32Array(rows.length * f.rank);
    rows.forEach((row, i) => B.set(f.B.subarray(row * f.rank, (row + 1) * f.rank), i * f.rank));
    factors.set(weight.name, { A: f.A, B, rows, dOut: f.dOut, dIn: f.dIn, rank: f.rank, scale: f.scale });
  }
  return factors;
}

/** Names of the adapted weights a LoRA payload carries. */
function payloadTargets(payload: ModelPayload): string[] {
  const { adapters } = payload;
  const set = adapters.kind === 'mixture' ? adapters.factors : adapters.clusters[0];
  return [...(set?.keys() ?? [])];
}

function checkPlan(plan: TrainingPlan): void {
  if (plan.mode !== 'lora' && plan.mode !== 'full') throw new Error(`unknown plan mode ${String(plan.mode)}`);
  if (plan.mode === 'lora') {
    if (!Number.isInteger(plan.rank) || plan.rank < 1)
      throw new Error(`plan rank must be >= 1, got ${plan.rank}`);
    if (typeof plan.scale !== 'number' || !(plan.scale > 0) || !Number.isFinite(plan.scale)) {
      throw new Error(`a LoRA plan needs a positive scale, got ${String(plan.scale)}`);
    }
  }
}

/**
 * Builds the client's starting model from the offer on the encoder (which must hold no merged deltas of
 * another client: it is unmerged first) and returns its head and LoRA (none in full mode).
 */
function startModel(
  encoder: Encoder,
  offer: ClientRoundOffer,
  config: ClientTrainConfig,
  context: ClientRoundContext,
): { head: ClassificationHead; lora: LoraAdapters | null } {
  const { payload, plan } = offer;
  checkPlan(plan);
  encoder.unmergeAll();
  const head = ClassificationHead.forEncoder(
    encoder,
    payload.head.numClasses,
    derivedSeed(context.seed, 'head', context.clientId, context.round),
  );
  let lora: LoraAdapters | null = null;
  try {
    head.importParams(payload.head);
    if (plan.mode === 'full') {
      mergeDenseDeltas(encoder, payload.dense);
      return { head, lora };
    }
    if (plan.adapterStart === 'merge') mergeAdapterDeltas(encoder, payloadDeltas(payload));
    const targets = payloadTargets(payload);
    if (targets.length === 0) throw new Error('a LoRA payload must carry factors for every adapted weight');
    const rows =
      plan.maskMode === 'pre' && payload.preMasks.size > 0
        ? new Map([...payload.preMasks].map(([name, mask]) => [name, mask.rows]))
        : undefined;
    lora = new LoraAdapters(
      encoder.adaptableWeights(),
      {
        rank: plan.rank,
        // LoRA's scale is alpha / rank: the plan fixes the scale, so alpha follows from it.
        alpha: plan.scale! * plan.rank,
        dropout: config.loraDropout ?? 0.1,
        targets,
        maskMode: plan.maskMode,
        budget: plan.budget,
        seed: derivedSeed(context.seed, 'lora', context.clientId, context.round),
      },
      rows ? { rows } : {},
    );
    if (plan.adapterStart === 'continue')
      lora.importFactors(continueFactors(payloadFactorSet(payload), lora));
    return { head, lora };
  } catch (error) {
    lora?.dispose();
    head.dispose();
    encoder.unmergeAll();
    throw error;
  }
}

/** Personalized evaluation: the client's trained model on its own held-out split. */
export async function evaluatePersonalized(
  encoder: Encoder,
  model: { readonly head: ClassificationHead; readonly lora?: LoraAdapters | null },
  heldOut: LabelledTexts,
  options: { readonly maxSeqLen?: number; readonly batchSize?: number } = {},
): Promise<PersonalizedEvaluation> {
  const result: EvaluationResult = await evaluate(encoder, model.head, heldOut, {
    ...(model.lora ? { lora: model.lora } : {}),
    ...(options.maxSeqLen === undefined ? {} : { maxSeqLen: options.maxSeqLen }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  return {
    accuracy: result.accuracy,
    macroF1: result.macroF1,
    loss: result.loss,
    count: result.exampleCount,
  };
}

/**
 * One client's round: unmerge, apply the payload ('merge': the starting delta, from the mixture's factors or
 * the clusters' factors mixed exactly, is merged into the frozen weights and a fresh LoRA of the plan's rank
 * and scale is trained on the pre-mask rows, every row, or every row cut to the top rows after training
 * ('post'); 'continue': the LoRA starts from the payload's factors; full mode: the dense deltas are merged and
 * every encoder weight is trained), train with the local trainer, and return the update to upload. With
 * `heldOut`, the trained model (the whole adapter, before any post-mask cut, which the client keeps) is
 * evaluated on it. The encoder is left unmerged and every tensor of the round is disposed.
 */
export async function runClientRound(
  encoder: Encoder,
  offer: ClientRoundOffer,
  data: LabelledTexts,
  trainConfig: ClientTrainConfig,
  context: ClientRoundContext,
  options: ClientRoundOptions = {},
): Promise<ClientRoundResult> {
  const { loraDropout: _dropout, evalBatchSize, ...train } = trainConfig;
  const { meter } = options;
  const baseBytes = meter?.liveBytes();
  meter?.resetPeak();
  const { head, lora } = startModel(encoder, offer, trainConfig, context);
  try {
    const trainableParameters =
      (lora?.parameterCount() ?? encoder.weights.parameterCount()) + head.kernel.size + head.bias.size;
    const result = await trainLocal(
      encoder,
      head,
      data,
      {
        ...train,
        mode: offer.plan.mode,
        round: context.round,
        seed: derivedSeed(context.seed, 'train', context.clientId),
      },
      lora ?? undefined,
    );
    const peakBytes = meter?.peakBytes();
    let adapters = new Map<string, MaskedFactors>();
    let dense = new Map<string, DenseTensor>();
    if (result.factors) adapters = new Map(result.factors);
    if (result.fullDeltas) {
      const store = encoder.weights;
      dense = new Map(
        [...result.fullDeltas].map(([name, values]) => [
          name,
          { shape: [...store.get(name).shape], data: values },
        ]),
      );
    }
    const update: ClientUpdate = {
      protocolVersion: PROTOCOL_VERSION,
      clientId: context.clientId,
      round: context.round,
      exampleCount: result.exampleCount,
      adapters,
      dense,
      head: result.head,
    };
    let evaluation: PersonalizedEvaluation | undefined;
    if (options.heldOut) {
      // Full fine-tuning's trained weights went back to frozen tensors with the session: merge its deltas.
      if (result.fullDeltas) mergeDenseDeltas(encoder, result.fullDeltas);
      evaluation = await evaluatePersonalized(encoder, { head, lora }, options.heldOut, {
        ...(train.maxSeqLen === undefined ? {} : { maxSeqLen: train.maxSeqLen }),
        ...(evalBatchSize === undefined ? {} : { batchSize: evalBatchSize }),
      });
    }
    return {
      update,
      losses: result.losses,
      steps: result.steps,
      trainableParameters,
      ...(peakBytes === undefined ? {} : { peakBytes, baseBytes: baseBytes! }),
      ...(evaluation ? { evaluation } : {}),
    };
  } finally {
    lora?.dispose();
    head.dispose();
    encoder.unmergeAll();
  }
}

/**
 * A shared model (the summary's cluster or global model: deltas merged into the frozen encoder and its head)
 * evaluated on labelled texts, e.g. a global test set. The encoder is left unmerged.
 */
export async function evaluateSharedModel(
  encoder: Encoder,
  model: ClusterModel,
  data: LabelledTexts,
  options: { readonly maxSeqLen?: number; readonly batchSize?: number; readonly seed?: number } = {},
): Promise<PersonalizedEvaluation> {
  encoder.unmergeAll();
  const head = ClassificationHead.forEncoder(encoder, model.head.numClasses, options.seed ?? 0);
  try {
    head.importParams(model.head);
    mergeAdapterDeltas(encoder, model.deltas);
    mergeDenseDeltas(encoder, model.dense);
    return await evaluatePersonalized(encoder, { head }, data, options);
  } finally {
    head.dispose();
    encoder.unmergeAll();
  }
}
