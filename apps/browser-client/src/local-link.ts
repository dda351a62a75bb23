import {
  createStrategy,
  decodeLimits,
  decodeUpdate,
  encodeModelPayload,
  type ClientProfile,
  type ModelSchema,
  type Strategy,
} from '@fedhft/core';
import type {
  CapabilityReport,
  CoordinatorLink,
  Joined,
  Precision,
  RoundNotice,
  SkipOffer,
  TrainOffer,
  UpdateAck,
  UpdateMeta,
} from './link';
import type { TrainHyperParameters } from './worker/messages';

/**
 * A coordinator inside the page, for trying the client without one: a one-client FedHFT federation whose offers
 * and updates go through the same codec and the same link interface as the real ones. Each `offerRound()` makes
 * the strategy's offer, encodes its payload and hands it to the offer listeners; the update sent back is decoded,
 * folded in and the round closed, which yields this client's memberships.
 */

export interface LocalLinkOptions {
  readonly numClasses: number;
  readonly labelNames?: readonly string[];
  readonly rank: number;
  readonly alpha: number;
  readonly targets: readonly string[];
  readonly clusters: number;
  readonly train: TrainHyperParameters;
  readonly precision: Precision;
  readonly seed: number;
}

/** The coordinator's default budget levels (apps/coordinator server config): the highest level met wins. */
export const DEFAULT_BUDGET_LEVELS = [
  { budget: 1, minMemoryBytes: 2 * 2 ** 30, minTokensPerSecond: 500 },
  { budget: 0.5, minMemoryBytes: 2 ** 30, minTokensPerSecond: 0 },
  { budget: 0.25, minMemoryBytes: 0, minTokensPerSecond: 0 },
] as const;

export function localBudget(report: CapabilityReport): number {
  const met = DEFAULT_BUDGET_LEVELS.find(
    (l) => report.memoryBytes >= l.minMemoryBytes && report.tokensPerSecond >= l.minTokensPerSecond,
  );
  return (met ?? DEFAULT_BUDGET_LEVELS[2]).budget;
}

const FEDERATION = 'local';
const CLIENT_ID = 'local-client';

export class LocalLink implements CoordinatorLink {
  private readonly offerListeners = new Set<
    (offer: TrainOffer | SkipOffer, payload: Uint8Array | null) => void
  >();
  private readonly roundListeners = new Set<(notice: RoundNotice) => void>();
  private strategy: Strategy | null = null;
  private schema: ModelSchema | null = null;
  private budget = 1;
  private round = 0;
  private examples = 0;

  constructor(private readonly options: LocalLinkOptions) {}

  async connect(): Promise<Joined> {
    const { numClasses, labelNames, rank, alpha, targets } = this.options;
    return {
      clientId: CLIENT_ID,
      resumed: false,
      federation: {
        id: FEDERATION,
        strategy: 'fedhft',
        encoder: 'use-lite',
        numClasses,
        ...(labelNames ? { labelNames } : {}),
        rank,
        alpha,
        targets,
        round: this.round,
        totalRounds: Number.MAX_SAFE_INTEGER,
      },
    };
  }

  async reportCapabilities(report: CapabilityReport): Promise<{ budget: number }> {
    this.budget = localBudget(report);
    return { budget: this.budget };
  }

  /** The strategy is built on the schema of the worker's encoder (known once the worker has the model). */
  setSchema(schema: ModelSchema): void {
    this.schema = schema;
    // One client cannot be clustered against others: memberships stay uniform (warm-up never ends).
    this.strategy = createStrategy('fedhft', schema, {
      clusters: this.options.clusters,
      warmupRounds: Number.MAX_SAFE_INTEGER,
      seed: this.options.seed,
    });
  }

  /** Makes the next round's offer and delivers it to the offer listeners. */
  offerRound(): void {
    if (!this.strategy) throw new Error('the local coordinator needs the model schema first');
    const profile: ClientProfile = { clientId: CLIENT_ID, budget: this.budget, exampleCount: this.examples };
    const offer = this.strategy.offer(profile, this.round);
    if (offer.kind === 'skip') {
      const skip: SkipOffer = {
        kind: 'skip',
        federation: FEDERATION,
        round: this.round,
        reason: offer.reason,
      };
      for (const listener of this.offerListeners) listener(skip, null);
      return;
    }
    const payload = encodeModelPayload(offer.payload, { precision: 'fp32' });
    const message: TrainOffer = {
      kind: 'train',
      federation: FEDERATION,
      round: this.round,
      offerId: `local-${this.round}`,
      plan: offer.plan,
      train: this.options.train,
      seed: this.options.seed,
      precision: this.options.precision,
    };
    for (const listener of this.offerListeners) listener(message, payload);
  }

  onOffer(listener: (offer: TrainOffer | SkipOffer, payload: Uint8Array | null) => void): () => void {
    this.offerListeners.add(listener);
    return () => this.offerListeners.delete(listener);
  }

  onRound(listener: (notice: RoundNotice) => void): () => void {
    this.roundListeners.add(listener);
    return () => this.roundListeners.delete(listener);
  }

  async sendUpdate(meta: UpdateMeta, bytes: Uint8Array): Promise<UpdateAck> {
    if (!this.strategy || !this.schema) throw new Error('no round is open');
    if (meta.round !== this.round || meta.offerId !== `local-${this.round}`) {
      throw new Error(`update for round ${meta.round} (${meta.offerId}), the open round is ${this.round}`);
    }
    const update = decodeUpdate(bytes, decodeLimits(this.schema));
    const profile: ClientProfile = { clientId: CLIENT_ID, budget: this.budget, exampleCount: this.examples };
    this.strategy.receive(update, profile);
    this.examples = update.exampleCount;
    const summary = this.strategy.finishRound(this.round);
    const memberships = summary.memberships.get(CLIENT_ID);
    const notice: RoundNotice = {
      federation: FEDERATION,
      round: this.round,
      status: 'aggregated',
      participants: summary.participants.length,
      included: summary.participants.includes(CLIENT_ID),
      ...(memberships ? { memberships: Array.from(memberships) } : {}),
    };
    const ack = { round: this.round, received: 1 };
    this.round++;
    // After the ack, as a coordinator's notice follows the acknowledgement.
    queueMicrotask(() => {
      for (const listener of this.roundListeners) listener(notice);
    });
    return ack;
  }

  close(): void {
    this.offerListeners.clear();
    this.roundListeners.clear();
  }
}
