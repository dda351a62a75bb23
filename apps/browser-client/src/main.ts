import { DataFileError, loadLocalData, type LocalDataset } from './data/local-data';
import { readPageConfig, type PageConfig } from './config';
import type { FederationSummary, LinkFactory, RoundNotice } from './link';
import { LocalLink } from './local-link';
import { ClientSession, type RoundRecord } from './session';
import { Trainer } from './trainer';
import { PageView } from './ui/view';
import type { BackendEvent, Capability, ProgressEvent } from './worker/messages';

/**
 * The join page: prefill the form from the link, start the training worker (backend, model, capability probe),
 * read the person's file, and run rounds through a CoordinatorLink. Until the socket.io link is plugged in
 * (SOCKET_LINK), the "Local round" button runs a round against a coordinator simulated in the page.
 */

/** The socket.io link factory (issue 7); null until it exists, and Join says so. */
const SOCKET_LINK: LinkFactory | null = null;

/** What the page exposes on window.__client (for the browser tests and for debugging). */
export interface ClientPageState {
  phase: string;
  config?: Pick<PageConfig, 'backend' | 'modelUrl' | 'train' | 'probe'>;
  backend?: BackendEvent;
  capability?: Capability;
  budget?: number;
  data?: { train: number; heldOut: number; labelNames: readonly string[] };
  dataError?: string;
  progress: ProgressEvent[];
  rounds: (RoundRecord & { framesDuring: number; longestFrameGapMs: number })[];
  notices: RoundNotice[];
  memberships?: readonly number[];
  bytesSent: number;
  bytesReceived: number;
  /** requestAnimationFrame callbacks so far: advances only while the page's main thread is free. */
  frames: number;
  training: boolean;
  errors: string[];
}

declare global {
  interface Window {
    __client?: ClientPageState;
  }
}

const state: ClientPageState = {
  phase: 'starting',
  progress: [],
  rounds: [],
  notices: [],
  bytesSent: 0,
  bytesReceived: 0,
  frames: 0,
  training: false,
  errors: [],
};
window.__client = state;

const view = new PageView();

function fail(message: string): void {
  state.errors.push(message);
  view.log(`error: ${message}`);
  view.trainFailed(message);
}

// Frame counter and the longest gap between frames while the worker trains (the page must stay responsive).
let lastFrame = 0;
let framesAtStart = 0;
let longestGap = 0;
function onFrame(now: number): void {
  state.frames++;
  if (state.training && lastFrame > 0) longestGap = Math.max(longestGap, now - lastFrame);
  lastFrame = now;
  if (state.frames % 10 === 0) view.frames(state.frames);
  requestAnimationFrame(onFrame);
}
requestAnimationFrame(onFrame);

let picked: File | null = null;
let dataset: LocalDataset | null = null;
let session: ClientSession | null = null;
let localLink: LocalLink | null = null;
let trainingRound: { framesDuring: number; longestFrameGapMs: number } | null = null;

async function readData(labelNames?: readonly string[]): Promise<LocalDataset> {
  if (!picked) throw new DataFileError('pick a data file first');
  return loadLocalData(picked, {
    textColumn: view.textColumn.value,
    labelColumn: view.labelColumn.value,
    ...(labelNames ? { labelNames } : {}),
  });
}

async function onFilePicked(): Promise<void> {
  picked = view.file.files?.[0] ?? null;
  dataset = null;
  state.data = undefined;
  state.dataError = undefined;
  if (!picked) return;
  try {
    dataset = await readData();
    state.data = {
      train: dataset.train.texts.length,
      heldOut: dataset.heldOut.texts.length,
      labelNames: dataset.labelNames,
    };
    view.data(dataset);
    view.log(`data: ${dataset.train.texts.length} train, ${dataset.heldOut.texts.length} held out`);
  } catch (error) {
    state.dataError = (error as Error).message;
    view.dataFailed(state.dataError);
  }
  updateButtons();
}

function updateButtons(): void {
  view.localRound.disabled = !(state.capability && dataset && !state.training);
}

