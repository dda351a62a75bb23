import os from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  activateBackend,
  ClassificationHead,
  derivedSeed,
  evaluateSharedModel,
  installMemoryMeter,
  modelSchema,
  runClientRound,
  type ClientTrainConfig,
  type Encoder,
  type MemoryMeter,
  type PersonalizedEvaluation,
} from '@fedhft/adapters';
import {
  createStrategy,
  decodeLimits,
  decodeModelPayload,
  decodeUpdate,
  encodeModelPayload,
  encodeUpdate,
  type ClientProfile,
  type DecodeLimits,
  type EncodeOptions,
  type StrategyName,
} from '@fedhft/core';
import { selectClients } from '../federation/rounds';
import { attackUpdate, hostileClients } from './attack';
import { strategyOptions, type SimulationConfig } from './config';
import {
  describeClients,
  federate,
  loadSource,
  type ClientData,
  type FederatedData,
  type SourceData,
} from './data';
import { loadEncoder } from './encoders';
import {
  summarizeRun,
  summarizeRuns,
  weightedEvaluation,
  type RunSummary,
  type SeedsSummary,
} from './summary';

/** One participant's round, as the report lists it. */
export interface ClientRoundMetrics {
  readonly clientId: string;
  readonly budget: number;
  readonly trainExamples: number;
  readonly steps: number;
  readonly meanLoss: number;
  readonly lastLoss: number;
  /** Bytes of the encoded update (0 for local-only, whose update never leaves the device). */
  readonly uploadBytes: number;
  /** Bytes of the encoded payload (0 for local-only). */
  readonly downloadBytes: number;
  /** Peak tensor bytes while training, the frozen encoder included. */
  readonly peakBytes: number;
  /** Of which above what was alive at the start of the round (adapters, optimizer state, activations). */
  readonly trainingBytes: number;
  readonly trainableParameters: number;
  readonly trainSeconds: number;
  /** On the client's own held-out split, after its local training (null when the split is empty). */
  readonly personalized: PersonalizedEvaluation | null;
  /** Present when the client is hostile (config.attack): it sent the attacked update, not the one it trained. */
  readonly hostile?: true;
}

export interface ClusterEvaluation extends PersonalizedEvaluation {
  readonly cluster: number;
}

export interface RoundMetrics {
  readonly round: number;
  readonly participants: string[];
  readonly skipped: { readonly clientId: string; readonly reason: string }[];
  readonly clients: ClientRoundMetrics[];
  /** Participants' personalized figures weighted by held-out size (null when nobody was evaluated). */
  readonly personalized: (PersonalizedEvaluation & { readonly clients: number }) | null;
  /** Each cluster (or the global) model on the global test set; null in rounds without global evaluation. */
  readonly global: ClusterEvaluation[] | null;
  readonly bytes: {
    readonly upload: number;
    readonly download: number;
    readonly uploadPerClient: number;
    readonly downloadPerClient: number;
  };
  /** Highest peak of the round's participants, by budget level. */
  readonly peakBytesByBudget: Record<string, number>;
  readonly trainingBytesByBudget: Record<string, number>;
  /** Soft memberships after the round, client id -> pi_k. */
  readonly memberships: Record<string, number[]>;
  readonly diagnostics: Record<string, number>;
  readonly wallSeconds: number;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
}

export interface RunResult {
  readonly seed: number;
  readonly data: {
    readonly dataset: string;
    readonly labelNames: string[];
    readonly poolExamples: number;
    readonly testExamples: number;
    readonly testSource: string;
    readonly clients: ReturnType<typeof describeClients>;
  };
  readonly rounds: RoundMetrics[];
  readonly summary: RunSummary;
}

export interface SimulationResult {
  readonly version: 1;
  readonly config: SimulationConfig;
  readonly environment: Record<string, string | number>;
  /** What each reported number measures. */
  readonly evaluation: Record<string, string>;
  readonly runs: RunResult[];
  readonly summary: SeedsSummary;
}

export interface ProgressEvent {
  readonly seed: number;
  readonly round: number;
  readonly done: number;
  readonly total: number;
  readonly clientId?: string;
  readonly loss?: number;
  readonly personalizedAccuracy?: number;
}

