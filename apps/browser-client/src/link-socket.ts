import {
  binaryAttachment,
  capabilityReplySchema,
  capabilityReportSchema,
  demoShardReplySchema,
  describeIssues,
  heartbeatReplySchema,
  heartbeatSchema,
  joinReplySchema,
  joinRequestSchema,
  offerMessageSchema,
  PROTOCOL_EVENTS,
  PROTOCOL_VERSION,
  refusalSchema,
  roundNoticeSchema,
  updateMetaSchema,
  updateReplySchema,
  type FederationInfo,
  type JoinReply,
} from '@fedhft/core';
import { io, type Socket } from 'socket.io-client';
import type { z } from 'zod';
import type { IdentityStore, StoredIdentity } from './identity';
import {
  LinkRefusal,
  type Activity,
  type CapabilityReport,
  type CoordinatorLink,
  type DemoShard,
  type FederationSummary,
  type Joined,
  type LinkOptions,
  type RoundNotice,
  type ServerStatus,
  type SkipOffer,
  type TrainOffer,
  type Unsubscribe,
  type UpdateAck,
  type UpdateMeta,
} from './link';

/**
 * The CoordinatorLink over socket.io, speaking the protocol of @fedhft/core: every message is checked against
 * its zod schema both ways (what we send, so a bug here cannot put anything else on the wire; what we receive,
 * since a server may be out of date or hostile). It joins with the token and the identity this tab claims
 * (identity.ts), rejoins by itself after a lost connection, sends heartbeats, hands offers with their binary
 * payload to the session (once per offer id: the server resends an offer after a rejoin) and uploads updates,
 * retrying once when the connection dropped before the acknowledgement.
 *
 * Nothing the person owns passes here except through the outbox (outbox.ts): the link's own messages are the
 * join (token, identity), heartbeats (an activity name and a fraction) and the demo-shard request (empty).
 */

export interface SocketLinkOptions extends LinkOptions {
  readonly identities: IdentityStore;
  /** Acknowledgement timeout of ordinary requests (ms). */
  readonly requestTimeoutMs?: number;
  /** Acknowledgement timeout of an update upload (ms): a large update on a slow link takes a while. */
  readonly uploadTimeoutMs?: number;
  /** First-connection attempts before connect() gives up. */
  readonly connectAttempts?: number;
}

type OfferListener = (offer: TrainOffer | SkipOffer, payload: Uint8Array | null) => void;
type StateListener = (state: 'connected' | 'disconnected' | 'reconnecting', detail?: string) => void;

/** Offers kept for a listener that subscribes later (the server resends its offer right after a rejoin). */
const MAX_PENDING_OFFERS = 8;

export function federationSummary(info: FederationInfo): FederationSummary {
  return {
    id: info.id,
    strategy: info.strategy,
    encoder: info.encoder,
    numClasses: info.numClasses,
    ...(info.labelNames ? { labelNames: info.labelNames } : {}),
    rank: info.rank,
    alpha: info.alpha,
    targets: info.targets,
    round: info.round,
    totalRounds: info.totalRounds,
  };
}

function isTransportFailure(error: unknown): boolean {
  // socket.io rejects emitWithAck with "operation has timed out" when no acknowledgement came.
  return error instanceof Error && !(error instanceof LinkRefusal);
}

export class SocketLink implements CoordinatorLink {
  private socket: Socket | null = null;
  private identity: StoredIdentity | null = null;
  private joined: Joined | null = null;
  /** True between a successful join and the next disconnect. */
  private online = false;
  private onlineWaiters: (() => void)[] = [];
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private activity: { status: Activity; progress?: number } = { status: 'loading' };
  private readonly seenOffers = new Set<string>();
  private pendingOffers: [TrainOffer | SkipOffer, Uint8Array | null][] = [];
  private readonly offerListeners = new Set<OfferListener>();
  private readonly roundListeners = new Set<(notice: RoundNotice) => void>();
  private readonly stateListeners = new Set<StateListener>();
  private readonly refusalListeners = new Set<(refusal: LinkRefusal) => void>();
  private readonly statusListeners = new Set<(status: ServerStatus) => void>();
  private closed = false;

