import { DenseAggregator } from '../aggregation/dense-aggregator';
import { HeadAggregator } from '../aggregation/head-aggregator';
import { HEAD_BIAS_BLOCK, HEAD_KERNEL_BLOCK, updateDeltaBlocks, type DeltaRows } from '../privacy/blocks';
import { clipUpdate, updateNorm } from '../privacy/clip';
import { GaussianSumMechanism, type BlockShape } from '../privacy/gaussian-sums';
import { trimmedMean } from '../privacy/robust';
import type { ClientUpdate, DenseTensor, HeadParams } from '../update';
import { payload, singleCluster } from './common';
import { checkOptionsObject } from './options';
import {
  checkPrivacyCombination,
  resolveDp,
  resolveRobust,
  type DpOptions,
  type ResolvedDpOptions,
  type RobustAggregation,
} from './privacy-options';
import {
  blockFloats,
  copyUpdate,
  DpLedger,
  headLayout,
  mean,
  median,
  trainedBlocks,
  updateFloats,
} from './robust-dp';
import { RoundTracker } from './rounds';
import { checkSchema, shapeSize, startingHead } from './schema';
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
import { checkDenseUpload } from './uploads';

export interface FedAvgFullOptions {
  /** Starting head (default zeros). */
  readonly initialHead?: HeadParams;
  /**
   * Robust aggregation (see RobustAggregation). 'trimmed-mean' buffers every participant's whole dense delta
   * and head, O(participants x encoder parameters), and is unweighted (no N_k); 'norm-bounded' clips each
   * update (dense deltas and head change together) and then averages by N_k as usual.
   */
  readonly robust?: RobustAggregation;
  /**
   * Central differential privacy (see DpOptions): each update (dense deltas and head change) is clipped to S,
   * summed with weight 1 (no N_k), N(0, (sigma S)^2) is added to every entry of every dense weight and the
   * head, and the sum divided by expectedParticipants is added to the global delta and head. One accountant
   * step per round, released even when nobody took part.
   */
  readonly dp?: DpOptions;
}

const OPTIONS = ['initialHead', 'robust', 'dp'] as const;

/** The round's accumulators, by aggregation rule. */
interface RoundSums {
  readonly dense: DenseAggregator;
  readonly head: HeadAggregator;
  dp: GaussianSumMechanism | null;
  /** robust 'trimmed-mean': every participant's dense deltas and trained head as row blocks. */
  readonly trimmed: Map<string, DeltaRows>[];
  /** robust 'norm-bounded' with the median: the updates with their norms, folded in at finishRound. */
  readonly pending: { readonly update: ClientUpdate; readonly norm: number }[];
  bufferedFloats: number;
  readonly boundFactors: number[];
  readonly clipFactors: number[];
}

/** [dOut, cols] of a dense tensor as updateDeltaBlocks lays it out (a 1-D tensor is one row). */
function denseBlockShape(shape: readonly number[]): BlockShape {
  if (shape.length === 1) return { dOut: 1, cols: shape[0]! };
  return { dOut: shape[0]!, cols: shapeSize(shape.slice(1)) };
}

/**
 * FedAvg with full fine-tuning, the reference for communication and memory: every encoder weight
 * (schema.dense) and the head are trained and sent. The server keeps the global delta from W0, sends it
 * whole, and adds the N_k-weighted mean of the clients' deltas; the head is the N_k-weighted mean of the
 * trained heads. Budgets are ignored (plan.budget passes the client's through). plan.rank is 0: no LoRA.
 * Options robust and dp as in FedAvgFullOptions. Summary diagnostics: with `robust`, normBound and
 * meanNormBoundFactor ('norm-bounded'), robustBufferFloats (buffered modes); with `dp`, dpEpsilon, dpNoiseStd,
 * dpSteps and meanClipFactor.
 */
