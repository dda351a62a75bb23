import {
  capabilityReportSchema,
  demoShardRequestSchema,
  heartbeatSchema,
  joinRequestSchema,
  parseMessage,
  PROTOCOL_EVENTS,
  PROTOCOL_VERSION,
  binaryAttachment,
  updateMetaSchema,
  type Refusal,
  type RefusalCode,
} from '@fedhft/core';
import type { Server, Socket } from 'socket.io';
import type { FederationEndpoint } from './endpoint';
import type { ClientChannel } from './federation';
import type { RefusalLog } from './refusals';
import { DEFAULT_REQUEST_LIMIT, RequestBucket, type RequestLimit } from './request-limit';

/**
 * socket.io glue: each connection joins one federation, then sends capability reports, updates and
 * heartbeats. Every request must carry an acknowledgement callback, which receives the reply or a refusal;
 * every refusal is recorded (the federation's log once a federation is named, the server's before).
 */

type Ack = (reply: unknown) => void;

const CLIENT_EVENTS = new Set<string>([
  PROTOCOL_EVENTS.join,
  PROTOCOL_EVENTS.capabilities,
  PROTOCOL_EVENTS.update,
  PROTOCOL_EVENTS.heartbeat,
  PROTOCOL_EVENTS.demoShard,
]);

function splitAck(args: unknown[]): { params: unknown[]; ack: Ack | null } {
  const last = args.at(-1);
  if (typeof last === 'function') return { params: args.slice(0, -1), ack: last as Ack };
  return { params: args, ack: null };
}

/** What a client is told when the server closes its connection (e.g. a newer one of the same client). */
export function connectionRefusal(reason: string): Refusal {
  return { ok: false, code: 'bad-identity', reason, event: 'connection' };
}

/** At most `perAddress` new identities (joins without clientId) per remote address per `windowMs`. */
export interface JoinLimit {
  readonly perAddress: number;
  readonly windowMs: number;
}

export const DEFAULT_JOIN_LIMIT: JoinLimit = { perAddress: 100, windowMs: 60_000 };

export interface SocketLimits {
  readonly join?: JoinLimit;
  readonly requests?: RequestLimit;
}