export interface SimulationHooks {
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly log?: (line: string) => void;
  /** Recorded in the report's environment (the command line that ran). */
  readonly command?: string;
}

const EVALUATION_NOTES = {
  personalized:
    "each participant's model right after its local training in that round, on its own held-out split " +
    '(never trained on), weighted by split size',
  global:
    "each cluster's model (the global model for strategies without clusters) after the round's aggregation, " +
    'on the global test set (never used for training or any selection); local-only has none',
  bytes:
    'lengths of the real encoded messages (codec of @fedhft/core at the configured precision), per client and ' +
    'round; local-only payloads and updates never leave the device and count 0',
  memory:
    'tfjs tensor buffers alive at the peak of local training (each buffer once), the frozen encoder included; ' +
    'trainingBytes is the part above what was alive when the round started',
};

// Shared with the coordinator server; re-exported for the simulator's callers.
export { selectClients };

function maxByBudget(entries: { budget: number; value: number }[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const { budget, value } of entries)
    result[String(budget)] = Math.max(result[String(budget)] ?? 0, value);
  return result;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length;
}

interface SeedContext {
  readonly config: SimulationConfig;
  readonly encoder: Encoder;
  readonly meter: MemoryMeter;
  readonly source: SourceData;
  readonly hooks: SimulationHooks;
}

/** A client's local training settings: the run's, with its budget level's memory levers applied. */
export function trainConfig(config: SimulationConfig, budget: number): ClientTrainConfig {
  const levers = config.levers[String(budget)] ?? {};
  const microBatchSize = levers.microBatchSize === undefined ? config.microBatchSize : levers.microBatchSize;
  return {
    epochs: config.localEpochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    roundDecay: config.roundDecay,
    maxSeqLen: config.maxSeqLen,
    checkpoint: levers.checkpoint ?? config.checkpoint,
    loraDropout: config.dropout,
    evalBatchSize: config.evalBatchSize,
    ...(microBatchSize === undefined || microBatchSize === null ? {} : { microBatchSize }),
  };
}

/** The strategy's options for this seed: the configured ones, the starting head and the seed filled in. */
function seedStrategyOptions(
  config: SimulationConfig,
  encoder: Encoder,
  numClasses: number,
  seed: number,
): Record<string, unknown> {
  const options = strategyOptions(config);
  if (config.strategy !== 'fedavg-full' && options.seed === undefined) options.seed = seed;
  if (config.initialHead === 'random' && options.initialHead === undefined) {
    const head = ClassificationHead.forEncoder(encoder, numClasses, derivedSeed(seed, 'initial-head'));
    options.initialHead = head.exportParams();
    head.dispose();
  }
  return options;
}

async function trainClient(
  context: SeedContext,
  client: ClientData,
  offer: Extract<ReturnType<ReturnType<typeof createStrategy>['offer']>, { kind: 'train' }>,
  round: number,
  seed: number,
  limits: DecodeLimits,
  encodeOptions: EncodeOptions,
  hostile = false,
) {
  const started = performance.now();
  const downloadMessage = encodeModelPayload(offer.payload, encodeOptions);
  const payload = decodeModelPayload(downloadMessage, limits);
  const result = await runClientRound(
    context.encoder,
    { payload, plan: offer.plan },
    client.train,
    trainConfig(context.config, client.budget),
    { clientId: client.clientId, round, seed },
    { meter: context.meter, ...(client.heldOut.texts.length > 0 ? { heldOut: client.heldOut } : {}) },
  );
  // A hostile client trains honestly, then replaces its update before encoding it.
  const sent =
    hostile && context.config.attack !== undefined
      ? attackUpdate(result.update, context.config.attack, seed, round)
      : result.update;
  const uploadMessage = encodeUpdate(sent, encodeOptions);
  const update = decodeUpdate(uploadMessage, limits);
  const metrics: ClientRoundMetrics = {
    clientId: client.clientId,
    budget: client.budget,
    trainExamples: client.train.texts.length,
    steps: result.steps,
    meanLoss: mean(result.losses),
    lastLoss: result.losses.at(-1) ?? NaN,
    uploadBytes: offer.local ? 0 : uploadMessage.byteLength,
    downloadBytes: offer.local ? 0 : downloadMessage.byteLength,
    peakBytes: result.peakBytes ?? 0,
    trainingBytes: (result.peakBytes ?? 0) - (result.baseBytes ?? 0),
    trainableParameters: result.trainableParameters,
    trainSeconds: (performance.now() - started) / 1000,
    personalized: result.evaluation ?? null,
    ...(hostile ? { hostile: true as const } : {}),
  };
  return { update, metrics };
}

