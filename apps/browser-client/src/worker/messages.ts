import { z } from 'zod';

/**
 * Messages between the page and its training worker, both ways, as zod schemas: each side parses what it
 * receives (`parsePageMessage` in the worker, `parseWorkerMessage` in the page), so a malformed or unexpected
 * message is refused by name instead of failing somewhere deep in training. Requests carry an `id`; the worker's
 * answer to a request carries it back as `replyTo`. Progress and status events carry none.
 */

const finite = z.number().refine(Number.isFinite, 'must be finite');
const nonNegative = finite.refine((v) => v >= 0, 'must be >= 0');
const count = z.number().int().nonnegative();
const positiveInt = z.number().int().positive();
const requestId = z.number().int().nonnegative();
const arrayBuffer = z.instanceof(ArrayBuffer);

export const BACKEND_CHOICES = ['auto', 'webgpu', 'wasm'] as const;
/** 'auto': WebGPU when the browser gives an adapter and tfjs starts on it, else wasm (and the page says why). */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export const TRAINING_BACKENDS = ['webgpu', 'wasm'] as const;
export type TrainingBackend = (typeof TRAINING_BACKENDS)[number];

/** Shape of the capability probe: one LoRA training step on a synthetic batch, timed after a warm-up step. */
export const probeShapeSchema = z.strictObject({
  batch: positiveInt,
  seqLen: positiveInt,
  steps: positiveInt,
  rank: positiveInt,
});
export type ProbeShape = z.infer<typeof probeShapeSchema>;

/** Load tfjs on a backend, then the encoder from `modelUrl`, then measure the capability. */
export const initRequestSchema = z.strictObject({
  type: z.literal('init'),
  id: requestId,
  modelUrl: z.url(),
  backend: z.enum(BACKEND_CHOICES),
  probe: probeShapeSchema,
  /** The most memory the person lets training use (bytes); the offer is capped at it. */
  maxMemoryBytes: z.number().int().positive().optional(),
});

/** The federation's model settings; the worker answers with the model schema built on its encoder. */
export const configureRequestSchema = z.strictObject({
  type: z.literal('configure'),
  id: requestId,
  numClasses: z.number().int().min(2),
  rank: positiveInt,
  alpha: z.number().positive(),
  targets: z.array(z.string().min(1)).min(1),
});

const labelledTextsSchema = z
  .strictObject({ texts: z.array(z.string().min(1)), labels: z.array(count) })
  .refine((d) => d.texts.length === d.labels.length, 'texts and labels differ in length');

/** The person's data, already validated and split by the page; it stays in the worker. */
export const dataRequestSchema = z.strictObject({
  type: z.literal('data'),
  id: requestId,
  numClasses: z.number().int().min(2),
  train: labelledTextsSchema,
  heldOut: labelledTextsSchema,
});

const precisionSchema = z.enum(['fp32', 'fp16', 'int8']);

/** Mirrors the protocol's training plan (core TrainingPlan). */
export const trainingPlanSchema = z.strictObject({
  mode: z.enum(['lora', 'full']),
  rank: count,
  adapterStart: z.enum(['merge', 'continue']),
  maskMode: z.enum(['pre', 'post', 'none']),
  budget: z.number().gt(0).lte(1),
  scale: z.number().positive().optional(),
});

/** Local training hyper-parameters of a round (the protocol's, plus maxSteps for short local runs). */
export const trainHyperParametersSchema = z.strictObject({
  epochs: positiveInt,
  batchSize: positiveInt,
  learningRate: z.number().positive(),
  roundDecay: z.number().gt(0).lte(1),
  maxSeqLen: positiveInt,
  loraDropout: z.number().min(0).lt(1),
  microBatchSize: positiveInt.optional(),
  checkpoint: z.boolean().optional(),
  maxSteps: positiveInt.optional(),
});
export type TrainHyperParameters = z.infer<typeof trainHyperParametersSchema>;

/** One round offer: the plan and settings, with the encoded model payload (transferred, not copied). */
export const trainRequestSchema = z.strictObject({
  type: z.literal('train'),
  id: requestId,
  clientId: z.string().min(1).max(128),
  round: count,
  offerId: z.string().min(1).max(64),
  seed: z.number().int(),
  plan: trainingPlanSchema,
  train: trainHyperParametersSchema,
  precision: precisionSchema,
  headPrecision: precisionSchema.optional(),
  payload: arrayBuffer,
});

export const pageMessageSchema = z.discriminatedUnion('type', [
  initRequestSchema,
  configureRequestSchema,
  dataRequestSchema,
  trainRequestSchema,
]);
export type PageMessage = z.infer<typeof pageMessageSchema>;
export type InitRequest = z.infer<typeof initRequestSchema>;
export type ConfigureRequest = z.infer<typeof configureRequestSchema>;
export type DataRequest = z.infer<typeof dataRequestSchema>;
export type TrainRequest = z.infer<typeof trainRequestSchema>;

// Worker -> page.

export const adapterReportSchema = z.strictObject({
  vendor: z.string(),
  architecture: z.string(),
  device: z.string(),
  description: z.string(),
  isFallbackAdapter: z.boolean().nullable(),
});
export type AdapterReport = z.infer<typeof adapterReportSchema>;

