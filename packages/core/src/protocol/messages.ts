import { z } from 'zod';
import { MAX_CLIENT_ID_LENGTH } from '../codec/fields';
import { PROTOCOL_VERSION } from '../update';

/**
 * The coordinator protocol over socket.io: event names, the JSON part of every message as a zod schema (checked
 * at run time on both sides, since either end may be hostile or out of date) and its TypeScript type. Model
 * payloads and updates travel beside the JSON as one binary attachment, encoded by the core codec.
 *
 * Client -> server events carry an acknowledgement callback that receives a `Reply`: `{ ok: true, ... }` or a
 * `Refusal` naming what was wrong. Server -> client events have no acknowledgement.
 */

export const PROTOCOL_EVENTS = {
  /** client -> server: JoinRequest, ack JoinReply. */
  join: 'join',
  /** client -> server: CapabilityReport, ack CapabilityReply. */
  capabilities: 'capabilities',
  /** client -> server: UpdateMeta + binary update, ack UpdateReply. */
  update: 'update',
  /** client -> server: Heartbeat, ack HeartbeatReply. */
  heartbeat: 'heartbeat',
  /**
   * client -> server: DemoShardRequest, ack DemoShardReply. Demo federations only: the server hands a joined
   * client a shard of a public demo corpus (not anyone's data), so a page can take part without files.
   */
  demoShard: 'demo-shard',
  /** server -> client: OfferMessage (+ binary model payload for 'train'). */
  offer: 'offer',
  /** server -> client: RoundNotice (a round started, was aggregated or failed). */
  round: 'round',
  /** server -> client: a Refusal for a message that had no acknowledgement callback. */
  refused: 'refused',
} as const;

export type ClientEvent = (typeof PROTOCOL_EVENTS)[
  'join' | 'capabilities' | 'update' | 'heartbeat' | 'demoShard'];

/** Machine-readable refusal reasons (the text says the rest). */
export const REFUSAL_CODES = [
  'malformed', // the JSON part does not match its schema
  'unknown-event', // an event name the protocol does not have
  'no-ack', // a request without an acknowledgement callback
  'version', // another protocol version
  'unknown-federation',
  'bad-token',
  'bad-identity', // unknown client id or wrong reconnect secret
  'not-joined', // a request before a successful join
  'not-ready', // an update before a capability report
  'wrong-client', // an update for another client id than the socket's
  'wrong-round', // an update for a round that is not the open one (late, early or repeated)
  'not-offered', // the client was not offered this round, or the offer id differs
  'duplicate', // an update already received this round
  'too-large', // over the federation's message size limit
  'bad-payload', // the binary part does not decode (codec error) or the strategy refuses it
  'finished', // the federation has run all its rounds
  'too-many', // too many new identities from one address in a short time (a flood of joins)
  'unavailable', // the federation does not offer this (e.g. a demo shard without a demo corpus)
  'internal', // the server failed handling it (logged there)
] as const;

export type RefusalCode = (typeof REFUSAL_CODES)[number];

export interface Refusal {
  readonly ok: false;
  readonly code: RefusalCode;
  readonly reason: string;
  /** The event the refusal answers. */
  readonly event?: string;
}

const id = z
  .string()
  .min(1)
  .max(MAX_CLIENT_ID_LENGTH)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');
const finite = z.number().refine(Number.isFinite, 'must be finite');
const nonNegative = finite.refine((v) => v >= 0, 'must be >= 0');
const roundNumber = z.number().int().nonnegative();

export const joinRequestSchema = z.strictObject({
  protocolVersion: z.literal(PROTOCOL_VERSION),
  federation: id,
  token: z.string().min(1).max(512),
  /** Both given: reconnect as this client; both absent: a new identity. */
  clientId: id.optional(),
  secret: z.string().min(1).max(512).optional(),
});
export type JoinRequest = z.infer<typeof joinRequestSchema>;

