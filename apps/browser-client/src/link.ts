import type { TrainHyperParameters } from './worker/messages';

/**
 * The page's connection to a coordinator, transport-free. `LocalLink` (local-link.ts) plays the coordinator in
 * the page, for trying the client without one; the socket.io link implements the same interface over the
 * protocol of @fedhft/core (its messages are supersets of these types, so it passes them through). Only the
 * outbox (outbox.ts) calls the sending methods: it is the one path by which anything leaves the page.
 */

/** What a joined client learns about the federation: the model it must build and how many rounds there are. */
export interface FederationSummary {
  readonly id: string;
  readonly strategy: string;
  /** Encoder name the client loads ('use-lite'). */
  readonly encoder: string;
  readonly numClasses: number;
  /** Class names in id order; a local file's labels must be among them. */
  readonly labelNames?: readonly string[];
  readonly rank: number;
  readonly alpha: number;
  /** LoRA targets (kinds or weight names). */
  readonly targets: readonly string[];
  /** The round the federation is at. */
  readonly round: number;
  readonly totalRounds: number;
}

export interface Joined {
  readonly clientId: string;
  /** True when a stored identity was resumed (after a reload). */
  readonly resumed: boolean;
  /** Budget level from an earlier capability report, if any. */
  readonly budget?: number;
  readonly federation: FederationSummary;
}

/** The capability report as sent (protocol CapabilityReport). */
export interface CapabilityReport {
  readonly backend: string;
  readonly memoryBytes: number;
  readonly tokensPerSecond: number;
  readonly examples?: number;
}

export type Precision = 'fp32' | 'fp16' | 'int8';

/** A round offer to train (protocol OfferMessage, kind 'train'); its model payload comes beside it, binary. */
export interface TrainOffer {
  readonly kind: 'train';
  readonly federation: string;
  readonly round: number;
  readonly offerId: string;
  readonly plan: {
    readonly mode: 'lora' | 'full';
    readonly rank: number;
    readonly adapterStart: 'merge' | 'continue';
    readonly maskMode: 'pre' | 'post' | 'none';
    readonly budget: number;
    readonly scale?: number;
  };
  readonly train: TrainHyperParameters;
  readonly seed: number;
  readonly precision: Precision;
  readonly headPrecision?: Precision;
  readonly deadline?: number;
  /** Local-only training: the update never leaves the page. */
  readonly local?: boolean;
}

export interface SkipOffer {
  readonly kind: 'skip';
  readonly federation: string;
  readonly round: number;
  readonly reason: string;
}

/** Numbers reported beside an update (protocol ReportedRoundMetrics). */
export interface ReportedRoundMetrics {
  readonly loss?: number;
  readonly accuracy?: number;
  readonly heldOutExamples?: number;
  readonly trainSeconds?: number;
  readonly peakBytes?: number;
}

/** The JSON part of an update message (protocol UpdateMeta). */
export interface UpdateMeta {
  readonly federation: string;
  readonly clientId: string;
  readonly round: number;
  readonly offerId: string;
  readonly metrics?: ReportedRoundMetrics;
}

export interface UpdateAck {
  readonly round: number;
  /** Updates received so far this round, this one included (absent when a resent update was a duplicate). */
  readonly received?: number;
}

/** A round's outcome (protocol RoundNotice), with this client's soft cluster memberships when known. */
export interface RoundNotice {
  readonly federation: string;
  readonly round: number;
  readonly status: 'aggregated' | 'failed';
  readonly participants: number;
  readonly included: boolean;
  readonly reason?: string;
  /** pi_k: this client's membership of each cluster after the round. */
  readonly memberships?: readonly number[];
}

export type Unsubscribe = () => void;

/** The coordinator refused a request (protocol Refusal): the page shows its code and reason. */
export class LinkRefusal extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    readonly event: string,
  ) {
    super(`${event} refused (${code}): ${reason}`);
    this.name = 'LinkRefusal';
  }
}

/** What the client is doing, for the coordinator's dashboard (protocol Heartbeat). */
export type Activity = 'idle' | 'loading' | 'training' | 'uploading';

/** The coordinator's view of the federation, from heartbeat replies. */
export interface ServerStatus {
  readonly round: number;
  readonly phase: 'waiting' | 'training' | 'finished';
  readonly serverTime: number;
}

/** A shard of a public demo corpus handed out by the coordinator (protocol DemoShard). */
export interface DemoShard {
  readonly index: number;
  readonly count: number;
  readonly corpus: string;
  readonly labelNames: readonly string[];
  readonly texts: readonly string[];
  readonly labels: readonly number[];
  readonly notice: string;
}

export interface CoordinatorLink {
  /** Joins (or rejoins with the stored identity) and says what the federation trains. */
  connect(): Promise<Joined>;
  /** Sends the measured capability; resolves with the budget level s_k the coordinator assigns. */
  reportCapabilities(report: CapabilityReport): Promise<{ budget: number }>;
  /** Round offers with their encoded model payload (absent for skips). */
  onOffer(listener: (offer: TrainOffer | SkipOffer, payload: Uint8Array | null) => void): Unsubscribe;
  /** Sends an encoded update with its metadata; resolves when the coordinator accepted it. */
  sendUpdate(meta: UpdateMeta, update: Uint8Array): Promise<UpdateAck>;
  /** Round outcomes (aggregated or failed, with memberships when the coordinator sends them). */
  onRound(listener: (notice: RoundNotice) => void): Unsubscribe;
  /** Connection state changes and errors, for the status line. */
  onState?(
    listener: (state: 'connected' | 'disconnected' | 'reconnecting', detail?: string) => void,
  ): Unsubscribe;
  /** Refusals the coordinator sent without a request to answer (e.g. this identity joined elsewhere). */
  onRefused?(listener: (refusal: LinkRefusal) => void): Unsubscribe;
  /** The coordinator's round and phase, as heartbeats learn them. */
  onServerStatus?(listener: (status: ServerStatus) => void): Unsubscribe;
  /** What the client is doing, sent with the next heartbeats (progress in [0, 1]). */
  setActivity?(activity: Activity, progress?: number): void;
  /** A demo shard from the coordinator (federations with a demo corpus), after connect(). */
  requestDemoShard?(): Promise<DemoShard>;
  close(): void;
}

export interface LinkOptions {
  readonly url: string;
  readonly token: string;
  readonly federation: string;
}

/** Builds the link for a coordinator URL, token and federation (link-socket.ts provides the real one). */
export type LinkFactory = (options: LinkOptions) => CoordinatorLink;
