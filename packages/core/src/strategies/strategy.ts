import type { ModelPayload } from '../codec/model-payload';
import type { ClientUpdate, HeadParams } from '../update';

/**
 * The federated strategies (FedHFT and the baselines) behind one interface, transport-free: the simulator calls
 * them in-process, the coordinator over socket.io; both run exactly this code.
 */

/** What the server knows of a client when it plans a round. */
export interface ClientProfile {
  readonly clientId: string;
  /** s_k in (0, 1]: fraction of adapter rows (or of rank, for HetLoRA) the client can afford. */
  readonly budget: number;
  /** N_k as last reported (0 before the first update). */
  readonly exampleCount: number;
}

/** The model every strategy works on: adapted weights, dense encoder weights (full fine-tuning) and head. */
export interface ModelSchema {
  /** Adapted weights in FedHFT's [dOut, dIn] convention. */
  readonly adapted: readonly { readonly name: string; readonly dOut: number; readonly dIn: number }[];
  /** Every encoder weight with its stored shape (only full fine-tuning uses it). */
  readonly dense: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly embeddingSize: number;
  readonly numClasses: number;
  /** LoRA rank r and alpha of the reference configuration. */
  readonly rank: number;
  readonly alpha: number;
}

/** How the client trains this round (sent beside the payload as hyper-parameters). */
export interface TrainingPlan {
  /** 'lora': train LoRA factors + head; 'full': every encoder weight + head. */
  readonly mode: 'lora' | 'full';
  /** LoRA rank for this client (HetLoRA gives each client its own). */
  readonly rank: number;
  /**
   * 'merge': add the payload's adapters to the frozen weights and train a fresh LoRA (FedHFT, FLoRA);
   * 'continue': start the client's LoRA from the payload's factors and keep training them (FedAvg-LoRA, HetLoRA).
   */
  readonly adapterStart: 'merge' | 'continue';
  /** 'pre': train only the payload's preMasks rows; 'post': train all rows, upload the top `budget`; 'none'. */
  readonly maskMode: 'pre' | 'post' | 'none';
  /** The client's budget s_k, passed through (maskMode and rank say what the strategy does with it). */
  readonly budget: number;
  /**
   * Scale of the LoRA the client trains and reports in its update: alpha / rank for a fresh LoRA ('merge');
   * for 'continue', the payload factors' scale, which the client must keep (HetLoRA's truncated factors keep
   * the global alpha / r). Absent for full fine-tuning.
   */
  readonly scale?: number;
}

/** What one selected client receives: its payload and plan, or a reason it sits this round out. */
export type ClientOffer =
  | {
      readonly kind: 'train';
      readonly payload: ModelPayload;
      readonly plan: TrainingPlan;
      /**
       * True when payload and update never leave the client (local-only training): byte accounting must not
       * count them as communication.
       */
      readonly local?: boolean;
    }
  | { readonly kind: 'skip'; readonly reason: string };

/** What a finished round produced, for metrics and dashboards. */
export interface RoundSummary {
  readonly round: number;
  readonly participants: readonly string[];
  /** Soft memberships after the round (client id -> pi_k); one cluster for strategies without clusters. */
  readonly memberships: ReadonlyMap<string, Float64Array>;
  /** Each cluster's (or the global) model: adapter deltas [dOut x dIn] and head, for global evaluation. */
  readonly clusterModels: readonly ClusterModel[];
  /**
   * Strategy-specific numbers for logs and dashboards (e.g. stacked rank, truncation error); names documented
   * per strategy.
   */
  readonly diagnostics?: Readonly<Record<string, number>>;
}

/**
 * Shares buffers with the strategy's state (never mutated in place, replaced each round): treat as read-only.
 */
export interface ClusterModel {
  readonly deltas: ReadonlyMap<string, Float32Array>;
  readonly dense: ReadonlyMap<string, Float32Array>;
  readonly head: HeadParams;
}

export interface Strategy {
  readonly name: string;
  /** What `client` receives for `round` (called once per selected client, before any update arrives). */
  offer(client: ClientProfile, round: number): ClientOffer;
  /** Folds one validated update into the round's accumulators as it arrives (streaming). */
  receive(update: ClientUpdate, client: ClientProfile): void;
  /** Closes the round: aggregates, updates memberships, and reports. */
  finishRound(round: number): RoundSummary;
  /**
   * JSON-serialisable state (with typed arrays as plain arrays or base64) for checkpoints, and its inverse.
   * Taken between rounds (after finishRound, before the next offer).
   */
  snapshot(): unknown;
  restore(state: unknown): void;
  /**
   * Rounds split over several coordinator processes (optional): each process folds the updates it receives,
   * the leading process merges the others' shares (exportRoundShare on theirs, mergeRoundShare on its own)
   * before finishRound. splitRoundsUnsupported says why a configuration cannot (null when it can).
   */
  splitRoundsUnsupported?(): string | null;
  exportRoundShare?(round: number): unknown;
  mergeRoundShare?(share: unknown): void;
}