/** What a joined client needs to know about the federation (the model it must load and how to train it). */
export const federationInfoSchema = z.strictObject({
  id,
  description: z.string(),
  strategy: z.string(),
  /** Encoder the clients load (a name the client knows, e.g. 'use-lite'). */
  encoder: z.string(),
  numClasses: z.number().int().positive(),
  labelNames: z.array(z.string()).optional(),
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  /** LoRA targets (kinds or weight names). */
  targets: z.array(z.string()),
  /** The round the federation is at (the open one, or the next). */
  round: roundNumber,
  totalRounds: z.number().int().positive(),
  heartbeatIntervalMs: z.number().int().positive(),
  /** Largest update (binary part) the server accepts, in bytes. */
  maxUpdateBytes: z.number().int().positive(),
});
export type FederationInfo = z.infer<typeof federationInfoSchema>;

export const joinReplySchema = z.strictObject({
  ok: z.literal(true),
  clientId: id,
  /** Only for a new identity: keep it to reconnect as the same client (the server stores only its hash). */
  secret: z.string().optional(),
  /** True when an existing identity was resumed. */
  resumed: z.boolean(),
  /** Budget level from an earlier capability report (absent until one was made). */
  budget: z.number().gt(0).lte(1).optional(),
  federation: federationInfoSchema,
});
export type JoinReply = z.infer<typeof joinReplySchema>;

export const capabilityReportSchema = z.strictObject({
  /** tfjs backend the client trains on ('webgpu', 'wasm', 'cpu', ...). */
  backend: z.string().min(1).max(64),
  /** Memory the client measured it can spend on training, in bytes. */
  memoryBytes: nonNegative,
  /** Measured training throughput, tokens per second. */
  tokensPerSecond: nonNegative,
  /** Local training examples (informational; N_k comes with each update). */
  examples: z.number().int().nonnegative().optional(),
});
export type CapabilityReport = z.infer<typeof capabilityReportSchema>;

export const capabilityReplySchema = z.strictObject({
  ok: z.literal(true),
  /** s_k: the budget level assigned from the report. */
  budget: z.number().gt(0).lte(1),
});
export type CapabilityReply = z.infer<typeof capabilityReplySchema>;

export const trainingPlanSchema = z.strictObject({
  mode: z.enum(['lora', 'full']),
  rank: z.number().int().nonnegative(),
  adapterStart: z.enum(['merge', 'continue']),
  maskMode: z.enum(['pre', 'post', 'none']),
  budget: z.number().gt(0).lte(1),
  scale: z.number().positive().optional(),
});

/** Local training hyper-parameters of a round (the client's ClientTrainConfig). */
export const trainHyperParametersSchema = z.strictObject({
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  learningRate: z.number().positive(),
  roundDecay: z.number().gt(0).lte(1),
  maxSeqLen: z.number().int().positive(),
  loraDropout: z.number().min(0).lt(1),
  microBatchSize: z.number().int().positive().optional(),
  checkpoint: z.boolean().optional(),
});
export type TrainHyperParameters = z.infer<typeof trainHyperParametersSchema>;

const precision = z.enum(['fp32', 'fp16', 'int8']);

export const offerMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('train'),
    federation: id,
    round: roundNumber,
    /** Echoed in the update: ties it to this offer (a stale upload from an earlier attempt is refused). */
    offerId: z.string().min(1).max(64),
    plan: trainingPlanSchema,
    train: trainHyperParametersSchema,
    /** Seed the client derives its LoRA initialisation, dropout and shuffling from. */
    seed: z.number().int(),
    /** Precision to encode the update in. */
    precision,
    headPrecision: precision.optional(),
    /** Epoch milliseconds; updates arriving later are refused. */
    deadline: z.number().int().nonnegative(),
    /** Local-only training: the update stays on the device (the client still reports it, for the round). */
    local: z.boolean().optional(),
  }),
  z.strictObject({
    kind: z.literal('skip'),
    federation: id,
    round: roundNumber,
    reason: z.string(),
  }),
]);
export type OfferMessage = z.infer<typeof offerMessageSchema>;

