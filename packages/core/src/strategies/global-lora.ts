import { DenseAggregator } from '../aggregation/dense-aggregator';
import { HeadAggregator } from '../aggregation/head-aggregator';
import type { LowRankFactors } from '../codec/model-payload';
import type { ClientUpdate, DenseTensor, HeadParams } from '../update';
import { factorDeltas, mixturePayload, singleCluster } from './common';
import { initialLora, padFactors, truncateFactors } from './lora-factors';
import type { Seed } from './options';
import { RoundTracker } from './rounds';
import { checkSchema, startingHead } from './schema';
import {
  decodeFloat32,
  decodeHead,
  encodeArray,
  encodeHead,
  openSnapshot,
  record,
  wrapSnapshot,
} from './state-codec';
import type { ClientOffer, ClientProfile, ModelSchema, RoundSummary, Strategy } from './strategy';
import { checkAdapterUpload } from './uploads';

export interface GlobalLoraOptions {
  /** Seeds the LoRA initialisation of A. Default 0. */
  readonly seed?: Seed;
  /** Starting head (default zeros). */
  readonly initialHead?: HeadParams;
}

interface Offered {
  readonly rank: number;
}

interface RoundSums {
  readonly A: DenseAggregator;
  readonly B: DenseAggregator;
  readonly head: HeadAggregator;
}

/**
 * One global rank-r LoRA that clients download and keep training (adapterStart 'continue'), aggregated by
 * averaging A and B separately, weighted by N_k. This is inexact: mean(B_k) mean(A_k) != mean(B_k A_k), the
 * cross terms of different clients' factors enter the product (the defect FLoRA's stacking removes). A client
 * may train only the first r_k components (subclasses decide); its factors are zero-padded to rank r before
 * averaging, so components it did not train are pulled towards 0 in proportion to its weight. The factors
 * keep the global scale alpha / r at every rank, so a truncated adapter is exactly the leading part of the
 * global one.
 */
export abstract class GlobalLoraStrategy implements Strategy {
  abstract readonly name: string;
  protected readonly schema: ModelSchema;
  private readonly seed: Seed;
  private factors: Map<string, LowRankFactors>;
  private head: HeadParams;
  private readonly rounds = new RoundTracker<Offered>();
  private sums: RoundSums | null = null;

  constructor(schema: ModelSchema, options: GlobalLoraOptions) {
    this.schema = checkSchema(schema, 'adapted');
    this.seed = options.seed ?? 0;
    this.factors = initialLora(this.schema, this.seed);
    this.head = startingHead(this.schema, options.initialHead);
  }

  /** The rank client trains this round, or why it sits the round out. */
  protected abstract clientRank(client: ClientProfile): number | { readonly skip: string };

  /** Options the snapshot must agree on, besides the schema. */
  protected abstract config(): Record<string, unknown>;

  offer(client: ClientProfile, round: number): ClientOffer {
    this.rounds.checkOffer(client, round);
    const rank = this.clientRank(client);
    if (typeof rank !== 'number') {
      this.rounds.recordOffer(client.clientId, round, null);
      return { kind: 'skip', reason: rank.skip };
    }
    const factors = new Map([...this.factors].map(([name, f]) => [name, truncateFactors(f, rank)]));
    this.rounds.recordOffer(client.clientId, round, { rank });
    const scale = this.schema.alpha / this.schema.rank;
    return {
      kind: 'train',
      payload: mixturePayload(round, factors, this.head),
      plan: { mode: 'lora', rank, adapterStart: 'continue', maskMode: 'none', budget: client.budget, scale },
    };
  }

  receive(update: ClientUpdate, client: ClientProfile): void {
    const { rank } = this.rounds.checkUpdate(update, client);
    const scale = this.schema.alpha / this.schema.rank;
    checkAdapterUpload(update, this.schema, () => ({ rank, rows: 'all', scale }));
    const A = new Map<string, DenseTensor>();
    const B = new Map<string, DenseTensor>();
    for (const { name, dOut, dIn } of this.schema.adapted) {
      const padded = padFactors(update.adapters.get(name)!, this.schema.rank);
      A.set(name, { shape: [this.schema.rank, dIn], data: padded.A });
      B.set(name, { shape: [dOut, this.schema.rank], data: padded.B });
    }
    const sums = (this.sums ??= {
      A: new DenseAggregator(),
      B: new DenseAggregator(),
      head: new HeadAggregator(),
    });
    const weight = update.exampleCount;
    // Every check before the first add, so a refused update leaves no partial sum behind.
    sums.A.check(A, weight);
    sums.B.check(B, weight);
    sums.head.check(update.head, weight);
    sums.A.add(A, weight);
    sums.B.add(B, weight);
    sums.head.add(update.head, weight);
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    const sums = this.sums;
    this.sums = null;
    if (sums !== null) {
      const A = sums.A.finish();
      const B = sums.B.finish();
      if (A !== null && B !== null) {
        const next = new Map<string, LowRankFactors>();
        for (const [name, f] of this.factors)
          next.set(name, { ...f, A: A.get(name)!.data, B: B.get(name)!.data });
        this.factors = next;
      }
      this.head = sums.head.finish() ?? this.head;
    }
    return {
      round,
      participants,
      memberships: singleCluster(participants),
      clusterModels: [{ deltas: factorDeltas(this.factors), dense: new Map(), head: this.head }],
    };
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const factors: Record<string, { A: string; B: string }> = {};
    for (const [name, f] of this.factors) factors[name] = { A: encodeArray(f.A), B: encodeArray(f.B) };
    return wrapSnapshot(this.name, this.fullConfig(), this.rounds.nextRound, {
      factors,
      head: encodeHead(this.head),
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, this.fullConfig());
    const saved = record(state.factors, 'factors');
    const factors = new Map<string, LowRankFactors>();
    for (const [name, f] of this.factors) {
      const entry = record(saved[name], `factors "${name}"`);
      const A = decodeFloat32(entry.A, f.rank * f.dIn, `factors "${name}".A`);
      const B = decodeFloat32(entry.B, f.dOut * f.rank, `factors "${name}".B`);
      factors.set(name, { ...f, A, B });
    }
    const head = decodeHead(state.head, this.schema, 'head');
    this.factors = factors;
    this.head = head;
    this.rounds.nextRound = nextRound;
  }

  private fullConfig(): unknown {
    return { schema: this.schema, seed: this.seed, ...this.config() };
  }
}
