import {
  decodeLimits,
  type CapabilityReport,
  type DecodeLimits,
  type Heartbeat,
  type JoinRequest,
  type Refusal,
  type Strategy,
  type UpdateMeta,
  type UpdateReply,
} from '@fedhft/core';
import type { Server } from 'socket.io';
import type { FederationEndpoint } from '../server/endpoint';
import { federationStrategy, type ClientChannel, type FederationSetup } from '../server/federation';
import type { RefusalEntry } from '../server/refusals';
import { decodeOfferedUpload, isRefusal, refusal } from '../server/uploads';
import { ask } from './bus';
import { CLUSTER_EVENTS, roundOpenSchema, roundRefSchema, type ClusterCall } from './messages';

/**
 * A member process of a multi-process coordinator: it carries client connections, asks the leader for
 * everything about identities and rounds, and folds the updates its clients upload into its own replica of
 * the round (the strategy restored from the leader's state, with the same offers), whose share the leader
 * merges when the round closes.
 */

interface ReplicaRound {
  readonly round: number;
  readonly strategy: Strategy;
  readonly offers: Map<string, { offerId: string | null; budget: number; exampleCount: number }>;
  readonly received: Set<string>;
  /** Uploads between the leader's claim answer and their folding: a share waits for them. */
  readonly pending: Set<Promise<unknown>>;
}

type Ask = (call: ClusterCall) => Promise<unknown>;

export class MemberFederation implements FederationEndpoint {
  readonly id: string;
  private readonly limits: DecodeLimits & { readonly maxBytes: number };
  private replica: ReplicaRound | null = null;

  constructor(
    private readonly setup: FederationSetup,
    private readonly askLeader: Ask,
    private readonly notifyLeader: (message: unknown) => void,
    private readonly log: (line: string) => void,
  ) {
    this.id = setup.config.id;
    this.limits = { ...decodeLimits(setup.schema), maxBytes: setup.config.maxUpdateBytes };
  }

  private call<T>(
    method: ClusterCall['method'],
    socketId: string,
    clientId: string | undefined,
    body: unknown,
  ) {
    return this.askLeader({
      method,
      federation: this.id,
      socketId,
      ...(clientId === undefined ? {} : { clientId }),
      body,
    }) as Promise<T>;
  }

  join(request: JoinRequest, channel: ClientChannel) {
    return this.call<never>('join', channel.connectionId, undefined, request);
  }

  capabilities(clientId: string, report: CapabilityReport) {
    return this.call<never>('capabilities', '-', clientId, report);
  }

  heartbeat(clientId: string, beat: Heartbeat) {
    return this.call<never>('heartbeat', '-', clientId, beat);
  }

  demoShard(clientId: string) {
    return this.call<never>('demoShard', '-', clientId, {});
  }

  /** Checks and decodes here, has the leader count it (once, whichever process it reached), then folds it. */
  async update(clientId: string, meta: UpdateMeta, bytes: Uint8Array): Promise<UpdateReply | Refusal> {
    const replica = this.replica;
    if (replica === null || replica.round !== meta.round) {
      const open = replica === null ? 'no round is open' : `the open round is ${replica.round}`;
      return refusal('wrong-round', `${open}, not ${meta.round}`, 'update');
    }
    const offered = replica.offers.get(clientId);
    const update = decodeOfferedUpload(
      clientId,
      offered && {
        round: replica.round,
        offerId: offered.offerId,
        alreadyReceived: replica.received.has(clientId),
      },
      meta,
      bytes,
      this.limits,
    );
    if (isRefusal(update)) return update;
    let settle = () => {};
    const pending = new Promise<void>((resolve) => (settle = resolve));
    replica.pending.add(pending);
    try {
      const reply = await this.call<UpdateReply | Refusal>('claim', '-', clientId, {
        meta,
        bytes: bytes.byteLength,
        exampleCount: update.exampleCount,
      });
      if (!reply.ok) return reply;
      if (this.replica !== replica) {
        return refusal(
          'wrong-round',
          `round ${meta.round} closed before your update could be folded`,
          'update',
        );
      }
      try {
        replica.strategy.receive(update, {
          clientId,
          budget: offered!.budget,
          exampleCount: offered!.exampleCount,
        });
        replica.received.add(clientId);
        return reply;
      } catch (error) {
        void this.call('release', '-', clientId, { round: replica.round });
        return refusal(
          'bad-payload',
          `the strategy refused the update: ${(error as Error).message}`,
          'update',
        );
      }
    } finally {
      replica.pending.delete(pending);
      settle();
    }
  }

