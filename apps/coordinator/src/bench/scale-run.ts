import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { ModelSchema } from '@fedhft/core';
import { Coordinator, parseFederationConfig, type FederationEvent, type RoundRecord } from '../server/index';
import type { ClientsMessage, ClientsOptions, ClientsStats } from './scale-clients';

/**
 * One point of the scale benchmark: a coordinator in this process, `clients` lightweight socket.io clients in
 * `processes` child processes (scale-clients.ts) on loopback, `rounds` FedHFT rounds that wait for every
 * client. Measures joining, each round's phases from the coordinator's own events, and this process's memory
 * after forced garbage collections at fixed points (so the figures are live data, not garbage).
 */

export interface ScaleOptions {
  readonly clients: number;
  readonly processes: number;
  readonly rounds: number;
  /** Width of the synthetic model: `layers` x (query, value) adapted weights of width x width. */
  readonly width: number;
  readonly layers: number;
  readonly rank: number;
  /** K_c. */
  readonly clusters: number;
  /** Limits of the steps: all clients joined, and each round (the round's deadline is this too). */
  readonly joinTimeoutMs: number;
  readonly roundTimeoutMs: number;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
  /** Test hook: the server drops this many client connections as soon as round 0's offers are out. */
  readonly dropConnections?: number;
}

export interface MemorySample {
  readonly heapUsed: number;
  /** Buffers outside the V8 heap (sockets' and codec's bytes). */
  readonly external: number;
  readonly rss: number;
}

export interface RoundFigures {
  readonly round: number;
  readonly status: RoundRecord['status'];
  readonly participants: number;
  readonly closedBy: RoundRecord['closedBy'];
  /** Round start -> every offer built and handed to socket.io. */
  readonly offersMs: number;
  /** Offers out -> the last update accepted. */
  readonly collectMs: number;
  /** Last update accepted -> the strategy's round finished and the checkpoint written. */
  readonly aggregateMs: number;
  /** Last update accepted -> the round closed (checkpoint, client registry, every round notice sent). */
  readonly closeMs: number;
  /** Round start -> closed. */
  readonly roundMs: number;
  readonly uploadBytes: number;
  readonly downloadBytes: number;
  /** After a forced GC with every update folded in, before the round is aggregated. */
  readonly memoryAllReceived: MemorySample | null;
  /** After a forced GC once the round closed. */
  readonly memoryAfter: MemorySample;
  /** Largest of samples every 100 ms during the round (no GC: garbage included). */
  readonly peakRss: number;
  readonly peakHeapUsed: number;
  /** Connections the server lost during the round (clients reconnect with their identity). */
  readonly clientsLeft: number;
  readonly diagnostics: Record<string, number>;
}

export interface ScalePoint {
  readonly clients: number;
  readonly processes: number;
  readonly joined: number;
  /** Children forked -> every client joined with a budget. */
  readonly joinMs: number;
  readonly memoryBaseline: MemorySample;
  /** With every client joined, before the first round. */
  readonly memoryJoined: MemorySample | null;
  readonly rounds: RoundFigures[];
  /** Connections the server lost before the bench closed the clients (each reconnects with its identity). */
  readonly clientsLeft: number;
  /** Summed over the client processes. */
  readonly clientStats: ClientsStats | null;
  /** Floats of the strategy's streaming aggregation state, K_c x (sum of dOut x dIn + head). */
  readonly aggregatorFloats: number;
  readonly wallMs: number;
  /** Why the point stopped early (a step ran past its limit, a process failed). */
  readonly error?: string;
}

const CHILD = fileURLToPath(new URL('./scale-clients.ts', import.meta.url));
const FEDERATION = 'scale';
const TOKEN = 'scale-bench-token';
const NUM_CLASSES = 2;

v8.setFlagsFromString('--expose-gc');
/** Forced full GC (exposed at run time, so the bench needs no node flag). */
const collect = ((globalThis as { gc?: () => void }).gc ?? vm.runInNewContext('gc')) as () => void;

export function memoryNow(gc: boolean): MemorySample {
  if (gc) collect();
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heapUsed, external, rss };
}

/** A model of the given shape without loading an encoder: the server needs only names and dims. */
export function scaleSchema(width: number, layers: number, rank: number): ModelSchema {
  const adapted = Array.from({ length: layers }, (_, l) =>
    ['query', 'value'].map((p) => ({ name: `layers.${l}.attention.${p}`, dOut: width, dIn: width })),
  ).flat();
  return { adapted, dense: [], embeddingSize: width, numClasses: NUM_CLASSES, rank, alpha: 2 * rank };
}

interface Child {
  readonly process: ChildProcess;
  ready: Promise<Extract<ClientsMessage, { type: 'ready' }>>;
  stats: Promise<ClientsStats | null>;
}

