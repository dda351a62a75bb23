import { DataFileError, demoShardData, loadLocalData, type LocalDataset } from './data/local-data';
import { readPageConfig, type PageConfig } from './config';
import { BrowserIdentityStore, identityKey, type Locks } from './identity';
import type { CoordinatorLink, FederationSummary, LinkFactory, RoundNotice } from './link';
import { socketLinkFactory } from './link-socket';
import { LocalLink } from './local-link';
import { ClientSession, type RoundRecord } from './session';
import { Trainer } from './trainer';
import { PageView } from './ui/view';
import type { BackendEvent, Capability, ProgressEvent } from './worker/messages';

/**
 * The join page: prefill the form from the link, start the training worker (backend, model, capability probe),
 * read the person's file (or ask the coordinator for a demo shard), join through the socket.io link and train
 * every offered round. "Local round" tries the client against a coordinator simulated in the page instead.
 */

/** The socket.io link; each tab keeps its federation identity as identity.ts describes. */
const SOCKET_LINK: LinkFactory = socketLinkFactory(
  ({ url, federation }) =>
    new BrowserIdentityStore(identityKey(url, federation), {
      local: window.localStorage,
      session: window.sessionStorage,
      locks: (navigator.locks as unknown as Locks | undefined) ?? null,
    }),
);

/** What the page exposes on window.__client (for the browser tests and for debugging). */
export interface ClientPageState {
  phase: string;
  config?: Pick<PageConfig, 'backend' | 'modelUrl' | 'train' | 'probe'>;
  backend?: BackendEvent;
  capability?: Capability;
  budget?: number;
  /** The federation identity, once joined. */
  clientId?: string;
  resumed?: boolean;
  connection?: string;
  /** The coordinator's round and phase (heartbeat replies). */
  server?: { round: number; phase: string };
  /** Refusals the coordinator sent (late updates, ...), newest last. */
  refusals: { round?: number; code: string; reason: string }[];
  /** Rounds whose update the coordinator acknowledged. */
  accepted: number[];
  data?: { train: number; heldOut: number; labelNames: readonly string[]; source: string };
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
  refusals: [],
  accepted: [],
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
/** The coordinator link once Join was pressed (or the demo link joined by itself). */
let link: CoordinatorLink | null = null;
let totalRounds: number | null = null;
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
    showData(dataset, 'file');
    view.log(`data: ${dataset.train.texts.length} train, ${dataset.heldOut.texts.length} held out`);
  } catch (error) {
    state.dataError = (error as Error).message;
    view.dataFailed(state.dataError);
  }
  updateButtons();
}

function showData(data: LocalDataset, source: string, notice?: string): void {
  state.data = {
    train: data.train.texts.length,
    heldOut: data.heldOut.texts.length,
    labelNames: data.labelNames,
    source,
  };
  view.data(data, notice);
}

function updateButtons(): void {
  const ready = state.capability !== undefined && !state.training;
  // One session per page: a local round or a coordinator, not both.
  view.localRound.disabled = !(ready && dataset && link === null);
  view.join.disabled = !(ready && localLink === null && link === null && (view.demo.checked || dataset));
}

function sessionFor(trainer: Trainer, capability: Capability): ClientSession {
  return new ClientSession(trainer, capability, {
    onJoined: (joined) => {
      state.clientId = joined.clientId;
      state.resumed = joined.resumed;
      totalRounds = joined.federation.totalRounds;
      view.client(joined.clientId, joined.resumed);
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
      view.log(
        `round ${notice.round}: ${notice.status} with ${notice.participants} updates` +
          `${notice.included ? ', ours included' : ''}${notice.reason ? ` (${notice.reason})` : ''}`,
      );
    },
    onAccepted: (round, received) => {
      state.accepted.push(round);
      view.log(`round ${round}: update accepted${received === undefined ? '' : ` (${received} so far)`}`);
    },
    onRefused: (round, refusal) => {
      state.refusals.push({ round, code: refusal.code, reason: refusal.reason });
      view.refusal(`Round ${round}: the coordinator refused the update (${refusal.code}): ${refusal.reason}`);
      view.log(`round ${round}: refused (${refusal.code}): ${refusal.reason}`);
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

/** The data a joined page trains on: a demo shard when asked for (and offered), else the picked file. */
function dataFrom(joinedLink: CoordinatorLink, useDemo: boolean) {
  return async (federation: FederationSummary): Promise<LocalDataset> => {
    if (!useDemo) return dataForFederation(federation);
    if (!joinedLink.requestDemoShard) throw new Error('this link cannot ask for demo data');
    const shard = await joinedLink.requestDemoShard();
    const data = demoShardData(shard, federation.labelNames);
    dataset = data;
    showData(data, 'demo', shard.notice);
    view.log(
      `data: ${data.fileName}: ${data.train.texts.length} train, ${data.heldOut.texts.length} held out`,
    );
    return data;
  };
}

async function joinCoordinator(trainer: Trainer, capability: Capability): Promise<void> {
  const url = view.coordinator.value.trim();
  const token = view.token.value.trim();
  const federation = view.federation.value.trim();
  if (url === '' || token === '' || federation === '') {
    throw new Error('fill in the coordinator URL, the federation and the token');
  }
  const useDemo = view.demo.checked;
  const created = SOCKET_LINK({ url, token, federation });
  link = created;
  updateButtons();
  created.onState?.((connection, detail) => {
    state.connection = connection;
    const line = {
      connected: 'Connected',
      disconnected: 'Disconnected',
      reconnecting: 'Connection lost, reconnecting',
    };
    view.connection(`${line[connection]}${detail ? `: ${detail}` : ''}`);
    view.log(`connection: ${connection}${detail ? ` (${detail})` : ''}`);
  });
  created.onRefused?.((refusal) => {
    state.refusals.push({ code: refusal.code, reason: refusal.reason });
    view.refusal(`The coordinator refused ${refusal.event} (${refusal.code}): ${refusal.reason}`);
  });
  created.onServerStatus?.((status) => {
    state.server = { round: status.round, phase: status.phase };
    const all = totalRounds === null ? '' : ` (${totalRounds} rounds in all)`;
    view.federationStatus(
      status.phase === 'finished'
        ? `finished${all}`
        : `round ${status.round}: ${status.phase === 'training' ? 'in progress' : 'waiting to start'}${all}`,
    );
  });
  view.connection(`Connecting to ${url}…`);
  session = sessionFor(trainer, capability);
  try {
    await session.attach(created, dataFrom(created, useDemo));
  } catch (error) {
    session.detach();
    created.close();
    link = null;
    session = null;
    updateButtons();
    throw error;
  }
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
  view.federation.value = config.federation;
  view.demo.checked = config.demo;
  view.file.addEventListener('change', () => void onFilePicked());
  view.demo.addEventListener('change', updateButtons);

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
      link?.setActivity?.('training', (event.step + 1) / Math.max(1, event.totalSteps));
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
      ...(config.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: config.maxMemoryBytes }),
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
  const join = () => {
    view.refusal(null);
    joinCoordinator(trainer, capability).catch((error: unknown) => {
      view.connection(`Not joined: ${(error as Error).message}`);
      fail((error as Error).message);
    });
  };
  view.joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!view.join.disabled) join();
  });
  // A demo link (npm start's) needs nothing from the person: join as soon as the worker is ready.
  if (config.demo && config.coordinator !== '' && config.token !== '') join();
  view.localRound.addEventListener('click', () => {
    view.localRound.disabled = true;
    runLocalRound(trainer, capability, config).catch((error: unknown) => {
      fail((error as Error).message);
      updateButtons();
    });
  });
}

void start();