  disconnect(clientId: string, channel: ClientChannel): void {
    this.notifyLeader({ kind: 'disconnect', federation: this.id, socketId: channel.connectionId, clientId });
  }

  /** Quiet ones (a throttled flood) stay here: a flood must not cross Redis. */
  refuse(entry: Omit<RefusalEntry, 'at' | 'federation'>, quiet = false): void {
    if (quiet) return;
    this.notifyLeader({ kind: 'refused', federation: this.id, entry });
  }

  /** The leader opened a round: the strategy at the leader's state makes the same offers, in the same order. */
  openRound(message: unknown): void {
    const opening = roundOpenSchema.parse(message);
    const strategy = federationStrategy(this.setup);
    strategy.restore(opening.snapshot);
    const offers = new Map<string, { offerId: string | null; budget: number; exampleCount: number }>();
    for (const { clientId, budget, exampleCount, offerId } of opening.offers) {
      strategy.offer({ clientId, budget, exampleCount }, opening.round);
      offers.set(clientId, { offerId, budget, exampleCount });
    }
    this.replica = { round: opening.round, strategy, offers, received: new Set(), pending: new Set() };
  }

  /** This process's share of `round` once its uploads in flight are folded (null: it has none). */
  async share(round: number): Promise<unknown> {
    const replica = this.replica;
    if (replica === null || replica.round !== round) return null;
    await Promise.all(replica.pending);
    return replica.strategy.exportRoundShare!(round);
  }

  closeRound(round: number): void {
    if (this.replica?.round === round) this.replica = null;
  }
}

/** Wires a member process: its federations' stand-ins and the answers it gives the leader. */
export function attachMember(
  io: Server,
  setups: readonly FederationSetup[],
  log: (line: string) => void,
): Map<string, MemberFederation> {
  const askLeader: Ask = async (call) => {
    const { answers, error } = await ask(io, CLUSTER_EVENTS.call, call);
    if (answers.length === 0) {
      return refusal(
        'internal',
        `the leading coordinator did not answer${error ? ` (${error.message})` : ''}`,
        call.method,
      );
    }
    return answers[0];
  };
  const notifyLeader = (message: unknown) => io.serverSideEmit(CLUSTER_EVENTS.notify, message);
  const members = new Map(
    setups.map((s) => [s.config.id, new MemberFederation(s, askLeader, notifyLeader, log)]),
  );
  // Other members' calls are for the leader: answer null so the asking process does not wait for us.
  io.on(CLUSTER_EVENTS.call, (_message: unknown, ack: (reply: unknown) => void) => ack(null));
  io.on(CLUSTER_EVENTS.roundOpen, (message: unknown) => {
    const federation = members.get((message as { federation?: string } | null)?.federation ?? '');
    try {
      federation?.openRound(message);
    } catch (error) {
      log(`cluster: could not replicate a round: ${(error as Error).message}`);
    }
  });
  io.on(CLUSTER_EVENTS.roundClosed, (message: unknown) => {
    const ref = roundRefSchema.safeParse(message);
    if (ref.success) members.get(ref.data.federation)?.closeRound(ref.data.round);
  });
  io.on(CLUSTER_EVENTS.share, (message: unknown, ack: (share: unknown) => void) => {
    const ref = roundRefSchema.safeParse(message);
    const federation = ref.success ? members.get(ref.data.federation) : undefined;
    if (!federation) return ack(null);
    federation.share(ref.data!.round).then(ack, (error: unknown) => {
      log(`cluster: share of round ${ref.data!.round} failed: ${String(error)}`);
      ack(null);
    });
  });
  return members;
}