async function runSeed(context: SeedContext, seed: number): Promise<RunResult> {
  const { config, encoder, hooks } = context;
  const data: FederatedData = federate(context.source, config, seed);
  const numClasses = data.labelNames.length;
  const schema = modelSchema(encoder, {
    numClasses,
    rank: config.rank,
    alpha: config.alpha,
    targets: config.targets,
  });
  const strategy = createStrategy(
    config.strategy as StrategyName,
    schema,
    seedStrategyOptions(config, encoder, numClasses, seed) as never,
  );
  const limits = decodeLimits(schema);
  const encodeOptions: EncodeOptions = {
    precision: config.precision,
    ...(config.headPrecision === undefined ? {} : { headPrecision: config.headPrecision }),
  };
  const byId = new Map(data.clients.map((c) => [c.clientId, c]));
  const hostile = hostileClients(
    data.clients.map((c) => c.clientId),
    config.attack,
    seed,
  );
  const profiles = new Map<string, ClientProfile>(
    data.clients.map((c) => [c.clientId, { clientId: c.clientId, budget: c.budget, exampleCount: 0 }]),
  );
  const perRound = Math.min(
    data.clients.length,
    Math.max(1, Math.round(config.participation * config.clients)),
  );
  const total = perRound * config.rounds;
  let done = 0;
  hooks.onProgress?.({ seed, round: 0, done, total });
  const rounds: RoundMetrics[] = [];
  for (let round = 0; round < config.rounds; round++) {
    const roundStart = performance.now();
    const selected = selectClients([...byId.keys()], config.participation, seed, round);
    // Every offer of the round is made before any update arrives, as over the network.
    const offers = selected.map((clientId) => ({
      clientId,
      offer: strategy.offer(profiles.get(clientId)!, round),
    }));
    const clients: ClientRoundMetrics[] = [];
    const skipped: { clientId: string; reason: string }[] = [];
    for (const { clientId, offer } of offers) {
      if (offer.kind === 'skip') {
        skipped.push({ clientId, reason: offer.reason });
        hooks.onProgress?.({ seed, round, done: ++done, total, clientId });
        continue;
      }
      const client = byId.get(clientId)!;
      const { update, metrics } = await trainClient(
        context,
        client,
        offer,
        round,
        seed,
        limits,
        encodeOptions,
        hostile.has(clientId),
      );
      strategy.receive(update, profiles.get(clientId)!);
      profiles.set(clientId, { ...profiles.get(clientId)!, exampleCount: update.exampleCount });
      clients.push(metrics);
      hooks.onProgress?.({
        seed,
        round,
        done: ++done,
        total,
        clientId,
        loss: metrics.lastLoss,
        ...(metrics.personalized ? { personalizedAccuracy: metrics.personalized.accuracy } : {}),
      });
    }
    const trainSeconds = (performance.now() - roundStart) / 1000;
    const summary = strategy.finishRound(round);
    const evalStart = performance.now();
    let global: ClusterEvaluation[] | null = null;
    if ((round + 1) % config.evalEvery === 0 || round === config.rounds - 1) {
      global = [];
      for (const [cluster, model] of summary.clusterModels.entries()) {
        const result = await evaluateSharedModel(encoder, model, data.test, {
          maxSeqLen: config.maxSeqLen,
          batchSize: config.evalBatchSize,
        });
        global.push({ cluster, ...result });
      }
    }
    const evalSeconds = (performance.now() - evalStart) / 1000;
    const communicating = clients.filter((c) => c.uploadBytes > 0 || c.downloadBytes > 0);
    const upload = clients.reduce((sum, c) => sum + c.uploadBytes, 0);
    const download = clients.reduce((sum, c) => sum + c.downloadBytes, 0);
    const metrics: RoundMetrics = {
      round,
      participants: [...summary.participants],
      skipped,
      clients,
      personalized: weightedEvaluation(clients.flatMap((c) => (c.personalized ? [c.personalized] : []))),
      global,
      bytes: {
        upload,
        download,
        uploadPerClient: communicating.length === 0 ? 0 : upload / communicating.length,
        downloadPerClient: communicating.length === 0 ? 0 : download / communicating.length,
      },
      peakBytesByBudget: maxByBudget(clients.map((c) => ({ budget: c.budget, value: c.peakBytes }))),
      trainingBytesByBudget: maxByBudget(clients.map((c) => ({ budget: c.budget, value: c.trainingBytes }))),
      memberships: Object.fromEntries([...summary.memberships].map(([id, pi]) => [id, Array.from(pi)])),
      diagnostics: { ...(summary.diagnostics ?? {}) },
      wallSeconds: (performance.now() - roundStart) / 1000,
      trainSeconds,
      evalSeconds,
    };
    rounds.push(metrics);
    hooks.log?.(roundLine(seed, metrics));
  }
  return {
    seed,
    data: {
      dataset: data.name,
      labelNames: data.labelNames,
      poolExamples: data.poolExamples,
      testExamples: data.test.texts.length,
      testSource: context.source.testSource,
      clients: describeClients(data),
    },
    rounds,
    summary: summarizeRun(rounds),
  };
}

