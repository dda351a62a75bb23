import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from '@playwright/test';
import {
  attachWeb,
  Coordinator,
  DemoShards,
  federationSetup,
  parseFederationConfig,
  type FederationConfigInput,
  type FederationEvent,
  type FederationMetrics,
  type FederationState,
  type Web,
} from '@fedhft/coordinator';
import { encodeUpdate, keptRowCount, PROTOCOL_VERSION, type ModelSchema, type Precision } from '@fedhft/core';
import type { ClientPageState } from '../../apps/browser-client/src/main';
import type { Corpus } from './corpus';

/**
 * A real coordinator in the test process (socket.io, HTTP API, model files, the client page and the dashboard
 * through Vite) and browser tabs that join it through the client page, for the multi-tab e2e scenarios.
 */

export const TOKEN = 'e2e-join-token';
export const ADMIN_TOKEN = 'e2e-admin-token';
const GIB = 2 ** 30;

/** Budget levels by offered memory only (tabs choose theirs with the page's maxMemory). */
export const BUDGET_LEVELS = [
  { budget: 1, minMemoryBytes: 2 * GIB, minTokensPerSecond: 0 },
  { budget: 0.5, minMemoryBytes: 1 * GIB, minTokensPerSecond: 0 },
  { budget: 0.25, minMemoryBytes: 0, minTokensPerSecond: 0 },
];

/** maxMemory (MiB) that gives each budget level under BUDGET_LEVELS; undefined: the device's own offer. */
export const MEMORY_FOR_BUDGET: Record<string, number | undefined> = {
  '1': undefined,
  '0.5': 1536,
  '0.25': 512,
};