  constructor(private readonly options: SocketLinkOptions) {}

  get clientId(): string | null {
    return this.joined?.clientId ?? null;
  }

  connect(): Promise<Joined> {
    if (this.socket) throw new Error('connect() was called already');
    return new Promise<Joined>((resolve, reject) => {
      let settled = false;
      let failures = 0;
      const first = {
        resolve: (joined: Joined) => {
          if (settled) return;
          settled = true;
          resolve(joined);
        },
        reject: (error: Error) => {
          if (settled) return;
          settled = true;
          this.close();
          reject(error);
        },
      };
      void this.options.identities.claim().then(
        (identity) => {
          this.identity = identity;
          const socket = io(this.options.url, {
            transports: ['websocket'],
            reconnection: true,
            reconnectionDelay: 500,
            reconnectionDelayMax: 5000,
            autoConnect: false,
          });
          this.socket = socket;
          socket.on('connect', () => {
            this.join(socket).then(first.resolve, (error: Error) => {
              if (!settled) return first.reject(error);
              // A rejoin refused (e.g. the token changed on the server): nothing more to do on this link.
              this.emitState('disconnected', error.message);
              this.close();
            });
          });
          socket.on('connect_error', (error) => {
            failures++;
            if (!settled && failures >= (this.options.connectAttempts ?? 5)) {
              first.reject(
                new Error(`cannot reach the coordinator at ${this.options.url}: ${error.message}`),
              );
              return;
            }
            this.emitState('reconnecting', error.message);
          });
          socket.on('disconnect', (reason) => {
            this.setOffline();
            // The server dropped us on purpose (this identity joined from elsewhere): socket.io will not retry.
            if (reason === 'io server disconnect')
              this.emitState('disconnected', 'the coordinator closed the connection');
            else if (!this.closed) this.emitState('reconnecting', reason);
          });
          socket.on(PROTOCOL_EVENTS.offer, (message: unknown, payload?: unknown) =>
            this.receiveOffer(message, payload),
          );
          socket.on(PROTOCOL_EVENTS.round, (notice: unknown) => this.receiveNotice(notice));
          socket.on(PROTOCOL_EVENTS.refused, (refusal: unknown) => {
            const parsed = refusalSchema.safeParse(refusal);
            if (!parsed.success) return;
            const { code, reason, event } = parsed.data;
            const error = new LinkRefusal(code, reason, event ?? 'connection');
            for (const listener of this.refusalListeners) listener(error);
          });
          socket.connect();
        },
        (error: unknown) => first.reject(error as Error),
      );
    });
  }

  async reportCapabilities(report: CapabilityReport): Promise<{ budget: number }> {
    const message = checked(capabilityReportSchema, report, 'capability report');
    const reply = await this.request(PROTOCOL_EVENTS.capabilities, capabilityReplySchema, [message]);
    return { budget: reply.budget };
  }

  async sendUpdate(meta: UpdateMeta, update: Uint8Array): Promise<UpdateAck> {
    const message = checked(updateMetaSchema, meta, 'update metadata');
    const timeout = this.options.uploadTimeoutMs ?? 120_000;
    try {
      const reply = await this.request(PROTOCOL_EVENTS.update, updateReplySchema, [message, update], timeout);
      return { round: reply.round, received: reply.received };
    } catch (error) {
      // The connection dropped before the acknowledgement (or we were not joined again yet): send it once more
      // after the rejoin. If the first copy did arrive, the server calls this one a duplicate: it has it.
      const retry =
        isTransportFailure(error) || (error instanceof LinkRefusal && error.code === 'not-joined');
      if (!retry) throw error;
      try {
        const reply = await this.request(
          PROTOCOL_EVENTS.update,
          updateReplySchema,
          [message, update],
          timeout,
        );
        return { round: reply.round, received: reply.received };
      } catch (again) {
        if (again instanceof LinkRefusal && again.code === 'duplicate') return { round: meta.round };
        throw again;
      }
    }
  }

