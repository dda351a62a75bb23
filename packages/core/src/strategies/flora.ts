import { HeadAggregator } from '../aggregation/head-aggregator';
import type { LowRankFactors } from '../codec/model-payload';
import { lowRankProduct } from '../linalg/low-rank';
import { randomizedSvd } from '../linalg/svd';
import { keptRowCount } from '../masks';
import type { ClientUpdate, HeadParams } from '../update';
import { mixturePayload, singleCluster } from './common';
import { uploadedFactors } from './lora-factors';
import { checkOptionsObject, positiveIntOption, seedOption, type Seed } from './options';
import { RoundTracker } from './rounds';
import { checkSchema, startingHead } from './schema';
import {
  decodeFloat32,
  decodeHead,
  encodeArray,
  encodeHead,
  integerField,
  openSnapshot,
  record,
  wrapSnapshot,
} from './state-codec';
import type { ClientOffer, ClientProfile, ModelSchema, RoundSummary, Strategy } from './strategy';
import { checkAdapterUpload } from './uploads';

export interface FloraOptions {
  /**
   * Re-factorise the stacked global delta to this rank (randomized SVD, lossy) whenever the stack grows past
   * it. Off by default: FLoRA proper keeps the stack exact and its download grows every round.
   */
  readonly refactorRank?: number;
  /** Seeds the re-factorisation sketches. Default 0. */
  readonly seed?: Seed;
  /** Starting head (default zeros). */
  readonly initialHead?: HeadParams;
}

const OPTIONS = ['refactorRank', 'seed', 'initialHead'] as const;

interface Offered {
  readonly rank: number;
}

interface Upload {
  readonly clientId: string;
  readonly weight: number;
  readonly factors: Map<string, LowRankFactors>;
}

/** Rank-0 stacks are sent as rank-1 zero factors: the wire format has no empty factor. */
function zeroFactors(dOut: number, dIn: number): LowRankFactors {
  return { dOut, dIn, rank: 1, B: new Float32Array(dOut), A: new Float32Array(dIn), scale: 1 };
}

/**
 * Appends p_k scale_k B_k A_k for every upload to the stack: B' = [B | p_1 s_1 B_1 | ...] and A' = [A; A_1;
 * ...] (scale 1), so B' A' = B A + sum_k p_k s_k B_k A_k exactly.
 */
function stack(
  previous: LowRankFactors | null,
  parts: readonly { p: number; f: LowRankFactors }[],
): LowRankFactors {
  const base = previous === null ? [] : [{ p: 1, f: previous }];
  const all = [...base, ...parts];
  const { dOut, dIn } = all[0]!.f;
  const rank = all.reduce((sum, { f }) => sum + f.rank, 0);
  const B = new Float32Array(dOut * rank);
  const A = new Float32Array(rank * dIn);
  let offset = 0;
  for (const { p, f } of all) {
    const weight = p * f.scale;
    for (let d = 0; d < dOut; d++) {
      for (let q = 0; q < f.rank; q++) B[d * rank + offset + q] = weight * f.B[d * f.rank + q]!;
    }
    A.set(f.A, offset * dIn);
    offset += f.rank;
  }
  return { dOut, dIn, rank, B, A, scale: 1 };
}

/**
 * FLoRA (Wang et al. 2024): each client trains a fresh LoRA of rank r_k = ceil(s_k r) on top of the current
 * global model (adapterStart 'merge'), and the server stacks the modules, which aggregates the products
 * exactly: global delta += sum_k p_k scale_k B_k A_k with p_k = N_k / sum N. The stacked factors are what
 * clients download, so the payload rank is the sum of every rank ever stacked and grows each round: FLoRA's
 * known communication (and server memory) cost, reported as the `stackedRank` diagnostic (the largest over
 * weights). Decoders must allow that rank (DecodeLimits.maxRank). `refactorRank` trades exactness for a
 * bounded download.
 */
export class FloraStrategy implements Strategy {
  readonly name = 'flora';
  private readonly schema: ModelSchema;
  private readonly refactorRank: number | undefined;
  private readonly seed: Seed;
  /** Weight name -> stacked factors; null until the first round with updates. */
  private stacks: Map<string, LowRankFactors | null>;
  private head: HeadParams;
  private readonly rounds = new RoundTracker<Offered>();
  private uploads: Upload[] = [];
  private heads: HeadAggregator | null = null;