export interface RunningFederation {
  readonly coordinator: Coordinator;
  readonly web: Web;
  readonly url: string;
  readonly id: string;
  readonly schema: ModelSchema;
  readonly precision: Precision;
  /** Every event of the run, in order. */
  readonly events: FederationEvent[];
  state(): FederationState;
  metrics(): Promise<FederationMetrics>;
  /** Resolves with the first event (past or future) that matches. */
  waitFor<T extends FederationEvent['type']>(
    type: T,
    match?: (event: Extract<FederationEvent, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<FederationEvent, { type: T }>>;
  /** Starts rounds through the HTTP API with the admin token (the federation starts paused). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface FederationOptions {
  readonly config: Partial<FederationConfigInput>;
  readonly corpus: Corpus;
  readonly demo: { readonly shards: number; readonly alpha: number; readonly seed?: number };
  readonly log?: (line: string) => void;
}

export async function startFederation(options: FederationOptions): Promise<RunningFederation> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fedhft-e2e-federation-'));
  const config = parseFederationConfig({
    id: 'e2e',
    token: TOKEN,
    adminToken: ADMIN_TOKEN,
    autoStart: false,
    encoder: 'use-lite',
    numClasses: 2,
    labelNames: options.corpus.labelNames,
    budgetLevels: BUDGET_LEVELS,
    ...options.config,
  });
  // The server loads USE Lite once for the shapes; the demo shards come from the test's corpus.
  const setup = await federationSetup(config);
  const demo = DemoShards.fromDataset(options.corpus, {
    shards: options.demo.shards,
    alpha: options.demo.alpha,
    examples: options.corpus.texts.length,
    seed: options.demo.seed ?? 0,
    corpus: options.corpus.name,
  });
  const log = options.log ?? (() => {});
  const coordinator = await Coordinator.start({ federations: [{ ...setup, demo }], dataDir, port: 0, log });
  const events: FederationEvent[] = [];
  const waiters = new Set<(event: FederationEvent) => void>();
  coordinator.on('event', (event: FederationEvent) => {
    events.push(event);
    for (const waiter of [...waiters]) waiter(event);
  });
  const web = await attachWeb(coordinator, { pages: true, log });
  const url = coordinator.url;
  const id = config.id;
  return {
    coordinator,
    web,
    url,
    id,
    schema: setup.schema,
    precision: config.precision,
    events,
    state: () => coordinator.federations.get(id)!.state(),
    metrics: async () => {
      const response = await fetch(`${url}/api/federations/${id}/metrics`);
      if (!response.ok) throw new Error(`metrics: HTTP ${response.status}`);
      return (await response.json()) as FederationMetrics;
    },
    waitFor: (type, match = () => true, timeoutMs = 120_000) => {
      type Wanted = Extract<FederationEvent, { type: typeof type }>;
      const past = events.find((e) => e.type === type && match(e as Wanted));
      if (past) return Promise.resolve(past as Wanted);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no ${type} event within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (event: FederationEvent) => {
          if (event.type !== type || !match(event as Wanted)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(event as Wanted);
        };
        waiters.add(waiter);
      });
    },
    start: async () => {
      const response = await fetch(`${url}/api/federations/${id}/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      if (!response.ok) throw new Error(`start: HTTP ${response.status} ${await response.text()}`);
    },
    close: async () => {
      await web.close();
      await coordinator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Bytes of a FedHFT update of this client, round and budget: A of every adapted weight, the kept rows of B
 * (keptRowCount(dOut, budget)) with their indices, and the head, in the federation's precision. The encoding
 * has fixed-size fields, so an update of zeros has exactly the size of a trained one.
 */
export function expectedUpdateBytes(
  schema: ModelSchema,
  clientId: string,
  round: number,
  budget: number,
  precision: Precision,
): number {
  const adapters = new Map(
    schema.adapted.map((w) => {
      const kept = keptRowCount(w.dOut, budget);
      return [
        w.name,
        {
          dOut: w.dOut,
          dIn: w.dIn,
          rank: schema.rank,
          rows: Int32Array.from({ length: kept }, (_, i) => i),
          A: new Float32Array(schema.rank * w.dIn),
          B: new Float32Array(kept * schema.rank),
          scale: schema.alpha / schema.rank,
        },
      ] as const;
    }),
  );
  const { embeddingSize, numClasses } = schema;
  const update = {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round,
    exampleCount: 1,
    adapters,
    dense: new Map(),
    head: {
      embeddingSize,
      numClasses,
      kernel: new Float32Array(embeddingSize * numClasses),
      bias: new Float32Array(numClasses),
    },
  };
  return encodeUpdate(update, { precision }).byteLength;
}

// --- tabs ----------------------------------------------------------------------------------------------------

export interface TabSpec {
  readonly name: string;
  /** 'auto' must end on WebGPU (the test checks it); 'wasm' is the fast CPU path here. */
  readonly backend: 'auto' | 'wasm';
  readonly budget: 1 | 0.5 | 0.25;
  /** A demo shard from the coordinator; otherwise `file` is picked before joining. */
  readonly demo: boolean;
  readonly file?: { readonly name: string; readonly content: string };
}

export interface Tab {
  readonly spec: TabSpec;
  page: Page;
  /** Every WebSocket frame the page sent (for the privacy check). */
  readonly framesSent: (string | Buffer)[];
}

/** Small probe shapes: SwiftShader WebGPU compiles every shader shape on first use. */
const PROBE = 'seqLen=16&batch=4&probeBatch=4&probeSteps=1&rank=4';

export function joinUrl(federation: RunningFederation, spec: TabSpec): string {
  const query = new URLSearchParams({
    coordinator: federation.url,
    federation: federation.id,
    token: TOKEN,
    backend: spec.backend,
  });
  if (spec.demo) query.set('demo', '1');
  const memory = MEMORY_FOR_BUDGET[String(spec.budget)];
  if (memory !== undefined) query.set('maxMemory', String(memory));
  return `${federation.url}/?${query}&${PROBE}`;
}

export async function tabState(page: Page): Promise<ClientPageState> {
  return (await page.evaluate(() => window.__client)) as ClientPageState;
}

/** Polls the page's state until `done`; page errors fail at once. */
export async function waitForTab(
  tab: Tab,
  what: string,
  done: (state: ClientPageState) => boolean,
  timeoutMs = 120_000,
): Promise<ClientPageState> {
  const started = Date.now();
  for (;;) {
    const state = await tabState(tab.page);
    if (state?.errors?.length) {
      throw new Error(`${tab.spec.name}: page errors while waiting for ${what}: ${state.errors.join('; ')}`);
    }
    if (state && done(state)) return state;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${tab.spec.name}: timed out waiting for ${what} (phase ${state?.phase})`);
    }
    await tab.page.waitForTimeout(200);
  }
}

function watch(page: Page, name: string, framesSent: (string | Buffer)[], verbose: boolean): void {
  page.on('console', (message) => {
    const text = message.text();
    if (verbose && text.startsWith('[client]')) console.log(`${name}: ${text.slice(9)}`);
  });
  page.on('pageerror', (error) => console.log(`${name} [page error] ${error.message}`));
  page.on('websocket', (socket) => socket.on('framesent', (frame) => framesSent.push(frame.payload)));
}

/** Opens the join link in a new tab; a file tab picks its file and presses Join once the worker is ready. */
export async function openTab(
  context: BrowserContext,
  federation: RunningFederation,
  spec: TabSpec,
  verbose = true,
): Promise<Tab> {
  const page = await context.newPage();
  const tab: Tab = { spec, page, framesSent: [] };
  watch(page, spec.name, tab.framesSent, verbose);
  await page.goto(joinUrl(federation, spec));
  if (!spec.demo) {
    if (!spec.file) throw new Error(`${spec.name}: a tab without demo data needs a file`);
    await waitForTab(tab, 'the capability probe', (s) => s.capability !== undefined, 180_000);
    await page.setInputFiles('#file', {
      name: spec.file.name,
      mimeType: 'text/csv',
      buffer: Buffer.from(spec.file.content),
    });
    await page.locator('#join:not([disabled])').click();
  }
  return tab;
}

/** Per backend: the capability probe and the federated rounds' training speed and peak memory. */
export function speedByBackend(states: { name: string; state: ClientPageState }[]) {
  const byBackend: Record<
    string,
    {
      tabs: string[];
      probe: {
        tokensPerSecond: number;
        peakBytes: number;
        trainingBytes: number;
        batch: number;
        seqLen: number;
      }[];
      rounds: {
        tab: string;
        round: number;
        budget: number;
        tokensPerSecond: number;
        peakBytes: number;
        trainSeconds: number;
        steps: number;
      }[];
    }
  > = {};
  for (const { name, state } of states) {
    const backend = state.backend?.backend;
    if (!backend || !state.capability) continue;
    const entry = (byBackend[backend] ??= { tabs: [], probe: [], rounds: [] });
    entry.tabs.push(name);
    const c = state.capability;
    entry.probe.push({
      tokensPerSecond: c.tokensPerSecond,
      peakBytes: c.peakBytes,
      trainingBytes: c.trainingBytes,
      batch: c.batch,
      seqLen: c.seqLen,
    });
    for (const r of state.rounds) {
      entry.rounds.push({
        tab: name,
        round: r.round,
        budget: r.budget,
        tokensPerSecond: r.metrics.tokensPerSecond,
        peakBytes: r.metrics.peakBytes,
        trainSeconds: r.metrics.trainSeconds,
        steps: r.metrics.steps,
      });
    }
  }
  const summary: Record<string, unknown> = {};
  for (const [backend, entry] of Object.entries(byBackend)) {
    const mean = (values: number[]) =>
      values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
    summary[backend] = {
      tabs: entry.tabs,
      probeTokensPerSecond: mean(entry.probe.map((p) => p.tokensPerSecond)),
      probePeakBytes: Math.max(...entry.probe.map((p) => p.peakBytes)),
      roundTokensPerSecond: mean(entry.rounds.map((r) => r.tokensPerSecond)),
      roundPeakBytes: entry.rounds.length ? Math.max(...entry.rounds.map((r) => r.peakBytes)) : null,
      probe: entry.probe,
      rounds: entry.rounds,
    };
  }
  return summary;
}