/** What a client may report about its round beside the update (for dashboards and round metrics). */
export const reportedRoundMetricsSchema = z.strictObject({
  /** Mean training loss of the round. */
  loss: finite.optional(),
  /** Personalized accuracy on the client's own held-out split, and that split's size. */
  accuracy: z.number().min(0).max(1).optional(),
  heldOutExamples: z.number().int().nonnegative().optional(),
  trainSeconds: nonNegative.optional(),
  peakBytes: nonNegative.optional(),
});
export type ReportedRoundMetrics = z.infer<typeof reportedRoundMetricsSchema>;

export const updateMetaSchema = z.strictObject({
  federation: id,
  clientId: id,
  round: roundNumber,
  offerId: z.string().min(1).max(64),
  metrics: reportedRoundMetricsSchema.optional(),
});
export type UpdateMeta = z.infer<typeof updateMetaSchema>;

export const updateReplySchema = z.strictObject({
  ok: z.literal(true),
  round: roundNumber,
  /** Updates received so far this round, this one included. */
  received: z.number().int().positive(),
});
export type UpdateReply = z.infer<typeof updateReplySchema>;

export const heartbeatSchema = z.strictObject({
  /** What the client is doing, for dashboards. */
  status: z.enum(['idle', 'loading', 'training', 'uploading']).optional(),
  /** Progress of local training in [0, 1]. */
  progress: z.number().min(0).max(1).optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const heartbeatReplySchema = z.strictObject({
  ok: z.literal(true),
  serverTime: z.number(),
  round: roundNumber,
  phase: z.enum(['waiting', 'training', 'finished']),
});
export type HeartbeatReply = z.infer<typeof heartbeatReplySchema>;

export const roundNoticeSchema = z.strictObject({
  federation: id,
  round: roundNumber,
  status: z.enum(['aggregated', 'failed']),
  /** Clients whose update was aggregated. */
  participants: z.number().int().nonnegative(),
  /** Whether this client's update made it into the aggregate. */
  included: z.boolean(),
  reason: z.string().optional(),
  /**
   * pi_k: this client's soft membership of each cluster after an aggregated round (strategies with clusters;
   * absent otherwise), so a client can show which clusters it belongs to.
   */
  memberships: z.array(z.number().min(0).max(1)).max(1024).optional(),
});
export type RoundNotice = z.infer<typeof roundNoticeSchema>;

export const refusalSchema = z.strictObject({
  ok: z.literal(false),
  code: z.enum(REFUSAL_CODES),
  reason: z.string(),
  event: z.string().optional(),
});

/** A demo shard request has no options: the server picks the shard (the same one again on a reconnect). */
export const demoShardRequestSchema = z.strictObject({});
export type DemoShardRequest = z.infer<typeof demoShardRequestSchema>;

export const demoShardSchema = z
  .strictObject({
    /** Which of the corpus's `count` non-IID shards this is. */
    index: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    /** The public corpus it comes from, e.g. 'spam-assassin'. */
    corpus: z.string(),
    labelNames: z.array(z.string()),
    texts: z.array(z.string()),
    labels: z.array(z.number().int().nonnegative()),
    /** Says that this is public demo data sent by the server, not the person's own data. */
    notice: z.string(),
  })
  .refine((shard) => shard.texts.length === shard.labels.length, 'texts and labels differ in length')
  .refine((shard) => shard.index < shard.count, 'index must be below count');
export type DemoShard = z.infer<typeof demoShardSchema>;

export const demoShardReplySchema = z.strictObject({ ok: z.literal(true), shard: demoShardSchema });
export type DemoShardReply = z.infer<typeof demoShardReplySchema>;

/** The binary attachment as it arrives: Buffer in Node (a Uint8Array), ArrayBuffer in browsers. */
export function binaryAttachment(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

/** One line per problem of a failed parse, with the field path (for refusal reasons). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(message)'}: ${issue.message}`)
    .join('; ');
}

/** Parses `value` or returns the refusal to send back. */
export function parseMessage<T>(
  schema: z.ZodType<T>,
  value: unknown,
  event: string,
): { ok: true; value: T } | { ok: false; refusal: Refusal } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    refusal: { ok: false, code: 'malformed', reason: `${event}: ${describeIssues(result.error)}`, event },
  };
}
