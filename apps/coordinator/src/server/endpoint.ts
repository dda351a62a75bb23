import type {
  CapabilityReport,
  DemoShardReply,
  Heartbeat,
  HeartbeatReply,
  JoinReply,
  JoinRequest,
  Refusal,
  UpdateMeta,
  UpdateReply,
} from '@fedhft/core';
import type { ClientChannel } from './federation';
import type { RefusalEntry } from './refusals';

/**
 * What the socket layer needs of a federation: the Federation itself in a single process, or, in a member
 * process of a multi-process coordinator, a stand-in that asks the leader (and folds updates locally).
 * Replies may come at once or later.
 */

type Reply<T> = T | Refusal;
type Maybe<T> = T | Promise<T>;

export interface FederationEndpoint {
  readonly id: string;
  join(request: JoinRequest, channel: ClientChannel): Maybe<Reply<JoinReply>>;
  capabilities(clientId: string, report: CapabilityReport): Maybe<Reply<{ ok: true; budget: number }>>;
  update(clientId: string, meta: UpdateMeta, bytes: Uint8Array): Maybe<Reply<UpdateReply>>;
  heartbeat(clientId: string, beat: Heartbeat): Maybe<Reply<HeartbeatReply>>;
  demoShard(clientId: string): Maybe<Reply<DemoShardReply>>;
  disconnect(clientId: string, channel: ClientChannel): void;
  /** quiet: count only (a throttled flood), no log line, file entry or dashboard row. */
  refuse(entry: Omit<RefusalEntry, 'at' | 'federation'>, quiet?: boolean): void;
}