export function attachSocketHandlers(
  io: Server,
  federations: ReadonlyMap<string, FederationEndpoint>,
  serverRefusals: RefusalLog,
  log: (line: string) => void,
  limits: SocketLimits = {},
): void {
  const joinLimit = limits.join ?? DEFAULT_JOIN_LIMIT;
  const requestLimit = limits.requests ?? DEFAULT_REQUEST_LIMIT;
  // Remote address -> times of its recent new identities (all federations together).
  const newIdentities = new Map<string, number[]>();
  const recentNewIdentities = (address: string, now: number): number[] => {
    const times = (newIdentities.get(address) ?? []).filter((t) => now - t < joinLimit.windowMs);
    if (times.length === 0) newIdentities.delete(address);
    else newIdentities.set(address, times);
    return times;
  };
  io.on('connection', (socket: Socket) => {
    let session: { federation: FederationEndpoint; clientId: string } | null = null;
    // A join waiting for its answer (a member process asks the leader): a second one is refused meanwhile.
    let joining = false;
    const channel: ClientChannel = {
      connectionId: socket.id,
      send: (event, ...args) => void socket.emit(event, ...args),
      disconnect: (reason) => {
        socket.emit(PROTOCOL_EVENTS.refused, connectionRefusal(reason));
        socket.disconnect(true);
      },
    };

    const bucket = new RequestBucket(requestLimit, Date.now());

    const refuse = (
      event: string,
      code: RefusalCode,
      reason: string,
      ack: Ack | null,
      federation: FederationEndpoint | null = session?.federation ?? null,
      logged = true,
    ): void => {
      const answer: Refusal = { ok: false, code, reason, event };
      const entry = {
        event,
        code,
        reason,
        socketId: socket.id,
        ...(session ? { clientId: session.clientId } : {}),
      };
      if (federation) federation.refuse(entry, !logged);
      else serverRefusals.record({ at: Date.now(), federation: '', ...entry }, !logged);
      if (ack) ack(answer);
      else socket.emit(PROTOCOL_EVENTS.refused, answer);
    };

    /** True when the connection is over its request rate: the request is refused (see RequestBucket). */
    const throttled = (event: string, ack: Ack | null): boolean => {
      const admission = bucket.admit(Date.now());
      if (admission === 'ok') return false;
      const reason =
        `${event}: more than ${requestLimit.perSecond} requests per second (burst ${requestLimit.burst}) ` +
        'from this connection; slow down';
      if (admission === 'close') {
        // Requests already read off the wire still arrive after the close: counted, not logged again.
        const closing = `${reason}: ${requestLimit.closeAfter} refused in a row, connection closed`;
        refuse(event, 'too-many', closing, ack, undefined, socket.connected);
        socket.disconnect(true);
      } else refuse(event, 'too-many', reason, ack, undefined, admission === 'refuse-and-log');
      return true;
    };

    /** Runs a request handler (which may answer later) with the checks every request shares. */
    const handle = (
      event: string,
      needsSession: boolean,
      body: (params: unknown[], ack: Ack) => void | Promise<void>,
    ) => {
      socket.on(event, (...args: unknown[]) => {
        const { params, ack } = splitAck(args);
        if (throttled(event, ack)) return;
        if (ack === null) {
          refuse(event, 'no-ack', `${event}: requests need an acknowledgement callback`, null);
          return;
        }
        if (needsSession && session === null) {
          refuse(event, 'not-joined', `${event}: join a federation first`, ack);
          return;
        }
        const failed = (error: unknown) => {
          log(`socket ${socket.id}: ${event} failed: ${(error as Error).stack ?? String(error)}`);
          refuse(event, 'internal', `${event}: the server failed handling it`, ack);
        };
        try {
          void Promise.resolve(body(params, ack)).catch(failed);
        } catch (error) {
          failed(error);
        }
      });
    };

    socket.onAny((event: string, ...args: unknown[]) => {
      if (!CLIENT_EVENTS.has(event)) {
        if (throttled(event, splitAck(args).ack)) return;
        refuse(event, 'unknown-event', `"${event}" is not a protocol event`, splitAck(args).ack);
      }
    });

    handle(PROTOCOL_EVENTS.join, false, async ([request], ack) => {
      if (session !== null || joining) {
        const already = session === null ? 'is joining' : `already joined "${session.federation.id}"`;
        refuse('join', 'malformed', `this connection ${already}`, ack);
        return;
      }
      const version = (request as { protocolVersion?: unknown } | null)?.protocolVersion;
      if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
        refuse('join', 'version', `protocol version ${version}, this server speaks ${PROTOCOL_VERSION}`, ack);
        return;
      }
      const parsed = parseMessage(joinRequestSchema, request, 'join');
      if (!parsed.ok) {
        refuse('join', parsed.refusal.code, parsed.refusal.reason, ack);
        return;
      }
      const federation = federations.get(parsed.value.federation);
      if (!federation) {
        refuse('join', 'unknown-federation', `no federation "${parsed.value.federation}"`, ack);
        return;
      }
      const address = socket.handshake.address;
      const now = Date.now();
      const fresh = parsed.value.clientId === undefined;
      if (fresh && recentNewIdentities(address, now).length >= joinLimit.perAddress) {
        refuse(
          'join',
          'too-many',
          `${address} created ${joinLimit.perAddress} new identities in the last ${joinLimit.windowMs} ms; ` +
            'reconnect with your clientId and secret, or try later',
          ack,
          federation,
        );
        return;
      }
      joining = true;
      const reply = await Promise.resolve(federation.join(parsed.value, channel)).finally(() => {
        joining = false;
      });
      if (!reply.ok) {
        refuse('join', reply.code, reply.reason, ack, federation);
        return;
      }
      if (fresh) newIdentities.set(address, [...recentNewIdentities(address, now), now]);
      session = { federation, clientId: reply.clientId };
      ack(reply);
    });

    handle(PROTOCOL_EVENTS.capabilities, true, async ([report], ack) => {
      const parsed = parseMessage(capabilityReportSchema, report, 'capabilities');
      if (!parsed.ok) return refuse('capabilities', 'malformed', parsed.refusal.reason, ack);
      const reply = await session!.federation.capabilities(session!.clientId, parsed.value);
      if (!reply.ok) return refuse('capabilities', reply.code, reply.reason, ack);
      ack(reply);
    });

    handle(PROTOCOL_EVENTS.update, true, async ([meta, attachment], ack) => {
      const parsed = parseMessage(updateMetaSchema, meta, 'update');
      if (!parsed.ok) return refuse('update', 'malformed', parsed.refusal.reason, ack);
      if (parsed.value.federation !== session!.federation.id) {
        return refuse(
          'update',
          'wrong-client',
          `this connection belongs to "${session!.federation.id}"`,
          ack,
        );
      }
      const bytes = binaryAttachment(attachment);
      if (bytes === null) return refuse('update', 'malformed', 'update: the binary update is missing', ack);
      const reply = await session!.federation.update(session!.clientId, parsed.value, bytes);
      if (!reply.ok) return refuse('update', reply.code, reply.reason, ack);
      ack(reply);
    });

    handle(PROTOCOL_EVENTS.heartbeat, true, async ([beat], ack) => {
      const parsed = parseMessage(heartbeatSchema, beat ?? {}, 'heartbeat');
      if (!parsed.ok) return refuse('heartbeat', 'malformed', parsed.refusal.reason, ack);
      ack(await session!.federation.heartbeat(session!.clientId, parsed.value));
    });

    handle(PROTOCOL_EVENTS.demoShard, true, async ([request], ack) => {
      const parsed = parseMessage(demoShardRequestSchema, request ?? {}, 'demo-shard');
      if (!parsed.ok) return refuse('demo-shard', 'malformed', parsed.refusal.reason, ack);
      const reply = await session!.federation.demoShard(session!.clientId);
      if (!reply.ok) return refuse('demo-shard', reply.code, reply.reason, ack);
      ack(reply);
    });

    socket.on('disconnect', (_reason: string, description: unknown) => {
      // engine.io cuts a message above maxHttpBufferSize off with the connection: nothing to answer, but it
      // is recorded like any other refusal.
      if (description instanceof Error && /max payload size exceeded/i.test(description.message)) {
        const limit = io.engine.opts.maxHttpBufferSize ?? 0;
        refuse(
          'message',
          'too-large',
          `a message above the transport limit of ${limit} bytes: connection closed`,
          null,
        );
      }
      if (session) session.federation.disconnect(session.clientId, channel);
    });
  });
}
