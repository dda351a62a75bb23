import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { activateBackend, modelSchema, runClientRound } from '@fedhft/adapters';
import {
  decodeModelPayload,
  encodeUpdate,
  offerMessageSchema,
  PROTOCOL_VERSION,
  roundNoticeSchema,
  seededRandom,
  type CapabilityReport,
  type ModelSchema,
  type OfferMessage,
  type RoundNotice,
} from '@fedhft/core';
import { TinyEncoder } from '../../../../packages/adapters/test/fixtures/tiny-encoder';
import {
  Coordinator,
  parseFederationConfig,
  type FederationConfigInput,
  type FederationEvent,
} from '../../src/server/index';

/** Real socket.io clients for the server tests; they train with the client runtime on a tiny encoder. */

export const TOKEN = 'test-token-0123';
export const BIG: CapabilityReport = { backend: 'wasm', memoryBytes: 4 * 2 ** 30, tokensPerSecond: 2000 };
export const SMALL: CapabilityReport = { backend: 'wasm', memoryBytes: 256 * 2 ** 20, tokensPerSecond: 100 };

let schema: ModelSchema | null = null;

export async function tinySchema(): Promise<ModelSchema> {
  await activateBackend(['wasm']);
  if (schema === null) {
    const encoder = new TinyEncoder();
    schema = modelSchema(encoder, { numClasses: 2, rank: 4, alpha: 8, targets: ['query', 'value'] });
    encoder.dispose();
  }
  return schema;
}

/** The test federation as a config file would hold it (the CLI tests write it to disk). */
export const FEDERATION_INPUT = {
  id: 'sentiment',
  token: TOKEN,
  encoder: 'tiny-test',
  numClasses: 2,
  rank: 4,
  alpha: 8,
  strategy: 'fedhft',
  clusters: 2,
  strategyOptions: { warmupRounds: 1 },
  initialHead: 'zeros',
  rounds: 3,
  minClients: 2,
  roundTimeoutMs: 30_000,
  roundDelayMs: 50,
  train: { epochs: 1, batchSize: 8, learningRate: 0.01, maxSeqLen: 16 },
} satisfies FederationConfigInput;

export function federationConfig(overrides: Partial<FederationConfigInput> = {}) {
  return parseFederationConfig({ ...FEDERATION_INPUT, ...overrides });
}

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fedhft-server-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function startServer(
  dataDir: string,
  federations: Partial<FederationConfigInput>[] = [{}],
  resume = false,
): Promise<Coordinator> {
  const s = await tinySchema();
  return Coordinator.start({
    dataDir,
    resume,
    port: 0,
    federations: federations.map((f) => ({ config: federationConfig(f), schema: s })),
  });
}

/** Resolves with the first event of the coordinator that `match` accepts. */
export function nextEvent<T extends FederationEvent['type']>(
  coordinator: Coordinator,
  type: T,
  match: (event: Extract<FederationEvent, { type: T }>) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<Extract<FederationEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      coordinator.off('event', listener);
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: FederationEvent) => {
      if (event.type !== type || !match(event as Extract<FederationEvent, { type: T }>)) return;
      clearTimeout(timer);
      coordinator.off('event', listener);
      resolve(event as Extract<FederationEvent, { type: T }>);
    };
    coordinator.on('event', listener);
  });
}

const WORDS = {
  positive: ['good', 'great', 'excellent', 'happy', 'love', 'wonderful'],
  negative: ['bad', 'awful', 'terrible', 'sad', 'hate', 'boring'],
  filler: ['the', 'movie', 'was', 'a', 'plot', 'film', 'story', 'really'],
};

export function sentimentSet(n: number, seed: number): { texts: string[]; labels: number[] } {
  const random = seededRandom(`server-sentiment:${seed}`);
  const pick = (words: readonly string[]) => words[Math.floor(random() * words.length)]!;
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    texts.push(
      [pick(WORDS.filler), pick(label ? WORDS.positive : WORDS.negative), pick(WORDS.filler)].join(' '),
    );
    labels.push(label);
  }
  return { texts, labels };
}

export interface ReceivedOffer {
  readonly message: OfferMessage;
  readonly payload: Uint8Array | null;
}

export class TestClient {
  readonly socket: Socket;
  clientId = '';
  secret = '';
  readonly offers: ReceivedOffer[] = [];
  readonly notices: RoundNotice[] = [];
  readonly refused: unknown[] = [];
  /** Every update this client uploaded and the server accepted, by round. */
  readonly uploads = new Map<number, Uint8Array>();
  private readonly encoder = new TinyEncoder();
  private readonly data: { texts: string[]; labels: number[] };
  private waiters: ((offer: ReceivedOffer) => void)[] = [];

