// The training worker: owns tfjs, the encoder and the person's data, so the page stays responsive while it
// trains. It answers the page's requests one at a time, in arrival order.
import {
  installMemoryMeter,
  loadUseLite,
  modelSchema,
  urlModelFiles,
  type Encoder,
  type MemoryMeter,
} from '@fedhft/adapters';
import type { ModelSchema } from '@fedhft/core';
import { startBackend, watchGpuErrors } from './backend';
import { measureTraining, memoryOffer } from './capability';
import {
  parsePageMessage,
  type ConfigureRequest,
  type DataRequest,
  type InitRequest,
  type PageMessage,
  type TrainRequest,
  type TrainingBackend,
  type WorkerMessage,
} from './messages';
import { trainOfferedRound, type LocalData } from './round';

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}
const scope = self as unknown as WorkerScope;

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

interface State {
  backend?: TrainingBackend;
  encoder?: Encoder;
  meter?: MemoryMeter;
  schema?: ModelSchema;
  data?: LocalData;
  numClasses?: number;
}
const state: State = {};

function need<K extends keyof State>(key: K, what: string): NonNullable<State[K]> {
  const value = state[key];
  if (value === undefined) throw new Error(`${what} first`);
  return value as NonNullable<State[K]>;
}

async function init(request: InitRequest): Promise<void> {
  if (state.encoder) throw new Error('the worker is already initialised');
  post({ type: 'status', phase: 'backend' });
  const backend = await startBackend(request.backend);
  state.backend = backend.backend;
  post({ type: 'backend', ...backend });
  if (backend.backend === 'webgpu')
    watchGpuErrors((message) => post({ type: 'error', message: `webgpu: ${message}` }));
  // Installed before the encoder loads, so peaks count the frozen weights as the device holds them.
  state.meter = installMemoryMeter();
  post({ type: 'status', phase: 'model' });
  const loadStarted = performance.now();
  state.encoder = await loadUseLite(urlModelFiles(request.modelUrl));
  const modelSeconds = (performance.now() - loadStarted) / 1000;
  post({ type: 'status', phase: 'probe' });
  const probe = await measureTraining(state.encoder, state.meter, request.probe);
  const memory = memoryOffer(
    (navigator as unknown as { deviceMemory?: number }).deviceMemory,
    request.maxMemoryBytes,
  );
  post({
    type: 'ready',
    replyTo: request.id,
    capability: {
      backend: backend.backend,
      tokensPerSecond: probe.tokensPerSecond,
      stepSeconds: probe.stepSeconds,
      batch: request.probe.batch,
      seqLen: probe.seqLen,
      peakBytes: probe.peakBytes,
      trainingBytes: probe.trainingBytes,
      memoryBytes: memory.bytes,
      memorySource: memory.source,
      modelSeconds,
    },
  });
  post({ type: 'status', phase: 'ready' });
}

function configure(request: ConfigureRequest): void {
  const encoder = need('encoder', 'initialise the worker');
  if (state.numClasses !== undefined && state.numClasses !== request.numClasses) {
    throw new Error(`the local data has ${state.numClasses} classes, the federation ${request.numClasses}`);
  }
  const { numClasses, rank, alpha, targets } = request;
  state.schema = modelSchema(encoder, { numClasses, rank, alpha, targets });
  state.numClasses = numClasses;
  const schema = state.schema;
  post({
    type: 'schema',
    replyTo: request.id,
    schema: {
      adapted: schema.adapted.map((w) => ({ ...w })),
      dense: schema.dense.map((w) => ({ name: w.name, shape: [...w.shape] })),
      embeddingSize: schema.embeddingSize,
      numClasses: schema.numClasses,
      rank: schema.rank,
      alpha: schema.alpha,
    },
  });
}

function setData(request: DataRequest): void {
  if (state.schema && state.schema.numClasses !== request.numClasses) {
    throw new Error(`the file has ${request.numClasses} classes, the federation ${state.schema.numClasses}`);
  }
  for (const part of [request.train, request.heldOut]) {
    const bad = part.labels.find((label) => label >= request.numClasses);
    if (bad !== undefined) throw new Error(`label ${bad} is not below the ${request.numClasses} classes`);
  }
  state.data = { train: request.train, heldOut: request.heldOut };
  state.numClasses = request.numClasses;
  post({
    type: 'data-ready',
    replyTo: request.id,
    trainExamples: request.train.texts.length,
    heldOutExamples: request.heldOut.texts.length,
  });
}

async function train(request: TrainRequest): Promise<void> {
  const encoder = need('encoder', 'initialise the worker');
  const schema = need('schema', 'configure the model');
  const data = need('data', 'pick a data file');
  post({ type: 'status', phase: 'training' });
  try {
    const { bytes, metrics } = await trainOfferedRound(
      encoder,
      schema,
      { ...request, payload: new Uint8Array(request.payload) },
      data,
      {
        meter: need('meter', 'initialise the worker'),
        onStep: (step, totalSteps, loss) =>
          post({ type: 'progress', round: request.round, step, totalSteps, loss }),
        onEvaluate: () => post({ type: 'status', phase: 'evaluating' }),
      },
    );
    // encodeUpdate returns a view on its own buffer: hand over exactly the update's bytes.
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    post(
      {
        type: 'update',
        replyTo: request.id,
        round: request.round,
        offerId: request.offerId,
        bytes: buffer,
        metrics,
      },
      [buffer],
    );
  } finally {
    post({ type: 'status', phase: 'ready' });
  }
}

async function handle(message: PageMessage): Promise<void> {
  switch (message.type) {
    case 'init':
      return init(message);
    case 'configure':
      return configure(message);
    case 'data':
      return setData(message);
    case 'train':
      return train(message);
  }
}

// One request at a time: training must not interleave with a reconfiguration or new data.
let queue: Promise<void> = Promise.resolve();

scope.addEventListener('message', (event: MessageEvent) => {
  let message: PageMessage;
  try {
    message = parsePageMessage(event.data);
  } catch (error) {
    const id = (event.data as { id?: unknown } | null)?.id;
    post({
      type: 'error',
      ...(typeof id === 'number' && Number.isInteger(id) && id >= 0 ? { replyTo: id } : {}),
      message: (error as Error).message,
    });
    return;
  }
  queue = queue.then(() =>
    handle(message).catch((error: unknown) =>
      post({
        type: 'error',
        replyTo: message.id,
        message: error instanceof Error ? error.message : String(error),
      }),
    ),
  );
});