  async requestDemoShard(): Promise<DemoShard> {
    const reply = await this.request(PROTOCOL_EVENTS.demoShard, demoShardReplySchema, [{}]);
    return reply.shard;
  }

  setActivity(activity: Activity, progress?: number): void {
    this.activity = { status: activity, ...(progress === undefined ? {} : { progress }) };
  }

  onOffer(listener: OfferListener): Unsubscribe {
    this.offerListeners.add(listener);
    const pending = this.pendingOffers;
    this.pendingOffers = [];
    // After onOffer returns, as any other offer would arrive (the caller has its unsubscribe handle by then).
    if (pending.length > 0) {
      queueMicrotask(() => {
        for (const [offer, payload] of pending)
          if (this.offerListeners.has(listener)) listener(offer, payload);
      });
    }
    return () => this.offerListeners.delete(listener);
  }

  onRound(listener: (notice: RoundNotice) => void): Unsubscribe {
    this.roundListeners.add(listener);
    return () => this.roundListeners.delete(listener);
  }

  onState(listener: StateListener): Unsubscribe {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onRefused(listener: (refusal: LinkRefusal) => void): Unsubscribe {
    this.refusalListeners.add(listener);
    return () => this.refusalListeners.delete(listener);
  }

  onServerStatus(listener: (status: ServerStatus) => void): Unsubscribe {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.setOffline();
    this.socket?.close();
    this.offerListeners.clear();
    this.roundListeners.clear();
  }

  // --- joining -------------------------------------------------------------------------------------------

  /** Joins on a (re)connected socket: with the claimed identity, or anew when there is none or it is unknown. */
  private async join(socket: Socket): Promise<Joined> {
    let reply: JoinReply;
    try {
      reply = await this.joinOnce(socket, this.identity);
    } catch (error) {
      if (!(error instanceof LinkRefusal && error.code === 'bad-identity' && this.identity)) throw error;
      // The coordinator does not know the stored identity (a new server, or another federation run): drop it.
      await this.options.identities.forget(this.identity.clientId);
      this.identity = null;
      reply = await this.joinOnce(socket, null);
    }
    if (reply.secret !== undefined) {
      this.identity = { clientId: reply.clientId, secret: reply.secret };
      await this.options.identities.save(this.identity);
    }
    const joined: Joined = {
      clientId: reply.clientId,
      resumed: reply.resumed,
      ...(reply.budget === undefined ? {} : { budget: reply.budget }),
      federation: federationSummary(reply.federation),
    };
    this.joined = joined;
    this.online = true;
    const waiters = this.onlineWaiters;
    this.onlineWaiters = [];
    for (const wake of waiters) wake();
    this.startHeartbeats(reply.federation.heartbeatIntervalMs);
    this.emitState('connected', `${reply.resumed ? 'rejoined' : 'joined'} as ${reply.clientId}`);
    return joined;
  }

  private async joinOnce(socket: Socket, identity: StoredIdentity | null): Promise<JoinReply> {
    const request = checked(
      joinRequestSchema,
      {
        protocolVersion: PROTOCOL_VERSION,
        federation: this.options.federation,
        token: this.options.token,
        ...(identity ? { clientId: identity.clientId, secret: identity.secret } : {}),
      },
      'join request',
    );
    const raw: unknown = await socket
      .timeout(this.options.requestTimeoutMs ?? 30_000)
      .emitWithAck(PROTOCOL_EVENTS.join, request);
    return parseReply(joinReplySchema, raw, PROTOCOL_EVENTS.join);
  }

  private setOffline(): void {
    this.online = false;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Resolves once joined (at once when joined now): requests never go out before the join of a connection. */
  private whenOnline(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the link is closed'));
    if (this.online) return Promise.resolve();
    return new Promise((resolve) => this.onlineWaiters.push(resolve));
  }

  /** An acknowledged request: the reply parsed with `schema`, or a LinkRefusal. */
  private async request<T>(
    event: string,
    schema: z.ZodType<T>,
    args: unknown[],
    timeoutMs = this.options.requestTimeoutMs ?? 30_000,
  ): Promise<T> {
    await this.whenOnline();
    const socket = this.socket!;
    const raw: unknown = await socket.timeout(timeoutMs).emitWithAck(event, ...args);
    return parseReply(schema, raw, event);
  }

  // --- heartbeats, offers, notices --------------------------------------------------------------------------

  private startHeartbeats(intervalMs: number): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    const beat = () => {
      const message = heartbeatSchema.safeParse(this.activity);
      if (!message.success) return;
      this.request(PROTOCOL_EVENTS.heartbeat, heartbeatReplySchema, [message.data], intervalMs).then(
        (reply) => {
          const status: ServerStatus = {
            round: reply.round,
            phase: reply.phase,
            serverTime: reply.serverTime,
          };
          for (const listener of this.statusListeners) listener(status);
        },
        () => {}, // a missed heartbeat is not an error: the next one, or the reconnect, follows
      );
    };
    beat();
    this.heartbeatTimer = setInterval(beat, intervalMs);
  }

  private receiveOffer(message: unknown, attachment: unknown): void {
    const parsed = offerMessageSchema.safeParse(message);
    if (!parsed.success) {
      this.emitRefusalFromServer('offer', `malformed offer: ${describeIssues(parsed.error)}`);
      return;
    }
    const offer = parsed.data;
    if (offer.federation !== this.options.federation) return;
    let payload: Uint8Array | null = null;
    if (offer.kind === 'train') {
      // A resent offer (after our rejoin) that this page already trains or trained.
      if (this.seenOffers.has(offer.offerId)) return;
      payload = binaryAttachment(attachment);
      if (payload === null) {
        this.emitRefusalFromServer(
          'offer',
          `the offer for round ${offer.round} came without its model payload`,
        );
        return;
      }
      this.seenOffers.add(offer.offerId);
    }
    if (this.offerListeners.size === 0) {
      this.pendingOffers.push([offer, payload]);
      if (this.pendingOffers.length > MAX_PENDING_OFFERS) this.pendingOffers.shift();
      return;
    }
    for (const listener of this.offerListeners) listener(offer, payload);
  }

  private receiveNotice(value: unknown): void {
    const parsed = roundNoticeSchema.safeParse(value);
    if (!parsed.success || parsed.data.federation !== this.options.federation) return;
    for (const listener of this.roundListeners) listener(parsed.data);
  }

  /** A problem with what the server sent, shown like a refusal. */
  private emitRefusalFromServer(event: string, reason: string): void {
    const error = new LinkRefusal('malformed', reason, event);
    for (const listener of this.refusalListeners) listener(error);
  }

  private emitState(state: 'connected' | 'disconnected' | 'reconnecting', detail?: string): void {
    for (const listener of this.stateListeners) listener(state, detail);
  }
}

/** Checks a message before it is sent: a failure here is a bug in the page, never sent on. */
function checked<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(`${what} does not match the protocol: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** A reply: `{ ok: true, ... }` parsed with `schema`, or a refusal thrown as LinkRefusal. */
function parseReply<T>(schema: z.ZodType<T>, raw: unknown, event: string): T {
  if ((raw as { ok?: unknown } | null)?.ok === false) {
    const refusal = refusalSchema.safeParse(raw);
    if (refusal.success) throw new LinkRefusal(refusal.data.code, refusal.data.reason, event);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new LinkRefusal('malformed', `unexpected ${event} reply: ${describeIssues(parsed.error)}`, event);
  }
  return parsed.data;
}

/** The page's link factory (main.ts SOCKET_LINK). */
export function socketLinkFactory(identities: (options: LinkOptions) => IdentityStore) {
  return (options: LinkOptions): SocketLink =>
    new SocketLink({ ...options, identities: identities(options) });
}