function sessionFor(trainer: Trainer, capability: Capability): ClientSession {
  return new ClientSession(trainer, capability, {
    onJoined: (joined) => {
      view.connection(
        `${joined.resumed ? 'Rejoined' : 'Joined'} ${joined.federation.id} as ${joined.clientId} ` +
          `(${joined.federation.strategy}, round ${joined.federation.round})`,
      );
    },
    onBudget: (budget) => {
      state.budget = budget;
      view.budget(budget);
    },
    onOffer: (offer) => {
      view.log(
        offer.kind === 'skip'
          ? `round ${offer.round}: skipped (${offer.reason})`
          : `round ${offer.round}: offer ${offer.offerId}`,
      );
    },
    onTraining: (training) => {
      state.training = training;
      if (training) {
        framesAtStart = state.frames;
        longestGap = 0;
        view.trainFailed(null);
      } else {
        trainingRound = { framesDuring: state.frames - framesAtStart, longestFrameGapMs: longestGap };
      }
      updateButtons();
    },
    onRoundTrained: (record) => {
      state.rounds.push({ ...record, ...(trainingRound ?? { framesDuring: 0, longestFrameGapMs: 0 }) });
      view.roundDone(record.round, record.metrics);
      view.log(
        `round ${record.round}: ${record.metrics.steps} steps, loss ${record.metrics.lastLoss.toFixed(4)}, ` +
          `update ${record.updateBytes} bytes, ${record.metrics.tokensPerSecond.toFixed(0)} tokens/s`,
      );
    },
    onNotice: (notice) => {
      state.notices.push(notice);
      if (notice.memberships) {
        state.memberships = notice.memberships;
        view.memberships(notice.memberships);
      }
      view.log(`round ${notice.round}: ${notice.status}${notice.included ? ', our update included' : ''}`);
    },
    onBytes: (sent, received) => {
      state.bytesSent = sent;
      state.bytesReceived = received;
      view.bytes(sent, received);
    },
    onError: fail,
  });
}

async function dataForFederation(federation: FederationSummary): Promise<LocalDataset> {
  const data = await readData(federation.labelNames);
  dataset = data;
  return data;
}

async function runLocalRound(trainer: Trainer, capability: Capability, config: PageConfig): Promise<void> {
  if (!dataset) throw new Error('pick a data file first');
  if (!localLink) {
    const link = new LocalLink({
      numClasses: dataset.labelNames.length,
      labelNames: dataset.labelNames,
      rank: config.rank,
      alpha: config.alpha,
      targets: ['query', 'value'],
      clusters: config.clusters,
      train: config.train,
      precision: 'fp32',
      seed: config.seed,
    });
    session = sessionFor(trainer, capability);
    const { schema } = await session.attach(link, dataForFederation);
    link.setSchema(schema);
    localLink = link;
  }
  localLink.offerRound();
}

async function start(): Promise<void> {
  let config: PageConfig;
  try {
    config = readPageConfig(window.location);
  } catch (error) {
    fail((error as Error).message);
    return;
  }
  state.config = {
    backend: config.backend,
    modelUrl: config.modelUrl,
    train: config.train,
    probe: config.probe,
  };
  view.coordinator.value = config.coordinator;
  view.token.value = config.token;
  view.file.addEventListener('change', () => void onFilePicked());
  view.joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!SOCKET_LINK) {
      view.connection('Joining a coordinator is not available in this build yet: use "Local round".');
    }
  });

  const trainer = new Trainer({
    onBackend: (event) => {
      state.backend = event;
      view.backend(event);
      view.log(event.backend === 'webgpu' ? 'backend: webgpu' : `backend: wasm (${event.fallback})`);
    },
    onStatus: (event) => {
      state.phase = event.phase;
      view.status(event.phase);
    },
    onProgress: (event) => {
      state.progress.push(event);
      view.progress(event);
      view.log(
        `round ${event.round} step ${event.step + 1}/${event.totalSteps}: loss ${event.loss.toFixed(4)}`,
      );
    },
    onError: fail,
  });
  let capability: Capability;
  try {
    capability = await trainer.init({
      modelUrl: config.modelUrl,
      backend: config.backend,
      probe: config.probe,
    });
  } catch (error) {
    state.phase = 'failed';
    view.status('failed');
    fail((error as Error).message);
    return;
  }
  state.capability = capability;
  view.capability(capability);
  view.log(
    `capability: ${capability.tokensPerSecond.toFixed(0)} tokens/s, peak ${capability.peakBytes} bytes`,
  );
  updateButtons();
  view.localRound.addEventListener('click', () => {
    view.localRound.disabled = true;
    runLocalRound(trainer, capability, config).catch((error: unknown) => {
      fail((error as Error).message);
      updateButtons();
    });
  });
}

void start();
