import { decodeLimits, type ModelSchema } from '@fedhft/core';
import type { LocalDataset } from './data/local-data';
import {
  LinkRefusal,
  type CoordinatorLink,
  type FederationSummary,
  type Joined,
  type RoundNotice,
  type SkipOffer,
  type TrainOffer,
} from './link';
import { Outbox } from './outbox';
import type { Trainer } from './trainer';
import type { Capability, RoundMetrics } from './worker/messages';

/**
 * One client's participation, whatever the link: join, build the model schema in the worker, hand it the data,
 * report the capability (through the outbox), then train each offered round in the worker and send the update
 * (through the outbox). The page shows what the callbacks report.
 */

export interface RoundRecord {
  readonly round: number;
  readonly offerId: string;
  readonly budget: number;
  readonly metrics: RoundMetrics;
  /** Bytes of the encoded update (sent unless the offer was local-only). */
  readonly updateBytes: number;
  readonly sent: boolean;
  /** Milliseconds from the offer to the update being ready. */
  readonly wallMs: number;
}

export interface SessionEvents {
  onJoined?(joined: Joined): void;
  onBudget?(budget: number): void;
  onOffer?(offer: TrainOffer | SkipOffer): void;
  onRoundTrained?(record: RoundRecord): void;
  onNotice?(notice: RoundNotice): void;
  onBytes?(sent: number, received: number): void;
  onError?(message: string): void;
  /** The coordinator refused an update (late, stale offer, ...): shown, but not a failure of the page. */
  onRefused?(round: number, refusal: LinkRefusal): void;
  /** The coordinator accepted an update. */
  onAccepted?(round: number, received: number | undefined): void;
  /** Training starts (true) or ends (false) in the worker. */
  onTraining?(training: boolean): void;
}

export interface Attached {
  readonly joined: Joined;
  readonly schema: ModelSchema;
  readonly budget: number;
}

export class ClientSession {
  private outbox: Outbox | null = null;
  private received = 0;
  private joined: Joined | null = null;
  private budget = 1;
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly trainer: Trainer,
    private readonly capability: Capability,
    private readonly events: SessionEvents = {},
  ) {}

  get bytesSent(): number {
    return this.outbox?.bytesSent ?? 0;
  }

  get bytesReceived(): number {
    return this.received;
  }

  /**
   * Joins through `link`. `dataFor` gives the local data checked against the federation (its classes); the
   * schema the worker builds sets the decode limits of the outbox.
   */
  async attach(
    link: CoordinatorLink,
    dataFor: (federation: FederationSummary) => Promise<LocalDataset>,
  ): Promise<Attached> {
    this.detach();
    const joined = await link.connect();
    this.joined = joined;
    this.events.onJoined?.(joined);
    const { federation } = joined;
    const data = await dataFor(federation);
    if (data.labelNames.length !== federation.numClasses) {
      throw new Error(
        `${data.fileName} has ${data.labelNames.length} labels, the federation trains ${federation.numClasses} classes`,
      );
    }
    const schema = await this.trainer.configure({
      numClasses: federation.numClasses,
      rank: federation.rank,
      alpha: federation.alpha,
      targets: [...federation.targets],
    });
    const copy = (part: LocalDataset['train']) => ({ texts: [...part.texts], labels: [...part.labels] });
    await this.trainer.setData({
      numClasses: federation.numClasses,
      train: copy(data.train),
      heldOut: copy(data.heldOut),
    });
    const outbox = new Outbox(link, decodeLimits(schema));
    this.outbox = outbox;
    this.unsubscribe.push(
      link.onOffer((offer, payload) => void this.handleOffer(link, offer, payload)),
      link.onRound((notice) => this.events.onNotice?.(notice)),
    );
    const { budget } = await outbox.sendCapabilities({
      backend: this.capability.backend,
      memoryBytes: this.capability.memoryBytes,
      tokensPerSecond: this.capability.tokensPerSecond,
      examples: data.train.texts.length,
    });
    this.budget = budget;
    this.events.onBudget?.(budget);
    this.reportBytes();
    return { joined, schema, budget };
  }

  detach(): void {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.outbox = null;
  }

  private reportBytes(): void {
    this.events.onBytes?.(this.bytesSent, this.received);
  }

  private async handleOffer(
    link: CoordinatorLink,
    offer: TrainOffer | SkipOffer,
    payload: Uint8Array | null,
  ): Promise<void> {
    this.events.onOffer?.(offer);
    if (offer.kind === 'skip') return;
    const outbox = this.outbox;
    const joined = this.joined;
    if (!outbox || !joined) return;
    try {
      if (!payload) throw new Error(`the offer for round ${offer.round} came without a model payload`);
      if (!offer.local) this.received += payload.byteLength;
      this.reportBytes();
      const started = performance.now();
      this.events.onTraining?.(true);
      link.setActivity?.('training', 0);
      // The worker gets its own copy of the payload (the buffer is transferred, and may be shared here).
      const copy = payload.slice().buffer as ArrayBuffer;
      const reply = await this.trainer
        .train({
          clientId: joined.clientId,
          round: offer.round,
          offerId: offer.offerId,
          seed: offer.seed,
          plan: offer.plan,
          train: offer.train,
          precision: offer.precision,
          ...(offer.headPrecision === undefined ? {} : { headPrecision: offer.headPrecision }),
          payload: copy,
        })
        .finally(() => {
          link.setActivity?.('idle');
          this.events.onTraining?.(false);
        });
      const bytes = new Uint8Array(reply.bytes);
      const { metrics } = reply;
      const record: RoundRecord = {
        round: offer.round,
        offerId: offer.offerId,
        budget: offer.plan.budget,
        metrics,
        updateBytes: bytes.byteLength,
        sent: !offer.local,
        wallMs: performance.now() - started,
      };
      this.events.onRoundTrained?.(record);
      // Local-only training: the update never leaves the device.
      if (offer.local) return;
      link.setActivity?.('uploading');
      const ack = await outbox.sendUpdate(
        {
          federation: offer.federation,
          clientId: joined.clientId,
          round: offer.round,
          offerId: offer.offerId,
          metrics: {
            ...(Number.isFinite(metrics.meanLoss) ? { loss: metrics.meanLoss } : {}),
            ...(metrics.accuracy === null ? {} : { accuracy: metrics.accuracy }),
            heldOutExamples: metrics.heldOutExamples,
            trainSeconds: metrics.trainSeconds,
            peakBytes: metrics.peakBytes,
          },
        },
        bytes,
      );
      this.events.onAccepted?.(offer.round, ack.received);
      this.reportBytes();
    } catch (error) {
      if (error instanceof LinkRefusal) this.events.onRefused?.(offer.round, error);
      else this.events.onError?.(`round ${offer.round}: ${(error as Error).message}`);
    } finally {
      link.setActivity?.('idle');
    }
  }

  /** The budget level the coordinator assigned from the capability report. */
  get assignedBudget(): number {
    return this.budget;
  }
}