function forkClients(options: ClientsOptions): Child {
  const child = fork(CHILD, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'] });
  let onReady: (m: Extract<ClientsMessage, { type: 'ready' }>) => void = () => {};
  let onFailure: (error: Error) => void = () => {};
  let onStats: (s: ClientsStats | null) => void = () => {};
  const ready = new Promise<Extract<ClientsMessage, { type: 'ready' }>>((resolve, reject) => {
    onReady = resolve;
    onFailure = reject;
  });
  ready.catch(() => {}); // read by the caller; a late failure must not crash the bench
  const stats = new Promise<ClientsStats | null>((resolve) => (onStats = resolve));
  child.on('message', (message: ClientsMessage) => {
    if (message.type === 'ready') onReady(message);
    else if (message.type === 'failure') onFailure(new Error(message.message));
    else onStats(message.stats);
  });
  child.on('exit', (code, signal) => {
    onFailure(new Error(`client process ${options.processIndex} exited (${signal ?? `code ${code}`})`));
    onStats(null);
  });
  return { process: child, ready, stats };
}

function sumStats(all: (ClientsStats | null)[]): ClientsStats | null {
  const present = all.filter((s): s is ClientsStats => s !== null);
  if (present.length === 0) return null;
  const notices: Record<number, number> = {};
  for (const s of present) {
    for (const [round, n] of Object.entries(s.notices))
      notices[Number(round)] = (notices[Number(round)] ?? 0) + n;
  }
  const disconnects: Record<string, number> = {};
  for (const s of present) {
    for (const [reason, n] of Object.entries(s.disconnects))
      disconnects[reason] = (disconnects[reason] ?? 0) + n;
  }
  type Counter = Exclude<keyof ClientsStats, 'notices' | 'disconnects'>;
  const sum = (key: Counter) => present.reduce((total, s) => total + s[key], 0);
  return {
    uploads: sum('uploads'),
    refusedUploads: sum('refusedUploads'),
    lostUploads: sum('lostUploads'),
    heartbeats: sum('heartbeats'),
    notices,
    bytesDown: sum('bytesDown'),
    bytesUp: sum('bytesUp'),
    encodeMs: sum('encodeMs'),
    disconnects,
    reconnects: sum('reconnects'),
    failedReconnects: sum('failedReconnects'),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Tracks one round through the coordinator's events. */
class RoundWatch {
  offersAt = 0;
  lastUpdateAt = 0;
  checkpointAt = 0;
  gcMs = 0;
  received = 0;
  selected = 0;
  left = 0;
  memoryAllReceived: MemorySample | null = null;
  peakRss = 0;
  peakHeapUsed = 0;
  constructor(readonly round: number) {}
}

export async function runScalePoint(options: ScaleOptions): Promise<ScalePoint> {
  const started = Date.now();
  const { clients, processes, rounds } = options;
  const schema = scaleSchema(options.width, options.layers, options.rank);
  const config = parseFederationConfig({
    id: FEDERATION,
    token: TOKEN,
    encoder: `synthetic-${options.width}x${options.layers}`,
    numClasses: NUM_CLASSES,
    rank: options.rank,
    alpha: 2 * options.rank,
    strategy: 'fedhft',
    clusters: options.clusters,
    strategyOptions: { warmupRounds: 1 },
    initialHead: 'zeros',
    rounds,
    // The bench starts the rounds once every client is ready (as an admin's Start would), and a round is
    // aggregated only with every update. Auto-start would instead re-count the ready clients at every capability
    // report until minClients = N are in (O(N^2) in total; with the usual small minClients it stops at once).
    autoStart: false,
    minClients: clients,
    roundTimeoutMs: options.roundTimeoutMs,
    roundDelayMs: 500,
  });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fedhft-scale-'));
  const coordinator = await Coordinator.start({
    dataDir,
    port: 0,
    federations: [{ config, schema }],
    joinLimit: { perAddress: clients, windowMs: 60_000 },
  });
  // Let the previous point's closed connections and timers go before the baseline.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  memoryNow(true);
  const memoryBaseline = memoryNow(true);
  let memoryJoined: MemorySample | null = null;
  let ready = 0;
  let left = 0;
  const figures: RoundFigures[] = [];
  const watches = new Map<number, RoundWatch>();
  let roundsDone: () => void = () => {};
  const allRoundsDone = new Promise<void>((resolve) => (roundsDone = resolve));
  let roundProblem: string | null = null;

  const onEvent = (event: FederationEvent) => {
    const now = Date.now();
    switch (event.type) {
      case 'capabilities':
        ready++;
        options.onProgress?.('join', ready, clients);
        if (ready === clients) {
          memoryJoined = memoryNow(true);
          setImmediate(() => coordinator.federations.get(FEDERATION)?.startRounds());
        }
        break;
      case 'client-left':
        left++;
        for (const watch of watches.values()) watch.left++;
        break;
      case 'round-started': {
        const watch = new RoundWatch(event.round);
        watch.offersAt = now;
        watch.selected = event.selected.length;
        watches.set(event.round, watch);
        options.onProgress?.(`round ${event.round}`, 0, watch.selected);
        if (event.round === 0 && options.dropConnections) {
          const sockets = [...coordinator.io.of('/').sockets.values()];
          for (const socket of sockets.slice(0, options.dropConnections)) socket.disconnect(true);
        }
        break;
      }
      case 'update-accepted': {
        const watch = watches.get(event.round);
        if (!watch) break;
        watch.received++;
        options.onProgress?.(`round ${event.round}`, watch.received, watch.selected);
        if (watch.received === watch.selected) {
          // Every update is folded in and the round closes on the next turn of the event loop: measure here.
          watch.lastUpdateAt = now;
          watch.memoryAllReceived = memoryNow(true);
          watch.gcMs = Date.now() - now;
        }
        break;
      }
      case 'checkpoint': {
        const watch = watches.get(event.nextRound - 1);
        if (watch && watch.checkpointAt === 0) watch.checkpointAt = now;
        break;
      }
      case 'round-closed': {
        const { record } = event;
        const watch = watches.get(record.round);
        if (!watch) break;
        const memoryAfter = memoryNow(true);
        const last = watch.lastUpdateAt + watch.gcMs;
        figures.push({
          round: record.round,
          status: record.status,
          participants: record.participants.length,
          closedBy: record.closedBy,
          offersMs: watch.offersAt - record.startedAt,
          collectMs: watch.lastUpdateAt > 0 ? watch.lastUpdateAt - watch.offersAt : NaN,
          aggregateMs: watch.lastUpdateAt > 0 && watch.checkpointAt > 0 ? watch.checkpointAt - last : NaN,
          closeMs: watch.lastUpdateAt > 0 ? now - last : NaN,
          roundMs: now - record.startedAt - watch.gcMs,
          uploadBytes: record.bytes.upload,
          downloadBytes: record.bytes.download,
          memoryAllReceived: watch.memoryAllReceived,
          memoryAfter,
          peakRss: watch.peakRss,
          peakHeapUsed: watch.peakHeapUsed,
          clientsLeft: watch.left,
          diagnostics: record.diagnostics,
        });
        watches.delete(record.round);
        if (record.status !== 'aggregated') {
          roundProblem = `round ${record.round} failed: ${record.reason ?? 'unknown'}`;
          coordinator.federations.get(FEDERATION)?.pauseRounds();
        }
        if (roundProblem !== null || figures.length === rounds) roundsDone();
        break;
      }
    }
  };
  coordinator.on('event', onEvent);
  const sampler = setInterval(() => {
    const { rss, heapUsed } = process.memoryUsage();
    for (const watch of watches.values()) {
      watch.peakRss = Math.max(watch.peakRss, rss);
      watch.peakHeapUsed = Math.max(watch.peakHeapUsed, heapUsed);
    }
  }, 100);

  const children: Child[] = [];
  let error: string | undefined;
  let joined = 0;
  let joinMs = NaN;
  try {
    const joinStarted = Date.now();
    for (let p = 0; p < processes; p++) {
      const count = Math.floor(clients / processes) + (p < clients % processes ? 1 : 0);
      if (count === 0) continue;
      children.push(
        forkClients({
          url: coordinator.url,
          federation: FEDERATION,
          token: TOKEN,
          count,
          processIndex: p,
          connectConcurrency: 50,
          requestTimeoutMs: Math.max(30_000, options.roundTimeoutMs),
        }),
      );
    }
    const replies = await withTimeout(
      Promise.all(children.map((c) => c.ready)),
      options.joinTimeoutMs,
      `joining ${clients} clients`,
    );
    joined = replies.reduce((sum, r) => sum + r.joined, 0);
    joinMs = Date.now() - joinStarted;
    const failures = replies.flatMap((r) => r.failures);
    if (joined < clients) throw new Error(`${joined} of ${clients} clients joined: ${failures.join('; ')}`);
    await withTimeout(allRoundsDone, rounds * (options.roundTimeoutMs + 30_000), `${rounds} rounds`);
    if (roundProblem !== null) throw new Error(roundProblem);
  } catch (caught) {
    error = (caught as Error).message;
    if (Number.isNaN(joinMs)) joined = ready;
  } finally {
    clearInterval(sampler);
    coordinator.off('event', onEvent);
  }
  const clientsLeft = left;
  for (const child of children) child.process.send({ type: 'exit' }, () => {});
  const stats = await Promise.all(
    children.map((child) =>
      withTimeout(child.stats, 20_000, 'client statistics').catch(() => {
        child.process.kill('SIGKILL');
        return null;
      }),
    ),
  );
  await coordinator.close();
  await rm(dataDir, { recursive: true, force: true });
  const modelFloats = schema.adapted.reduce((sum, w) => sum + w.dOut * w.dIn, 0);
  return {
    clients,
    processes: children.length,
    joined,
    joinMs,
    memoryBaseline,
    memoryJoined,
    clientsLeft,
    rounds: figures.sort((a, b) => a.round - b.round),
    clientStats: sumStats(stats),
    aggregatorFloats: options.clusters * (modelFloats + (schema.embeddingSize + 1) * NUM_CLASSES),
    wallMs: Date.now() - started,
    ...(error === undefined ? {} : { error }),
  };
}
