import type {
  ClientProfile,
  HeadParams,
  ModelSchema,
  OfferMessage,
  ReportedRoundMetrics,
} from '@fedhft/core';
import type { PeftNaming } from '@fedhft/adapters';
import type { ClientView } from './clients';
import type { FederationConfig } from './config';
import type { DemoShards, DemoShardSummary } from './demo-shards';
import type { RefusalEntry, RefusalSummary } from './refusals';

/** The types a federation is set up with, reports (state, records, events) and splits rounds through. */

/** A connected client as the federation sees it (a socket.io socket in the server). */
export interface ClientChannel {
  readonly connectionId: string;
  send(event: string, ...args: unknown[]): void;
  disconnect(reason: string): void;
}

export interface FederationSetup {
  readonly config: FederationConfig;
  /** The model every client trains (modelSchema of the federation's encoder). */
  readonly schema: ModelSchema;
  /** Starting head (initialHead 'random': the CLI draws it from the encoder); the strategy's default if absent. */
  readonly initialHead?: HeadParams;
  /** Demo shards for clients that ask (config.demo); without them such requests are refused. */
  readonly demo?: DemoShards;
  /** How adapter exports name the encoder's modules (PEFT); our own weight names when absent. */
  readonly peft?: { readonly encoderId: string; readonly naming: PeftNaming };
}

export interface FederationRuntime {
  readonly dataDir: string;
  /** Continue from the checkpoint in dataDir (refused without this flag when one exists). */
  readonly resume?: boolean;
  readonly log?: (line: string) => void;
}

export type Phase = 'waiting' | 'training' | 'closing' | 'finished';

/** One round as the history and dashboards show it. */
export interface RoundRecord {
  readonly round: number;
  readonly status: 'aggregated' | 'failed';
  /** Which attempt at this round number (failed rounds are retried). */
  readonly attempt: number;
  /** When the round began (its offers started being made). */
  readonly startedAt: number;
  /** When every offer was made (the deadline counts from it); absent in checkpoints from before it existed. */
  readonly offeredAt?: number;
  readonly deadline: number;
  readonly closedAt: number;
  readonly closedBy: 'all-received' | 'deadline';
  readonly selected: string[];
  readonly skipped: { readonly clientId: string; readonly reason: string }[];
  /** Clients whose update was aggregated (in arrival order). */
  readonly participants: string[];
  /** Selected for training but no update by the deadline. */
  readonly missing: string[];
  readonly bytes: { readonly upload: number; readonly download: number };
  /** Budget level of each selected client in this round (absent in checkpoints from before it existed). */
  readonly budgets?: Record<string, number>;
  /** What participants reported about their round. */
  readonly clientMetrics: Record<string, ReportedRoundMetrics>;
  /** Participants' personalized accuracy weighted by held-out size (when they reported it). */
  readonly personalizedAccuracy: number | null;
  /** Soft memberships after the round (client id -> pi_k); empty for failed rounds. */
  readonly memberships: Record<string, number[]>;
  readonly diagnostics: Record<string, number>;
  readonly reason?: string;
}

export interface OpenRoundView {
  readonly round: number;
  readonly attempt: number;
  readonly startedAt: number;
  readonly deadline: number;
  readonly selected: string[];
  readonly training: string[];
  readonly received: string[];
}

/** Everything a dashboard shows of a federation (plain JSON). */
export interface FederationState {
  readonly id: string;
  readonly description: string;
  readonly strategy: string;
  readonly phase: Phase;
  /** No new round starts while paused (an open round still runs to its end). */
  readonly paused: boolean;
  /** The open round, or the next one. */
  readonly round: number;
  readonly totalRounds: number;
  readonly minClients: number;
  readonly clients: ClientView[];
  readonly openRound: OpenRoundView | null;
  readonly history: RoundRecord[];
  readonly refusals: RefusalSummary;
  /** Demo shards and who holds them (null: no demo corpus). */
  readonly demo: DemoShardSummary[] | null;
}

/** What happened, without the federation id and time every event carries. */
export type FederationEventBody =
  | { readonly type: 'client-joined'; readonly clientId: string; readonly resumed: boolean }
  | { readonly type: 'client-left'; readonly clientId: string }
  | { readonly type: 'capabilities'; readonly clientId: string; readonly budget: number }
  | {
      readonly type: 'round-started';
      readonly round: number;
      readonly selected: string[];
      readonly deadline: number;
    }
  | {
      readonly type: 'update-accepted';
      readonly round: number;
      readonly clientId: string;
      readonly bytes: number;
    }
  | { readonly type: 'round-closed'; readonly record: RoundRecord }
  | { readonly type: 'checkpoint'; readonly nextRound: number; readonly file: string }
  | { readonly type: 'refused'; readonly entry: RefusalEntry }
  | { readonly type: 'run-state'; readonly paused: boolean }
  | { readonly type: 'demo-shard'; readonly clientId: string; readonly index: number }
  | { readonly type: 'finished' };

export type FederationEvent = { readonly federation: string; readonly at: number } & FederationEventBody;

/** What a member process of a multi-process coordinator reports of an update it decoded (claimRemote). */
export interface RemoteClaim {
  readonly bytes: number;
  readonly exampleCount: number;
}

/** A round's offers, for member processes to replicate (they fold the updates that reach them). */
export interface RoundOpening {
  readonly federation: string;
  readonly round: number;
  readonly attempt: number;
  readonly deadline: number;
  /** The strategy state the offers were made from (the last completed round's). */
  readonly snapshot: unknown;
  /** In the order the strategy made them; offerId null for a skip. */
  readonly offers: { clientId: string; budget: number; exampleCount: number; offerId: string | null }[];
}

/**
 * How the leader of a multi-process coordinator splits rounds: members replicate each round's offers, fold
 * the updates their clients upload, and hand their share of the round over when it closes.
 */
export interface RoundSplit {
  opened(opening: RoundOpening): void;
  /** Every member's share of the round (FedHFT's exportRoundShare), collected once it closes. */
  collect(federation: string, round: number): Promise<unknown[]>;
  closed(federation: string, round: number): void;
}

/** What the open round offered one client. */
export interface Offered {
  readonly profile: ClientProfile;
  readonly offerId: string | null;
  readonly message: OfferMessage;
  /**
   * The encoded payload, kept to resend it to a client that reconnects mid-round; dropped once the client's
   * update is in (thousands of clients x a payload each is the round's largest memory).
   */
  payload: Uint8Array | null;
  /** The payload's size, for the round's byte count. */
  readonly payloadBytes: number;
}

export interface OpenRound {
  readonly round: number;
  readonly attempt: number;
  readonly startedAt: number;
  readonly offeredAt: number;
  readonly deadline: number;
  readonly offers: Map<string, Offered>;
  /** Offers to train (not skips): the round is complete when this many updates are in. */
  readonly training: number;
  /** remote: folded by a member process (multi-process rounds), merged from its share at the close. */
  readonly received: Map<string, { bytes: number; metrics?: ReportedRoundMetrics; remote?: boolean }>;
  timer: NodeJS.Timeout | null;
}
