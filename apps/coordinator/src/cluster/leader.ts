import {
  capabilityReportSchema,
  heartbeatSchema,
  joinRequestSchema,
  parseMessage,
  PROTOCOL_EVENTS,
  updateMetaSchema,
  type Refusal,
} from '@fedhft/core';
import type { Server } from 'socket.io';
import type { z } from 'zod';
import type { ClientChannel, Federation, RoundSplit } from '../server/federation';
import { connectionRefusal } from '../server/socket';
import { isRefusal, refusal } from '../server/uploads';
import { ask } from './bus';
import {
  callSchema,
  claimBodySchema,
  CLUSTER_EVENTS,
  notifySchema,
  releaseBodySchema,
  type ClusterCall,
} from './messages';

/**
 * The leading process of a multi-process coordinator: it owns every federation (identities, rounds,
 * checkpoints) and answers what member processes ask for their clients; it tells members each round's offers
 * and, at the close, merges their shares of the round (the updates they folded) before aggregating.
 */

/** A client connected to any process: emits go through the adapter to wherever its socket is. */
export function remoteChannel(io: Server, socketId: string): ClientChannel {
  return {
    connectionId: socketId,
    send: (event, ...args) => void io.to(socketId).emit(event, ...args),
    disconnect: (reason) => {
      io.to(socketId).emit(PROTOCOL_EVENTS.refused, connectionRefusal(reason));
      io.in(socketId).disconnectSockets(true);
    },
  };
}

/** A forwarded message checked with core's parseMessage: its value, or the refusal naming what is wrong. */
function parsed<T>(schema: z.ZodType<T>, value: unknown, event: string): T | Refusal {
  const result = parseMessage(schema, value, event);
  return result.ok ? result.value : result.refusal;
}

async function answer(io: Server, federation: Federation, call: ClusterCall): Promise<unknown> {
  const { clientId } = call;
  const needsClient = (event: string): Refusal | null =>
    clientId === undefined ? refusal('not-joined', `${event}: join a federation first`, event) : null;
  switch (call.method) {
    case 'join': {
      const request = parsed(joinRequestSchema, call.body, 'join');
      return isRefusal(request) ? request : federation.join(request, remoteChannel(io, call.socketId));
    }
    case 'capabilities': {
      const report = parsed(capabilityReportSchema, call.body, 'capabilities');
      return (
        needsClient('capabilities') ??
        (isRefusal(report) ? report : federation.capabilities(clientId!, report))
      );
    }
    case 'heartbeat': {
      const beat = parsed(heartbeatSchema, call.body, 'heartbeat');
      return needsClient('heartbeat') ?? (isRefusal(beat) ? beat : federation.heartbeat(clientId!, beat));
    }
    case 'demoShard':
      return needsClient('demo-shard') ?? federation.demoShard(clientId!);
    case 'claim': {
      const body = parsed(claimBodySchema, call.body, 'update');
      if (isRefusal(body)) return body;
      const meta = parsed(updateMetaSchema, body.meta, 'update');
      if (isRefusal(meta)) return meta;
      return needsClient('update') ?? federation.claimRemote(clientId!, meta, body);
    }
    case 'release': {
      const body = parsed(releaseBodySchema, call.body, 'update');
      if (!isRefusal(body) && clientId !== undefined) federation.releaseRemote(clientId, body.round);
      return { ok: true };
    }
  }
}

export function attachLeader(
  io: Server,
  federations: ReadonlyMap<string, Federation>,
  log: (line: string) => void,
): void {
  io.on(CLUSTER_EVENTS.call, (message: unknown, ack: (reply: unknown) => void) => {
    const call = callSchema.safeParse(message);
    if (!call.success) {
      log(`cluster: malformed call from a member: ${call.error.message}`);
      ack(refusal('internal', 'the leader could not read the forwarded request', 'cluster'));
      return;
    }
    const federation = federations.get(call.data.federation);
    if (!federation) {
      ack(refusal('unknown-federation', `no federation "${call.data.federation}"`, call.data.method));
      return;
    }
    answer(io, federation, call.data).then(ack, (error: unknown) => {
      log(
        `cluster: ${call.data.method} for ${call.data.clientId ?? call.data.socketId} failed: ${String(error)}`,
      );
      ack(refusal('internal', `${call.data.method}: the server failed handling it`, call.data.method));
    });
  });
  io.on(CLUSTER_EVENTS.notify, (message: unknown) => {
    const note = notifySchema.safeParse(message);
    if (!note.success) return log(`cluster: malformed notice from a member: ${note.error.message}`);
    const federation = federations.get(note.data.federation);
    if (!federation) return;
    if (note.data.kind === 'disconnect') {
      federation.disconnect(note.data.clientId, remoteChannel(io, note.data.socketId));
    } else {
      federation.refuse(note.data.entry);
    }
  });
  const split: RoundSplit = {
    opened: (opening) => io.serverSideEmit(CLUSTER_EVENTS.roundOpen, opening),
    collect: async (federation, round) => {
      const { answers, error } = await ask(io, CLUSTER_EVENTS.share, { federation, round });
      if (error)
        log(`cluster: federation ${federation} round ${round}: ${error.message} (merging what came)`);
      return answers;
    },
    closed: (federation, round) => io.serverSideEmit(CLUSTER_EVENTS.roundClosed, { federation, round }),
  };
  for (const federation of federations.values()) federation.splitRounds(split);
}