  constructor(schema: ModelSchema, options: FloraOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'flora');
    this.schema = checkSchema(schema, 'adapted');
    this.refactorRank =
      options.refactorRank === undefined
        ? undefined
        : positiveIntOption(options.refactorRank, 1, 'refactorRank');
    this.seed = seedOption(options.seed);
    this.stacks = new Map(this.schema.adapted.map(({ name }) => [name, null]));
    this.head = startingHead(this.schema, options.initialHead);
  }

  offer(client: ClientProfile, round: number): ClientOffer {
    this.rounds.checkOffer(client, round);
    const rank = keptRowCount(this.schema.rank, client.budget);
    const factors = new Map<string, LowRankFactors>();
    for (const { name, dOut, dIn } of this.schema.adapted)
      factors.set(name, this.stacks.get(name) ?? zeroFactors(dOut, dIn));
    this.rounds.recordOffer(client.clientId, round, { rank });
    return {
      kind: 'train',
      payload: mixturePayload(round, factors, this.head),
      plan: {
        mode: 'lora',
        rank,
        adapterStart: 'merge',
        maskMode: 'none',
        budget: client.budget,
        scale: this.schema.alpha / rank,
      },
    };
  }

  receive(update: ClientUpdate, client: ClientProfile): void {
    const { rank } = this.rounds.checkUpdate(update, client);
    checkAdapterUpload(update, this.schema, () => ({ rank, rows: 'all' }));
    const heads = (this.heads ??= new HeadAggregator());
    heads.add(update.head, update.exampleCount);
    // Kept until the round closes: p_k needs the round's total N, and the modules are stacked as they are.
    const factors = new Map([...update.adapters].map(([name, f]) => [name, uploadedFactors(f)]));
    this.uploads.push({ clientId: client.clientId, weight: update.exampleCount, factors });
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    // Client id order, so the stack does not depend on arrival order.
    const uploads = this.uploads.sort((a, b) =>
      a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0,
    );
    this.uploads = [];
    let refactorError = 0;
    if (uploads.length > 0) {
      const total = uploads.reduce((sum, u) => sum + u.weight, 0);
      const next = new Map<string, LowRankFactors | null>();
      for (const [name, previous] of this.stacks) {
        let stacked = stack(
          previous,
          uploads.map((u) => ({ p: u.weight / total, f: u.factors.get(name)! })),
        );
        if (this.refactorRank !== undefined && stacked.rank > this.refactorRank) {
          const svd = randomizedSvd(lowRankProduct(stacked), stacked.dOut, stacked.dIn, this.refactorRank, {
            seed: `${this.seed}/round/${round}/${name}`,
          });
          refactorError = Math.max(refactorError, svd.relativeError);
          stacked = { dOut: svd.dOut, dIn: svd.dIn, rank: svd.rank, B: svd.B, A: svd.A, scale: 1 };
        }
        next.set(name, stacked);
      }
      this.stacks = next;
    }
    this.head = this.heads?.finish() ?? this.head;
    this.heads = null;
    const deltas = new Map<string, Float32Array>();
    let stackedRank = 0;
    for (const { name, dOut, dIn } of this.schema.adapted) {
      const stacked = this.stacks.get(name) ?? null;
      stackedRank = Math.max(stackedRank, stacked?.rank ?? 0);
      deltas.set(name, stacked === null ? new Float32Array(dOut * dIn) : lowRankProduct(stacked));
    }
    return {
      round,
      participants,
      memberships: singleCluster(participants),
      clusterModels: [{ deltas, dense: new Map(), head: this.head }],
      diagnostics: { stackedRank, refactorError },
    };
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const stacks: Record<string, unknown> = {};
    for (const [name, f] of this.stacks) {
      stacks[name] = f === null ? null : { rank: f.rank, A: encodeArray(f.A), B: encodeArray(f.B) };
    }
    return wrapSnapshot(this.name, this.config(), this.rounds.nextRound, {
      stacks,
      head: encodeHead(this.head),
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, this.config());
    const saved = record(state.stacks, 'stacks');
    const stacks = new Map<string, LowRankFactors | null>();
    for (const { name, dOut, dIn } of this.schema.adapted) {
      if (saved[name] === null) {
        stacks.set(name, null);
        continue;
      }
      const entry = record(saved[name], `stacks "${name}"`);
      const rank = integerField(entry.rank, `stacks "${name}".rank`, 1);
      const A = decodeFloat32(entry.A, rank * dIn, `stacks "${name}".A`);
      const B = decodeFloat32(entry.B, dOut * rank, `stacks "${name}".B`);
      stacks.set(name, { dOut, dIn, rank, A, B, scale: 1 });
    }
    const head = decodeHead(state.head, this.schema, 'head');
    this.stacks = stacks;
    this.head = head;
    this.rounds.nextRound = nextRound;
  }

  private config(): unknown {
    return { schema: this.schema, refactorRank: this.refactorRank ?? null, seed: this.seed };
  }
}