export const backendEventSchema = z.strictObject({
  type: z.literal('backend'),
  backend: z.enum(TRAINING_BACKENDS),
  /** The WebGPU adapter, when the browser gave one (also when training fell back to wasm). */
  adapter: adapterReportSchema.nullable(),
  /** A few of the adapter's limits that bound tfjs kernels (name -> value). */
  limits: z.record(z.string(), finite).nullable(),
  /** Why the worker is not on WebGPU (null when it is). */
  fallback: z.string().nullable(),
});
export type BackendEvent = z.infer<typeof backendEventSchema>;

export const capabilitySchema = z.strictObject({
  backend: z.enum(TRAINING_BACKENDS),
  /** Forward+backward throughput of one LoRA training step, tokens (batch x padded length) per second. */
  tokensPerSecond: nonNegative,
  stepSeconds: nonNegative,
  batch: positiveInt,
  seqLen: positiveInt,
  /** Peak tensor bytes during the probe, the frozen encoder included (memory meter, each buffer once). */
  peakBytes: nonNegative,
  /** Of which above what was alive before the probe (LoRA, optimizer state, activations). */
  trainingBytes: nonNegative,
  /** Memory the client offers for training (an estimate, see memorySource). */
  memoryBytes: nonNegative,
  memorySource: z.string(),
  /** Seconds to load the encoder (fetch + build). */
  modelSeconds: nonNegative,
});
export type Capability = z.infer<typeof capabilitySchema>;

export const readyReplySchema = z.strictObject({
  type: z.literal('ready'),
  replyTo: requestId,
  capability: capabilitySchema,
});

export const modelSchemaSchema = z.strictObject({
  adapted: z.array(z.strictObject({ name: z.string(), dOut: positiveInt, dIn: positiveInt })),
  dense: z.array(z.strictObject({ name: z.string(), shape: z.array(count) })),
  embeddingSize: positiveInt,
  numClasses: positiveInt,
  rank: positiveInt,
  alpha: z.number().positive(),
});

export const schemaReplySchema = z.strictObject({
  type: z.literal('schema'),
  replyTo: requestId,
  schema: modelSchemaSchema,
});

export const dataReplySchema = z.strictObject({
  type: z.literal('data-ready'),
  replyTo: requestId,
  trainExamples: count,
  heldOutExamples: count,
});

/** What the worker reports about a finished round (numbers only). */
export const roundMetricsSchema = z.strictObject({
  steps: count,
  losses: z.array(finite),
  meanLoss: finite,
  lastLoss: finite,
  /** Personalized evaluation on the local held-out split (null without one). */
  accuracy: z.number().min(0).max(1).nullable(),
  macroF1: z.number().min(0).max(1).nullable(),
  heldOutLoss: finite.nullable(),
  heldOutExamples: count,
  trainExamples: count,
  peakBytes: nonNegative,
  trainingBytes: nonNegative,
  trainSeconds: nonNegative,
  /** Training tokens (batch x padded length, summed over steps) per second of the round. */
  tokensPerSecond: nonNegative,
  trainableParameters: count,
  downloadBytes: count,
  uploadBytes: count,
});
export type RoundMetrics = z.infer<typeof roundMetricsSchema>;

export const updateReplySchema = z.strictObject({
  type: z.literal('update'),
  replyTo: requestId,
  round: count,
  offerId: z.string(),
  /** The encoded ClientUpdate (core codec), transferred. */
  bytes: arrayBuffer,
  metrics: roundMetricsSchema,
});
export type UpdateReply = z.infer<typeof updateReplySchema>;

export const progressEventSchema = z.strictObject({
  type: z.literal('progress'),
  round: count,
  step: count,
  totalSteps: count,
  loss: finite,
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

export const WORKER_PHASES = ['backend', 'model', 'probe', 'ready', 'training', 'evaluating'] as const;
export const statusEventSchema = z.strictObject({
  type: z.literal('status'),
  phase: z.enum(WORKER_PHASES),
});
export type StatusEvent = z.infer<typeof statusEventSchema>;

export const errorReplySchema = z.strictObject({
  type: z.literal('error'),
  /** The request that failed; absent for a message that could not be read at all or a device error. */
  replyTo: requestId.optional(),
  message: z.string(),
});

export const workerMessageSchema = z.discriminatedUnion('type', [
  backendEventSchema,
  readyReplySchema,
  schemaReplySchema,
  dataReplySchema,
  updateReplySchema,
  progressEventSchema,
  statusEventSchema,
  errorReplySchema,
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
export type WorkerReply = Extract<WorkerMessage, { replyTo: number }>;

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(message)'}: ${issue.message}`)
    .join('; ');
}

/** Parses a message for the worker; throws naming the fields that are wrong. */
export function parsePageMessage(value: unknown): PageMessage {
  const result = pageMessageSchema.safeParse(value);
  if (!result.success) throw new Error(`malformed message to the worker: ${describe(result.error)}`);
  return result.data;
}

/** Parses a message from the worker; throws naming the fields that are wrong. */
export function parseWorkerMessage(value: unknown): WorkerMessage {
  const result = workerMessageSchema.safeParse(value);
  if (!result.success) throw new Error(`malformed message from the worker: ${describe(result.error)}`);
  return result.data;
}
