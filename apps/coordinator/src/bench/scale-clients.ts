/**
 * One child process of `npm run bench:scale`: hosts `count` lightweight socket.io clients of a federation.
 * They do not train: each decodes its offer, draws random masked LoRA factors of the offered shapes (the
 * pre-mask's rows, the plan's rank and scale) and a perturbed head, encodes them with the real wire codec and
 * uploads them, so the coordinator validates, decodes and aggregates real updates. Clients send heartbeats
 * at the federation's interval. Forked with an IPC channel (`node --import tsx`); options come as JSON in
 * argv[2]; it reports to the parent (ClientsMessage) and exits on { type: 'exit' }.
 */
import { io, type Socket } from 'socket.io-client';
import {
  decodeModelPayload,
  encodeUpdate,
  keptRowCount,
  offerMessageSchema,
  PROTOCOL_VERSION,
  seededRandom,
  type MaskedFactors,
  type ModelPayload,
  type OfferMessage,
} from '@fedhft/core';

export interface ClientsOptions {
  readonly url: string;
  readonly federation: string;
  readonly token: string;
  readonly count: number;
  /** Names this process's clients in seeds and logs. */
  readonly processIndex: number;
  /** Connections opened at once (a burst of thousands of handshakes only times out). */
  readonly connectConcurrency: number;
  /** Limit of each request's acknowledgement. */
  readonly requestTimeoutMs: number;
}

/** Child -> parent. */
export type ClientsMessage =
  | { readonly type: 'ready'; readonly joined: number; readonly failures: string[] }
  | { readonly type: 'failure'; readonly message: string }
  | { readonly type: 'stats'; readonly stats: ClientsStats };

export interface ClientsStats {
  readonly uploads: number;
  readonly refusedUploads: number;
  /** Uploads without an answer (the connection dropped or the request timed out). */
  readonly lostUploads: number;
  readonly heartbeats: number;
  readonly notices: Record<number, number>;
  readonly bytesDown: number;
  readonly bytesUp: number;
  /** Time spent decoding offers and building and encoding updates, ms. */
  readonly encodeMs: number;
  /** Connections lost, by socket.io's reason (the bench's own closing at the end included). */
  readonly disconnects: Record<string, number>;
  readonly reconnects: number;
  readonly failedReconnects: number;
}

/** Budgets 1, 0.5 and 0.25 in turn under the default budget levels (2 GiB + 500 tokens/s, 1 GiB, less). */
const CAPABILITIES = [
  { backend: 'wasm', memoryBytes: 4 * 2 ** 30, tokensPerSecond: 2000 },
  { backend: 'wasm', memoryBytes: 1.5 * 2 ** 30, tokensPerSecond: 300 },
  { backend: 'wasm', memoryBytes: 256 * 2 ** 20, tokensPerSecond: 100 },
] as const;

const options = JSON.parse(process.argv[2] ?? '{}') as ClientsOptions;
const send = (message: ClientsMessage) => process.send?.(message);
const sockets = new Set<Socket>();
let exiting = false;
const timers: NodeJS.Timeout[] = [];
const stats = {
  uploads: 0,
  refusedUploads: 0,
  heartbeats: 0,
  notices: {} as Record<number, number>,
  bytesDown: 0,
  bytesUp: 0,
  encodeMs: 0,
  disconnects: {} as Record<string, number>,
  reconnects: 0,
  failedReconnects: 0,
  lostUploads: 0,
};

/** Small random values, as a round of training would leave in fresh LoRA factors. */
function randomArray(length: number, random: () => number, scale = 0.01): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = scale * (2 * random() - 1);
  return values;
}

/** The update an offer asks for, with random values in the offered shapes. */
function fakeUpdate(
  clientId: string,
  offer: Extract<OfferMessage, { kind: 'train' }>,
  payload: ModelPayload,
) {
  const random = seededRandom(`scale:${clientId}:${offer.round}`);
  const shapes =
    payload.adapters.kind === 'mixture' ? payload.adapters.factors : payload.adapters.clusters[0]!;
  const { rank, scale = 1, budget } = offer.plan;
  const adapters = new Map<string, MaskedFactors>();
  for (const [name, { dOut, dIn }] of shapes) {
    // Pre-masks fix the rows; otherwise (post-masks) the client may keep its budget's worth.
    const rows =
      payload.preMasks.get(name)?.rows ??
      Int32Array.from({ length: keptRowCount(dOut, budget) }, (_, i) => i);
    adapters.set(name, {
      dOut,
      dIn,
      rank,
      rows,
      A: randomArray(rank * dIn, random),
      B: randomArray(rows.length * rank, random),
      scale,
    });
  }
  const head = payload.head;
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round: offer.round,
    exampleCount: 8 + Math.floor(random() * 24),
    adapters,
    dense: new Map(),
    head: {
      embeddingSize: head.embeddingSize,
      numClasses: head.numClasses,
      kernel: head.kernel.map((v) => v + 0.01 * (2 * random() - 1)),
      bias: head.bias.map((v) => v + 0.01 * (2 * random() - 1)),
    },
  };
}

async function request(socket: Socket, event: string, ...args: unknown[]): Promise<Record<string, unknown>> {
  return (await socket.timeout(options.requestTimeoutMs).emitWithAck(event, ...args)) as Record<
    string,
    unknown
  >;
}