  private constructor(url: string, seed: number) {
    this.data = sentimentSet(16, seed);
    this.socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    this.socket.on('offer', (message: unknown, payload?: unknown) => {
      const offer: ReceivedOffer = {
        message: offerMessageSchema.parse(message),
        payload: payload instanceof Uint8Array ? payload : null,
      };
      this.offers.push(offer);
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve(offer);
    });
    this.socket.on('round', (notice: unknown) => void this.notices.push(roundNoticeSchema.parse(notice)));
    this.socket.on('refused', (refusal: unknown) => void this.refused.push(refusal));
  }

  static async connect(url: string, seed = 0): Promise<TestClient> {
    const client = new TestClient(url, seed);
    await new Promise<void>((resolve, reject) => {
      client.socket.once('connect', () => resolve());
      client.socket.once('connect_error', reject);
    });
    return client;
  }

  request(event: string, ...args: unknown[]): Promise<Record<string, unknown>> {
    return this.socket.timeout(30_000).emitWithAck(event, ...args) as Promise<Record<string, unknown>>;
  }

  async join(
    options: { federation?: string; token?: string; clientId?: string; secret?: string } = {},
  ): Promise<Record<string, unknown>> {
    const reply = await this.request('join', {
      protocolVersion: PROTOCOL_VERSION,
      federation: options.federation ?? 'sentiment',
      token: options.token ?? TOKEN,
      ...(options.clientId === undefined ? {} : { clientId: options.clientId, secret: options.secret }),
    });
    if (reply.ok === true) {
      this.clientId = reply.clientId as string;
      if (typeof reply.secret === 'string') this.secret = reply.secret;
    }
    return reply;
  }

  /** Joins anew and reports capabilities; returns the client ready for selection. */
  static async ready(url: string, seed: number, report: CapabilityReport = BIG): Promise<TestClient> {
    const client = await TestClient.connect(url, seed);
    const joined = await client.join();
    if (joined.ok !== true) throw new Error(`join refused: ${JSON.stringify(joined)}`);
    const reply = await client.request('capabilities', report);
    if (reply.ok !== true) throw new Error(`capabilities refused: ${JSON.stringify(reply)}`);
    return client;
  }

  /** The next offer for `round` (one already received counts). */
  offerFor(round: number, timeoutMs = 60_000): Promise<ReceivedOffer> {
    const have = this.offers.find((o) => o.message.round === round);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.clientId}: no offer for round ${round}`)),
        timeoutMs,
      );
      const wait = (offer: ReceivedOffer) => {
        if (offer.message.round !== round) {
          this.waiters.push(wait);
          return;
        }
        clearTimeout(timer);
        resolve(offer);
      };
      this.waiters.push(wait);
    });
  }

  /** Trains on an offer with the client runtime and returns the encoded update (not uploaded). */
  async train(offer: ReceivedOffer): Promise<Uint8Array> {
    const { message, payload } = offer;
    if (message.kind !== 'train' || payload === null) throw new Error('not a training offer');
    const decoded = decodeModelPayload(payload, { maxBytes: payload.byteLength });
    const result = await runClientRound(
      this.encoder,
      { payload: decoded, plan: message.plan },
      this.data,
      message.train,
      { clientId: this.clientId, round: message.round, seed: message.seed },
    );
    return encodeUpdate(result.update, { precision: message.precision });
  }

  upload(offer: ReceivedOffer, bytes: Uint8Array, meta: Record<string, unknown> = {}) {
    const { message } = offer;
    if (message.kind !== 'train') throw new Error('not a training offer');
    return this.request(
      'update',
      {
        federation: message.federation,
        clientId: this.clientId,
        round: message.round,
        offerId: message.offerId,
        ...meta,
      },
      bytes,
    ).then((reply) => {
      if (reply.ok === true) this.uploads.set(message.round, bytes);
      return reply;
    });
  }

  /** Waits for its offer of `round`, trains and uploads; returns the server's reply. */
  async playRound(round: number): Promise<Record<string, unknown>> {
    const offer = await this.offerFor(round);
    const bytes = await this.train(offer);
    return this.upload(offer, bytes, { metrics: { loss: 0.5, accuracy: 0.75, heldOutExamples: 8 } });
  }

  close(): void {
    this.socket.close();
    this.encoder.dispose();
  }
}
