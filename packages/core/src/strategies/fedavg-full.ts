import { DenseAggregator } from '../aggregation/dense-aggregator';
import { HeadAggregator } from '../aggregation/head-aggregator';
import type { ClientUpdate, DenseTensor, HeadParams } from '../update';
import { payload, singleCluster } from './common';
import { checkOptionsObject } from './options';
import { RoundTracker } from './rounds';
import { checkSchema, shapeSize, startingHead } from './schema';
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
import { checkDenseUpload } from './uploads';

export interface FedAvgFullOptions {
  /** Starting head (default zeros). */
  readonly initialHead?: HeadParams;
}

const OPTIONS = ['initialHead'] as const;

interface RoundSums {
  readonly dense: DenseAggregator;
  readonly head: HeadAggregator;
}

/**
 * FedAvg with full fine-tuning, the reference for communication and memory: every encoder weight
 * (schema.dense) and the head are trained and sent. The server keeps the global delta from W0, sends it
 * whole, and adds the N_k-weighted mean of the clients' deltas; the head is the N_k-weighted mean of the
 * trained heads. Budgets are ignored (plan.budget passes the client's through). plan.rank is 0: no LoRA.
 */
export class FedAvgFullStrategy implements Strategy {
  readonly name = 'fedavg-full';
  private readonly schema: ModelSchema;
  private delta: Map<string, DenseTensor>;
  private head: HeadParams;
  private readonly rounds = new RoundTracker<true>();
  private sums: RoundSums | null = null;

  constructor(schema: ModelSchema, options: FedAvgFullOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'fedavg-full');
    this.schema = checkSchema(schema, 'dense');
    this.delta = new Map(
      this.schema.dense.map(({ name, shape }) => [name, { shape, data: new Float32Array(shapeSize(shape)) }]),
    );
    this.head = startingHead(this.schema, options.initialHead);
  }

  offer(client: ClientProfile, round: number): ClientOffer {
    this.rounds.checkOffer(client, round);
    this.rounds.recordOffer(client.clientId, round, true);
    return {
      kind: 'train',
      payload: payload(round, { kind: 'mixture', factors: new Map() }, this.head, new Map(), this.delta),
      plan: { mode: 'full', rank: 0, adapterStart: 'merge', maskMode: 'none', budget: client.budget },
    };
  }

  receive(update: ClientUpdate, client: ClientProfile): void {
    this.rounds.checkUpdate(update, client);
    checkDenseUpload(update, this.schema);
    const sums = (this.sums ??= { dense: new DenseAggregator(), head: new HeadAggregator() });
    sums.dense.check(update.dense, update.exampleCount);
    sums.head.check(update.head, update.exampleCount);
    sums.dense.add(update.dense, update.exampleCount);
    sums.head.add(update.head, update.exampleCount);
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    const sums = this.sums;
    this.sums = null;
    const mean = sums?.dense.finish() ?? null;
    if (mean !== null) {
      // old + mean is written into the mean's fresh buffers, which become the state: never mutated in place.
      for (const [name, tensor] of mean) {
        const old = this.delta.get(name)!.data;
        const data = tensor.data;
        for (let i = 0; i < data.length; i++) data[i]! += old[i]!;
      }
      this.delta = mean;
    }
    this.head = sums?.head.finish() ?? this.head;
    const dense = new Map([...this.delta].map(([name, tensor]) => [name, tensor.data]));
    return {
      round,
      participants,
      memberships: singleCluster(participants),
      clusterModels: [{ deltas: new Map(), dense, head: this.head }],
    };
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const delta: Record<string, string> = {};
    for (const [name, tensor] of this.delta) delta[name] = encodeArray(tensor.data);
    return wrapSnapshot(this.name, { schema: this.schema }, this.rounds.nextRound, {
      delta,
      head: encodeHead(this.head),
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, { schema: this.schema });
    const saved = record(state.delta, 'delta');
    const delta = new Map<string, DenseTensor>();
    for (const { name, shape } of this.schema.dense) {
      delta.set(name, { shape, data: decodeFloat32(saved[name], shapeSize(shape), `delta "${name}"`) });
    }
    const head = decodeHead(state.head, this.schema, 'head');
    this.delta = delta;
    this.head = head;
    this.rounds.nextRound = nextRound;
  }
}