function percent(value: number | undefined): string {
  return value === undefined ? '-' : `${(100 * value).toFixed(1)}%`;
}

function roundLine(seed: number, m: RoundMetrics): string {
  const best =
    m.global === null || m.global.length === 0 ? undefined : Math.max(...m.global.map((g) => g.accuracy));
  return (
    `seed ${seed} round ${m.round}: ${m.clients.length} trained, personalized ${percent(m.personalized?.accuracy)}, ` +
    `global best ${percent(best)}, up ${(m.bytes.uploadPerClient / 1024).toFixed(1)} KiB/client, ` +
    `down ${(m.bytes.downloadPerClient / 1024).toFixed(1)} KiB/client, ${m.wallSeconds.toFixed(1)} s`
  );
}

/**
 * What several simulations in one process may share (benchmarks): a loaded encoder, which the caller keeps and
 * disposes, and a loaded dataset. Install the memory meter (installMemoryMeter) before loading the encoder, or
 * the client peaks will leave its weights out.
 */
export interface SimulationResources {
  readonly encoder?: Encoder;
  readonly source?: SourceData;
}

/** Runs the configured federation once per seed, in this process, on the configured tfjs backend. */
export async function runSimulation(
  config: SimulationConfig,
  hooks: SimulationHooks = {},
  resources: SimulationResources = {},
): Promise<SimulationResult> {
  const started = performance.now();
  const backend = await activateBackend([config.backend]);
  // Installed before the encoder loads, so the client peaks include the frozen weights a device holds.
  const meter = installMemoryMeter();
  const source = resources.source ?? (await loadSource(config));
  const encoder = resources.encoder ?? (await loadEncoder(config.encoder));
  try {
    const runs: RunResult[] = [];
    for (const seed of config.seeds) {
      runs.push(await runSeed({ config, encoder, meter, source, hooks }, seed));
    }
    return {
      version: 1,
      config,
      environment: {
        ...(hooks.command === undefined ? {} : { command: hooks.command }),
        date: new Date().toISOString(),
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        backend,
        encoder: encoder.id,
        encoderParameters: encoder.weights.parameterCount(),
        wallSeconds: (performance.now() - started) / 1000,
      },
      evaluation: EVALUATION_NOTES,
      runs,
      summary: summarizeRuns(runs.map((r) => r.summary)),
    };
  } finally {
    if (resources.encoder === undefined) encoder.dispose();
  }
}