export class FedAvgFullStrategy implements Strategy {
  readonly name = 'fedavg-full';
  private readonly schema: ModelSchema;
  private delta: Map<string, DenseTensor>;
  private head: HeadParams;
  private readonly rounds = new RoundTracker<true>();
  private sums: RoundSums | null = null;
  private readonly robust: RobustAggregation | null;
  private readonly dpOptions: ResolvedDpOptions | null;
  private readonly dp: DpLedger | null;

  constructor(schema: ModelSchema, options: FedAvgFullOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'fedavg-full');
    this.robust = resolveRobust(options.robust, 'fedavg-full');
    this.dpOptions = resolveDp(options.dp, 'fedavg-full');
    checkPrivacyCombination(this.robust, this.dpOptions, undefined, 'fedavg-full');
    this.dp = this.dpOptions === null ? null : new DpLedger(this.dpOptions);
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
    const sums = (this.sums ??= this.newSums());
    const { robust, dpOptions } = this;
    // Every branch checks all before it keeps anything (the upload is fully validated above).
    if (dpOptions !== null) {
      const clipped = clipUpdate(update, this.head, dpOptions.clipNorm);
      this.dpSums(sums, dpOptions).add(updateDeltaBlocks(clipped.value, this.head));
      sums.clipFactors.push(clipped.factor);
    } else if (robust?.kind === 'trimmed-mean') {
      const blocks = trainedBlocks(update);
      sums.trimmed.push(blocks);
      sums.bufferedFloats += blockFloats(blocks);
    } else if (robust?.kind === 'norm-bounded' && robust.bound === 'median') {
      sums.pending.push({ update: copyUpdate(update), norm: updateNorm(update, this.head) });
      sums.bufferedFloats += updateFloats(update);
    } else {
      let folded = update;
      if (robust?.kind === 'norm-bounded' && typeof robust.bound === 'number') {
        const bounded = clipUpdate(update, this.head, robust.bound);
        folded = bounded.value;
        sums.boundFactors.push(bounded.factor);
      }
      this.addToMean(sums, folded);
    }
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    const sums = this.sums;
    this.sums = null;
    const diagnostics = this.aggregate(sums, round);
    const dense = new Map([...this.delta].map(([name, tensor]) => [name, tensor.data]));
    return {
      round,
      participants,
      memberships: singleCluster(participants),
      clusterModels: [{ deltas: new Map(), dense, head: this.head }],
      ...(diagnostics === null ? {} : { diagnostics }),
    };
  }

  private newSums(): RoundSums {
    return {
      dense: new DenseAggregator(),
      head: new HeadAggregator(),
      dp: null,
      trimmed: [],
      pending: [],
      bufferedFloats: 0,
      boundFactors: [],
      clipFactors: [],
    };
  }

  private addToMean(sums: RoundSums, update: ClientUpdate): void {
    sums.dense.check(update.dense, update.exampleCount);
    sums.head.check(update.head, update.exampleCount);
    sums.dense.add(update.dense, update.exampleCount);
    sums.head.add(update.head, update.exampleCount);
  }

  private dpSums(sums: RoundSums, dp: ResolvedDpOptions): GaussianSumMechanism {
    sums.dp ??= new GaussianSumMechanism(
      new Map([
        ...this.schema.dense.map(({ name, shape }): [string, BlockShape] => [name, denseBlockShape(shape)]),
        ...headLayout(this.schema),
      ]),
      { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseMultiplier, denominator: dp.expectedParticipants },
    );
    return sums.dp;
  }

  /** Applies the round by the configured rule; returns its diagnostics (null for the plain mean). */
  private aggregate(given: RoundSums | null, round: number): Record<string, number> | null {
    const { robust, dpOptions } = this;
    if (dpOptions !== null) {
      const sums = given ?? this.newSums();
      // Released even when nobody took part: an unchanged model would tell that the sample was empty.
      const [released] = this.dpSums(sums, dpOptions).release(this.dp!.random(round));
      this.dp!.step();
      this.addToState(released!);
      const [kernel, bias] = [released!.get(HEAD_KERNEL_BLOCK)!, released!.get(HEAD_BIAS_BLOCK)!];
      this.head = {
        ...this.head,
        kernel: this.head.kernel.map((v, i) => v + kernel[i]!),
        bias: this.head.bias.map((v, i) => v + bias[i]!),
      };
      return {
        ...this.dp!.diagnostics(),
        meanClipFactor: mean(sums.clipFactors.length ? sums.clipFactors : [1]),
      };
    }
    if (robust?.kind === 'trimmed-mean') {
      if (given !== null && given.trimmed.length > 0) {
        const result = trimmedMean(given.trimmed, robust.trim);
        this.addToState(new Map([...result].map(([name, rows]) => [name, rows.values])));
        this.head = {
          ...this.head,
          kernel: Float32Array.from(result.get(HEAD_KERNEL_BLOCK)!.values),
          bias: Float32Array.from(result.get(HEAD_BIAS_BLOCK)!.values),
        };
      }
      return { robustBufferFloats: given?.bufferedFloats ?? 0 };
    }
    let diagnostics: Record<string, number> | null = null;
    if (robust?.kind === 'norm-bounded') {
      let bound = robust.bound;
      diagnostics = {};
      if (bound === 'median') {
        const pending = given?.pending ?? [];
        bound = median(pending.map((p) => p.norm));
        for (const { update } of pending) {
          // A zero median (most updates empty) leaves nothing to bound: keep the updates as they are.
          const bounded = bound > 0 ? clipUpdate(update, this.head, bound) : { value: update, factor: 1 };
          this.addToMean(given!, bounded.value);
          given!.boundFactors.push(bounded.factor);
        }
        diagnostics.robustBufferFloats = given?.bufferedFloats ?? 0;
      }
      diagnostics.normBound = bound;
      diagnostics.meanNormBoundFactor = mean(given?.boundFactors.length ? given.boundFactors : [1]);
    }
    const means = given?.dense.finish() ?? null;
    if (means !== null) this.addToState(new Map([...means].map(([name, tensor]) => [name, tensor.data])));
    this.head = given?.head.finish() ?? this.head;
    return diagnostics;
  }

  /**
   * delta += change per dense weight (other keys are ignored). old + change is written into the change's fresh
   * buffers, which become the state (no third copy of the model): published state is never mutated in place.
   */
  private addToState(change: ReadonlyMap<string, Float32Array>): void {
    this.delta = new Map(
      [...this.delta].map(([name, tensor]) => {
        const data = change.get(name)!;
        const old = tensor.data;
        for (let i = 0; i < data.length; i++) data[i]! += old[i]!;
        return [name, { shape: tensor.shape, data }];
      }),
    );
  }

  /** Unset robust / dp are left out, so snapshots taken before those options existed still restore. */
  private config(): unknown {
    const { robust, dpOptions: dp } = this;
    if (robust === null && dp === null) return { schema: this.schema };
    return {
      schema: this.schema,
      options: { ...(robust === null ? {} : { robust }), ...(dp === null ? {} : { dp }) },
    };
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const delta: Record<string, string> = {};
    for (const [name, tensor] of this.delta) delta[name] = encodeArray(tensor.data);
    return wrapSnapshot(this.name, this.config(), this.rounds.nextRound, {
      delta,
      head: encodeHead(this.head),
      ...(this.dp === null ? {} : { dpSteps: this.dp.steps }),
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, this.config());
    const saved = record(state.delta, 'delta');
    const delta = new Map<string, DenseTensor>();
    for (const { name, shape } of this.schema.dense) {
      delta.set(name, { shape, data: decodeFloat32(saved[name], shapeSize(shape), `delta "${name}"`) });
    }
    const head = decodeHead(state.head, this.schema, 'head');
    const dpSteps = this.dp === null ? 0 : integerField(state.dpSteps, 'dpSteps');
    this.delta = delta;
    this.head = head;
    if (this.dp !== null) this.dp.steps = dpSteps;
    this.rounds.nextRound = nextRound;
  }
}