/**
 * Opens a socket and joins: anew, or as `identity` (a reconnect, as the client page does after a drop).
 * `attach` registers the handlers before the join: a rejoin's offer can arrive right behind the join's reply.
 */
async function connect(attach: (socket: Socket) => void, identity?: { clientId: string; secret: string }) {
  const socket = io(options.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  sockets.add(socket);
  attach(socket);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const joined = await request(socket, 'join', {
      protocolVersion: PROTOCOL_VERSION,
      federation: options.federation,
      token: options.token,
      ...identity,
    });
    if (joined.ok !== true) throw new Error(`join refused: ${JSON.stringify(joined)}`);
    return { socket, joined };
  } catch (error) {
    // A failed attempt must not fire the handlers (a later disconnect would start a second rejoin).
    socket.removeAllListeners();
    socket.close();
    sockets.delete(socket);
    throw error;
  }
}

/** Rejoin attempts after a drop, `attempt` seconds apart (a server busy for a minute still gets its clients). */
const REJOIN_ATTEMPTS = 8;

/**
 * One client: joins, reports capabilities, answers each offer once, sends heartbeats; after a drop by the
 * server (e.g. socket.io's ping timeout while the server's event loop was blocked) it reconnects with its
 * identity, and the server resends an open round's offer.
 */
async function startClient(index: number): Promise<void> {
  /** The current connection (replaced on a rejoin). */
  let socket: Socket;
  let clientId = '';
  let identity = { clientId: '', secret: '' };
  /** Offers whose update the server acknowledged: a resent one (after a rejoin) is answered unless in here. */
  const accepted = new Set<string>();
  const onOffer = (message: unknown, payload?: unknown) => {
    const offer = offerMessageSchema.parse(message);
    if (offer.kind !== 'train' || !(payload instanceof Uint8Array) || accepted.has(offer.offerId)) return;
    stats.bytesDown += payload.byteLength;
    const started = performance.now();
    const decoded = decodeModelPayload(payload, { maxBytes: payload.byteLength });
    const bytes = encodeUpdate(fakeUpdate(clientId, offer, decoded), {
      precision: offer.precision,
      ...(offer.headPrecision === undefined ? {} : { headPrecision: offer.headPrecision }),
    });
    stats.encodeMs += performance.now() - started;
    stats.bytesUp += bytes.byteLength;
    const meta = {
      federation: offer.federation,
      clientId,
      round: offer.round,
      offerId: offer.offerId,
      metrics: { loss: 0.5, accuracy: 0.75, heldOutExamples: 8 },
    };
    request(socket, 'update', meta, bytes).then(
      (reply) => {
        if (reply.ok !== true) return void stats.refusedUploads++;
        accepted.add(offer.offerId);
        stats.uploads++;
      },
      () => void stats.lostUploads++,
    );
  };
  const onNotice = (notice: { round: number }) => {
    stats.notices[notice.round] = (stats.notices[notice.round] ?? 0) + 1;
  };
  const onDisconnect = (reason: string) => {
    stats.disconnects[reason] = (stats.disconnects[reason] ?? 0) + 1;
    sockets.delete(socket);
    if (exiting || reason === 'io client disconnect') return;
    void (async () => {
      for (let attempt = 1; attempt <= REJOIN_ATTEMPTS && !exiting; attempt++) {
        try {
          await connect(attach, identity);
          stats.reconnects++;
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
        }
      }
      stats.failedReconnects++;
    })();
  };
  const attach = (next: Socket) => {
    socket = next;
    socket.on('offer', onOffer);
    socket.on('round', onNotice);
    socket.on('disconnect', onDisconnect);
  };
  const first = await connect(attach);
  const { joined } = first;
  clientId = joined.clientId as string;
  identity = { clientId, secret: joined.secret as string };
  const interval = (joined.federation as { heartbeatIntervalMs: number }).heartbeatIntervalMs;
  const reply = await request(first.socket, 'capabilities', CAPABILITIES[index % CAPABILITIES.length]);
  if (reply.ok !== true) throw new Error(`capabilities refused: ${JSON.stringify(reply)}`);
  // Heartbeats at the federation's interval, spread over it so they do not arrive in bursts.
  const beat = () =>
    request(socket, 'heartbeat', { status: 'idle' }).then(
      () => void stats.heartbeats++,
      () => {},
    );
  const phase = Math.floor(seededRandom(`beat:${options.processIndex}:${index}`)() * interval);
  timers.push(
    setTimeout(() => {
      void beat();
      timers.push(setInterval(() => void beat(), interval));
    }, phase),
  );
}

async function main(): Promise<void> {
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < options.count) {
      const index = next++;
      await startClient(index).catch((error: unknown) => {
        failures.push(`client ${options.processIndex}.${index}: ${(error as Error).message}`);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.connectConcurrency, options.count) }, lane));
  send({ type: 'ready', joined: options.count - failures.length, failures: failures.slice(0, 5) });
}

process.on('message', (message: { type?: string }) => {
  if (message?.type !== 'exit') return;
  exiting = true;
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.close();
  // Exit once the figures are on their way (the callback runs after the message was handed to the channel).
  process.send?.({ type: 'stats', stats } satisfies ClientsMessage, () => process.exit(0));
});
// The parent went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));

main().catch((error: unknown) => send({ type: 'failure', message: (error as Error).stack ?? String(error) }));
