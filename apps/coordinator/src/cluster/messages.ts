import { REFUSAL_CODES } from '@fedhft/core';
import { z } from 'zod';

/**
 * Messages between the processes of a multi-process coordinator, carried by socket.io's Redis adapter
 * (serverSideEmit). They cross a process boundary, so each is parsed before use. Client payloads inside
 * (join requests, reports, update metadata) were already checked by the sending process's socket layer and
 * are checked again by the leader's handlers where they reach a Federation.
 */

export const CLUSTER_EVENTS = {
  /** member -> leader, acknowledged with the leader's reply (other members answer null). */
  call: 'fedhft:call',
  /** member -> leader, no answer. */
  notify: 'fedhft:notify',
  /** leader -> members: a round's offers, to replicate. */
  roundOpen: 'fedhft:round-open',
  /** leader -> members: the round is over, drop it. */
  roundClosed: 'fedhft:round-closed',
  /** leader -> members, acknowledged with the member's share of the round (or null). */
  share: 'fedhft:share',
} as const;

const id = z.string().min(1).max(200);

export const callSchema = z.strictObject({
  method: z.enum(['join', 'capabilities', 'heartbeat', 'demoShard', 'claim', 'release']),
  federation: id,
  socketId: id,
  clientId: id.optional(),
  body: z.unknown(),
});
export type ClusterCall = z.infer<typeof callSchema>;

export const claimBodySchema = z.strictObject({
  meta: z.unknown(),
  bytes: z.number().int().nonnegative(),
  exampleCount: z.number().positive(),
});

export const releaseBodySchema = z.strictObject({ round: z.number().int().nonnegative() });

export const notifySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('disconnect'), federation: id, socketId: id, clientId: id }),
  z.strictObject({
    kind: z.literal('refused'),
    federation: id,
    entry: z.strictObject({
      event: z.string().max(200),
      code: z.enum(REFUSAL_CODES),
      reason: z.string().max(2000),
      socketId: id.optional(),
      clientId: id.optional(),
    }),
  }),
]);
export type ClusterNotify = z.infer<typeof notifySchema>;

export const roundOpenSchema = z.strictObject({
  federation: id,
  round: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  deadline: z.number(),
  snapshot: z.unknown(),
  offers: z.array(
    z.strictObject({
      clientId: id,
      budget: z.number().positive().max(1),
      exampleCount: z.number().nonnegative(),
      offerId: z.string().min(1).max(64).nullable(),
    }),
  ),
});

export const roundRefSchema = z.strictObject({ federation: id, round: z.number().int().nonnegative() });
