import { ClusterAggregator, type ClusterAggregate } from '../aggregation/cluster-aggregator';
import { FeatureExtractor } from '../clustering/features';
import {
  MembershipUpdater,
  type MembershipParticipant,
  type MembershipRoundResult,
} from '../clustering/membership';
import type { FactorSet, PayloadAdapters, RowMask } from '../codec/model-payload';
import { keptRowCount, nestedRows } from '../masks';
import { exactClusterFactors, personalizedFactors } from '../mixture/factors';
import { mixtureHead } from '../mixture/head';
import { HEAD_BIAS_BLOCK, HEAD_KERNEL_BLOCK, updateDeltaBlocks, type DeltaRows } from '../privacy/blocks';
import { clipUpdate, updateNorm } from '../privacy/clip';
import { GaussianSumMechanism } from '../privacy/gaussian-sums';
import { trimmedMean, type AggregatedRows } from '../privacy/robust';
import type { ClientUpdate, DenseTensor, HeadParams } from '../update';
import { payload } from './common';
import { resolveFedHftOptions, type FedHftOptions, type ResolvedFedHftOptions } from './fedhft-options';
import { chooseRows, mixtureRowImportance, uploadRowImportance } from './row-choice';
import type { ResolvedDpOptions } from './privacy-options';
import {
  argmaxClusters,
  blockFloats,
  copyUpdate,
  DpLedger,
  dpWeights,
  headLayout,
  mean,
  median,
  trainedBlocks,
  updateFloats,
} from './robust-dp';
import { decodeRoundShare, encodeRoundShare } from './round-partial';
import { RoundTracker } from './rounds';
import { checkSchema, copyHead, startingHead } from './schema';
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

/** One cluster's state: G_j per adapted weight ([dOut, dIn]) and H_j. Each cluster owns its buffers. */
interface Cluster {
  readonly deltas: Map<string, DenseTensor>;
  readonly head: HeadParams;
}

/** What a client was offered, to check and weight its update. */
interface Offered {
  readonly budget: number;
  readonly membership: Float64Array;
  readonly preMasks: ReadonlyMap<string, RowMask> | null;
  /** Starting head, the reference for clipping the head's change. */
  readonly head: HeadParams;
}

/** Everything that lives for one round only. */
interface RoundWork {
  readonly round: number;
  /**
   * Offers are cached by membership vector: clients with equal memberships (all of them in warm-up) share one
   * SVD.
   */
  readonly mixtures: Map<string, { readonly factors: FactorSet; readonly relativeError: number }>;
  readonly heads: Map<string, HeadParams>;
  readonly importance: Map<string, Map<string, Float32Array>>;
  exact: FactorSet[] | null;
  aggregator: ClusterAggregator | null;
  readonly features: MembershipParticipant[];
  truncationErrors: number[];
  clipFactors: number[];
  /** dp: the round's clipped sums, all clusters in one Gaussian mechanism. */
  dp: GaussianSumMechanism | null;
  /** robust 'trimmed-mean': each participant's kept rows and trained head, with its memberships. */
  readonly trimmed: { readonly blocks: Map<string, DeltaRows>; readonly membership: Float64Array }[];
  /** robust 'norm-bounded' with the median: updates waiting for the round's median norm. */
  readonly pending: { readonly update: ClientUpdate; readonly offered: Offered; readonly norm: number }[];
  /** Floats the buffered robust modes hold this round. */
  bufferedFloats: number;
  /** robust 'norm-bounded': each update's factor min(1, bound / norm). */
  boundFactors: number[];
}

/** One cluster's change at the end of a round; null leaves the cluster as it is. */
type ClusterStep = {
  /**
   * dG_j per adapted weight ([dOut, dIn]; other keys are ignored), added to G_j. Fresh buffers, each used by
   * one step only: G_j + dG_j is written into them.
   */
  readonly deltas: ReadonlyMap<string, Float32Array>;
  /** The new H_j, or a change to add to it (dp). */
  readonly head:
    | { readonly replace: HeadParams }
    | { readonly add: { readonly kernel: Float32Array; readonly bias: Float32Array } };
} | null;

function byClientId(a: { clientId: string }, b: { clientId: string }): number {
  return a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0;
}

/**
 * FedHFT (Ilhan et al. 2025) as in FEDHFT.md: K_c clusters, each with its own accumulated adapter delta G_j
 * and head H_j; soft memberships pi_k (uniform at first, set from a GMM over the participants' features after
 * T_w warm-up rounds); clients start from their personalized mixture and train a fresh rank-r LoRA on the
 * rows a mask keeps; the server folds each update into every cluster, mask-aware and membership-weighted, row
 * by row.
 *
 * Pre-masks (default) are chosen from the row importance of the client's exact mixture sum_j pi_kj G_j, then
 * of its own previous update, then by a seeded draw (all of round 0), see chooseRows. Post-masks send no
 * rows: the client keeps its top ceil(s dOut) rows itself. Summary diagnostics: membershipsUpdated (0/1),
 * componentCount, mixtureRelativeError (mean truncation error of this round's mixture downloads),
 * meanClipFactor (1 unclipped); with `robust`, normBound and meanNormBoundFactor ('norm-bounded') and
 * robustBufferFloats (floats the round buffered); with `dp`, dpEpsilon, dpNoiseStd and dpSteps.
 *
 * Robust aggregation (options.robust), per cluster:
 * - 'trimmed-mean' cannot stream: the round buffers every participant's reconstructed kept rows of scale B A
 *   and its trained head, O(participants x kept rows x dIn) floats per adapted weight (robustBufferFloats),
 *   against the streaming aggregator's K_c x dOut x dIn. Cluster j takes the coordinate-wise trimmed mean
 *   (mask-aware: over the clients that sent a row) of the participants whose largest membership is pi_kj,
 *   ties included (argmaxClusters), unweighted: G_j += that mean, H_j = trimmed mean of the trained heads.
 *   Hard assignment rather than membership weights because the trimmed mean's guarantee is about counts (per
 *   coordinate, up to floor(trim m) outliers on each side are dropped entirely); inside a weighted trim, a
 *   client claiming a huge N_k or steering its features to a one-hot membership would carry more weight than
 *   the trimmed mass and could never be dropped. Argmax rather than a membership threshold: no extra knob,
 *   every client counts somewhere, uniform memberships (warm-up) put everyone in every cluster (so clusters
 *   evolve as with the plain mean then), and near-one-hot memberships after the GMM give a partition.
 * - 'norm-bounded' clips each update's whole norm (adapter deltas and head change, after clipNorm) to the
 *   bound, then folds it in as usual (membership weights, normaliser, N_k). A fixed bound streams; 'median'
 *   keeps the round's updates in wire form with their norms (computed on receive) and folds them in at
 *   finishRound, once the median is known.
 *
 * Differential privacy (options.dp, the recipe of privacy/noise.ts; the accountant covers exactly this):
 * each update is clipped to S = dp.clipNorm; cluster j sums pi_kj u_k (weights fixed when the round is offered,
 * <= 1, and no N_k: a client-reported count is neither fixed nor bounded); N(0, (sigma S)^2) is added to every
 * row of every adapted weight and to the head change of every cluster, covered or not; the sum is divided by
 * dp.expectedParticipants, and G_j += it, H_j += its head part. The default normaliser sum_k pi_kj M_k[d]
 * depends on who took part and which rows they covered, i.e. on the data, so one client changes it and the
 * sensitivity is no longer S: it is not covered. Releasing K_c cluster models: client k moves the concatenated
 * sums by (pi_k1 u_k, ..., pi_kKc u_k), of norm ||u_k|| sqrt(sum_j pi_kj^2) <= S since sum_j pi_kj = 1, so the
 * K_c clusters of a round are ONE Gaussian mechanism and cost one accountant step, not K_c (composing K_c steps
 * would be valid but needlessly loose). A round releases noise even with no participant (an unchanged model
 * would tell that the sample was empty). What the accountant does NOT cover, and a deployment must weigh:
 * the memberships, fitted by the GMM on the participants' unnoised features (clusters > 1 after warm-up;
 * K_c = 1 or warmupRounds beyond the run avoid it), the pre-mask fallback to a client's own previous update
 * (sent back to that client only), and the diagnostics other than dp* (meanClipFactor comes from raw updates).
 * With soft memberships each cluster's update shrinks by its membership share (uniform pi: by K_c), as with
 * the 'count' normaliser: the price of a data-independent denominator.
 */
export class FedHftStrategy implements Strategy {
  readonly name: string = 'fedhft';
  readonly options: ResolvedFedHftOptions;
  private readonly schema: ModelSchema;
  private readonly shapes: Map<string, { readonly dOut: number; readonly dIn: number }>;
  private clusters: Cluster[];
  /** Null when K_c = 1: one cluster needs no clustering. */
  private memberships: MembershipUpdater | null;
  private readonly features: FeatureExtractor | null;
  /** clientId -> weight -> squared row norms of its last update (the pre-mask fallback). */
  private previousImportance = new Map<string, Map<string, Float32Array>>();
  private readonly rounds = new RoundTracker<Offered>();
  private work: RoundWork | null = null;
  private readonly dp: DpLedger | null;

  constructor(schema: ModelSchema, options: FedHftOptions = {}) {
    this.options = resolveFedHftOptions(options, 'fedhft');
    this.schema = checkSchema(schema, 'adapted');
    this.shapes = new Map(this.schema.adapted.map(({ name, dOut, dIn }) => [name, { dOut, dIn }]));
    const head = startingHead(this.schema, options.initialHead);
    // Separate buffers per cluster: the authors' code aliased them, which collapses the clusters.
    this.clusters = Array.from({ length: this.options.clusters }, () => ({
      deltas: new Map(
        this.schema.adapted.map(({ name, dOut, dIn }) => [
          name,
          { shape: [dOut, dIn], data: new Float32Array(dOut * dIn) },
        ]),
      ),
      head: copyHead(head),
    }));
    this.memberships = this.options.clusters > 1 ? this.newMembershipUpdater() : null;
    this.dp = this.options.dp === null ? null : new DpLedger(this.options.dp);
    this.features =
      this.options.clusters > 1
        ? new FeatureExtractor({
            source: this.options.featureSource,
            maxDim: this.options.featureDim,
            seed: `${this.options.seed}/features`,
          })
        : null;
  }

  /** pi_k of a client (a copy; uniform until the clustering has set it). */
  membership(clientId: string): Float64Array {
    return this.memberships?.membership(clientId) ?? Float64Array.of(1);
  }

  offer(client: ClientProfile, round: number): ClientOffer {
    this.rounds.checkOffer(client, round);
    const work = this.roundWork(round);
    const membership = this.membership(client.clientId);
    const key = Array.from(membership).join(',');
    const adapters: PayloadAdapters =
      this.options.download === 'mixture'
        ? { kind: 'mixture', factors: this.mixtureFactors(work, key, membership) }
        : { kind: 'clusters', clusters: this.exactFactors(work), membership };
    let head = work.heads.get(key);
    if (head === undefined) {
      head = mixtureHead(
        this.clusters.map((c) => c.head),
        membership,
      );
      work.heads.set(key, head);
    }
    const preMasks = this.options.maskTiming === 'pre' ? this.preMasks(work, client, key, membership) : null;
    this.rounds.recordOffer(client.clientId, round, { budget: client.budget, membership, preMasks, head });
    const { rank, alpha } = this.schema;
    return {
      kind: 'train',
      payload: payload(round, adapters, head, preMasks ?? new Map()),
      plan: {
        mode: 'lora',
        rank,
        adapterStart: 'merge',
        maskMode: this.options.maskTiming,
        budget: client.budget,
        scale: alpha / rank,
      },
    };
  }

  receive(update: ClientUpdate, client: ClientProfile): void {
    const offered = this.rounds.checkUpdate(update, client);
    checkAdapterUpload(update, this.schema, (name) => ({
      rank: this.schema.rank,
      rows: offered.preMasks?.get(name)?.rows ?? keptRowCount(this.shapes.get(name)!.dOut, offered.budget),
    }));
    const work = this.work!; // an accepted offer opened the round and its work
    const { dp, robust } = this.options;
    let folded = update;
    let clipFactor = 1;
    const clipNorm = dp?.clipNorm ?? this.options.clipNorm;
    if (clipNorm !== null) {
      const clipped = clipUpdate(update, offered.head, clipNorm);
      folded = clipped.value;
      clipFactor = clipped.factor;
    }
    // Whatever can throw runs before the update is folded in or buffered; nothing is kept until it has.
    const features = this.features?.extract(folded);
    const importance = this.needsPreviousImportance()
      ? new Map([...folded.adapters].map(([name, f]) => [name, uploadRowImportance(f)]))
      : null;
    if (dp !== null) {
      // The mechanism clips to S again (a no-op up to rounding), so its guarantee does not rest on the above.
      this.dpSums(work, dp).add(updateDeltaBlocks(folded, offered.head), dpWeights(offered.membership));
    } else if (robust?.kind === 'trimmed-mean') {
      const blocks = trainedBlocks(folded);
      work.trimmed.push({ blocks, membership: offered.membership });
      work.bufferedFloats += blockFloats(blocks);
    } else if (robust?.kind === 'norm-bounded' && robust.bound === 'median') {
      work.pending.push({ update: copyUpdate(folded), offered, norm: updateNorm(folded, offered.head) });
      work.bufferedFloats += updateFloats(folded);
    } else if (robust?.kind === 'norm-bounded' && typeof robust.bound === 'number') {
      const bounded = clipUpdate(folded, offered.head, robust.bound);
      this.aggregator(work).add(bounded.value, offered.membership);
      work.boundFactors.push(bounded.factor);
    } else {
      this.aggregator(work).add(folded, offered.membership);
    }
    if (features !== undefined) work.features.push({ clientId: client.clientId, features });
    if (importance !== null) this.previousImportance.set(client.clientId, importance);
    work.clipFactors.push(clipFactor);
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    const work = this.work?.round === round ? this.work : null;
    this.work = null;
    const extra = this.aggregate(work, round);
    let clustering: MembershipRoundResult | null = null;
    if (this.memberships !== null && work !== null && work.features.length > 0) {
      // Client id order, so the fit does not depend on arrival order.
      clustering = this.memberships.update(round, [...work.features].sort(byClientId));
    }
    const known = new Set([...participants, ...(this.memberships?.clientIds() ?? [])]);
    const memberships = new Map([...known].sort().map((id) => [id, this.membership(id)]));
    return {
      round,
      participants,
      memberships,
      clusterModels: this.clusters.map((cluster) => ({
        deltas: new Map([...cluster.deltas].map(([name, tensor]) => [name, tensor.data])),
        dense: new Map(),
        head: cluster.head,
      })),
      diagnostics: {
        membershipsUpdated: clustering?.updated ? 1 : 0,
        componentCount: clustering?.componentCount ?? 0,
        mixtureRelativeError: mean(work?.truncationErrors ?? []),
        meanClipFactor: work === null || work.clipFactors.length === 0 ? 1 : mean(work.clipFactors),
        ...extra,
      },
    };
  }

  /**
   * Why this configuration cannot split a round over several processes, or null when it can: the round must be
   * a sum of per-update terms (dp adds its noise once to the whole sum; trimmed mean and the median bound need
   * every update at once).
   */
  splitRoundsUnsupported(): string | null {
    const { dp, robust } = this.options;
    if (dp !== null) return 'differential privacy noises the whole round sum once';
    if (robust?.kind === 'trimmed-mean')
      return "robust 'trimmed-mean' needs every update of the round at once";
    if (robust?.kind === 'norm-bounded' && robust.bound === 'median') {
      return "robust 'norm-bounded' with the median bound needs every update's norm at once";
    }
    return null;
  }

  /** This process's share of the open round `round` (see RoundShare), as plain JSON. */
  exportRoundShare(round: number): unknown {
    this.checkSplitRounds();
    const work = this.work;
    if (!this.rounds.isOpen || work === null || work.round !== round) {
      throw new Error(`round ${round} is not open here`);
    }
    const received = this.rounds.receivedIds();
    const importance = new Map(
      this.needsPreviousImportance() ? received.map((id) => [id, this.previousImportance.get(id)!]) : [],
    );
    return encodeRoundShare({
      round,
      received,
      aggregator: work.aggregator?.partial() ?? null,
      features: work.features.map(({ clientId, features }) => ({
        clientId,
        features: Float64Array.from(features),
      })),
      importance,
      clipFactors: work.clipFactors,
      boundFactors: work.boundFactors,
    });
  }

  /**
   * Folds another process's share of the open round into this one, before finishRound. Every client in it must
   * have been offered training here and not be received here yet; nothing changes unless all checks pass.
   */
  mergeRoundShare(value: unknown): void {
    this.checkSplitRounds();
    const share = decodeRoundShare(value, this.schema, this.options.clusters, this.features !== null);
    const work = this.work;
    if (!this.rounds.isOpen || work === null || work.round !== share.round) {
      throw new Error(`round partial is for round ${share.round}, which is not open here`);
    }
    for (const id of share.received) this.rounds.checkRemote(id, share.round);
    const dim = work.features[0]?.features.length;
    if (dim !== undefined && share.features.some((f) => f.features.length !== dim)) {
      throw new Error(
        `round partial: features of dimension ${share.features[0]!.features.length}, here ${dim}`,
      );
    }
    if (share.aggregator !== null) this.aggregator(work).merge(share.aggregator);
    work.features.push(...share.features);
    for (const [id, weights] of share.importance) this.previousImportance.set(id, new Map(weights));
    work.clipFactors.push(...share.clipFactors);
    work.boundFactors.push(...share.boundFactors);
    for (const id of share.received) this.rounds.markReceived(id);
  }

  private checkSplitRounds(): void {
    const reason = this.splitRoundsUnsupported();
    if (reason !== null) throw new Error(`rounds cannot be split over processes: ${reason}`);
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const previousImportance: Record<string, Record<string, string>> = {};
    for (const [clientId, weights] of this.previousImportance) {
      previousImportance[clientId] = Object.fromEntries(
        [...weights].map(([name, v]) => [name, encodeArray(v)]),
      );
    }
    return wrapSnapshot(this.name, this.config(), this.rounds.nextRound, {
      clusters: this.clusters.map((cluster) => ({
        deltas: Object.fromEntries([...cluster.deltas].map(([name, t]) => [name, encodeArray(t.data)])),
        head: encodeHead(cluster.head),
      })),
      memberships: this.memberships?.state().memberships ?? {},
      previousImportance,
      ...(this.dp === null ? {} : { dpSteps: this.dp.steps }),
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, this.config());
    if (!Array.isArray(state.clusters) || state.clusters.length !== this.options.clusters) {
      throw new Error(`snapshot: clusters must be an array of ${this.options.clusters}`);
    }
    const clusters = state.clusters.map((value: unknown, j): Cluster => {
      const saved = record(value, `clusters[${j}]`);
      const deltas = record(saved.deltas, `clusters[${j}].deltas`);
      return {
        deltas: new Map(
          this.schema.adapted.map(({ name, dOut, dIn }) => [
            name,
            { shape: [dOut, dIn], data: decodeFloat32(deltas[name], dOut * dIn, `clusters[${j}] "${name}"`) },
          ]),
        ),
        head: decodeHead(saved.head, this.schema, `clusters[${j}].head`),
      };
    });
    const previousImportance = new Map<string, Map<string, Float32Array>>();
    for (const [clientId, value] of Object.entries(record(state.previousImportance, 'previousImportance'))) {
      const saved = record(value, `previousImportance "${clientId}"`);
      const weights = new Map<string, Float32Array>();
      for (const { name, dOut } of this.schema.adapted) {
        weights.set(name, decodeFloat32(saved[name], dOut, `previousImportance "${clientId}" "${name}"`));
      }
      previousImportance.set(clientId, weights);
    }
    const dpSteps = this.dp === null ? 0 : integerField(state.dpSteps, 'dpSteps');
    let memberships: MembershipUpdater | null = null;
    if (this.options.clusters > 1) {
      // Our configuration with the saved memberships; fromState validates each vector.
      const saved = record(state.memberships, 'memberships') as Record<string, number[]>;
      memberships = MembershipUpdater.fromState({
        ...this.newMembershipUpdater().state(),
        memberships: saved,
      });
    }
    this.clusters = clusters;
    this.previousImportance = previousImportance;
    this.memberships = memberships;
    if (this.dp !== null) this.dp.steps = dpSteps;
    this.rounds.nextRound = nextRound;
  }

  private newMembershipUpdater(): MembershipUpdater {
    return new MembershipUpdater({
      clusters: this.options.clusters,
      warmupRounds: this.options.warmupRounds,
      dynamic: this.options.dynamicClusters,
      seed: `${this.options.seed}/memberships`,
    });
  }

  /** Unset robust / dp are left out, so snapshots taken before those options existed still restore. */
  private config(): unknown {
    const { robust, dp, ...options } = this.options;
    return {
      schema: this.schema,
      options: { ...options, ...(robust === null ? {} : { robust }), ...(dp === null ? {} : { dp }) },
    };
  }

  private needsPreviousImportance(): boolean {
    return this.options.maskTiming === 'pre' && this.options.rowSelection === 'importance';
  }

  private roundWork(round: number): RoundWork {
    if (this.rounds.isOpen && this.work !== null) return this.work;
    this.work = {
      round,
      mixtures: new Map(),
      heads: new Map(),
      importance: new Map(),
      exact: null,
      aggregator: null,
      features: [],
      truncationErrors: [],
      clipFactors: [],
      dp: null,
      trimmed: [],
      pending: [],
      bufferedFloats: 0,
      boundFactors: [],
    };
    return this.work;
  }

  /** Folds the round into the clusters by the configured rule; returns the rule's diagnostics. */
  private aggregate(work: RoundWork | null, round: number): Record<string, number> {
    const { dp, robust } = this.options;
    if (dp !== null) {
      this.applyDp(work, dp, round);
      return this.dp!.diagnostics();
    }
    if (robust?.kind === 'trimmed-mean') {
      if (work !== null && work.trimmed.length > 0) this.applyTrimmed(work.trimmed, robust.trim);
      return { robustBufferFloats: work?.bufferedFloats ?? 0 };
    }
    const extra: Record<string, number> = {};
    if (robust?.kind === 'norm-bounded') {
      let bound = robust.bound;
      if (bound === 'median') {
        const pending = work?.pending ?? [];
        bound = median(pending.map((p) => p.norm));
        for (const { update, offered } of pending) {
          // A zero median (most updates empty) leaves nothing to bound: keep the updates as they are.
          const bounded = bound > 0 ? clipUpdate(update, offered.head, bound) : { value: update, factor: 1 };
          this.aggregator(work!).add(bounded.value, offered.membership);
          work!.boundFactors.push(bounded.factor);
        }
        extra.robustBufferFloats = work?.bufferedFloats ?? 0;
      }
      extra.normBound = bound;
      extra.meanNormBoundFactor = mean(work?.boundFactors.length ? work.boundFactors : [1]);
    }
    if (work?.aggregator && work.aggregator.count > 0) this.apply(work.aggregator.finish());
    return extra;
  }

  private aggregator(work: RoundWork): ClusterAggregator {
    work.aggregator ??= new ClusterAggregator({
      clusters: this.options.clusters,
      normalizer: this.options.normalizer,
      weightByExamples: this.options.weightByExamples,
    });
    return work.aggregator;
  }

  /** The round's noisy sums over every adapted weight and the head change, for all clusters. */
  private dpSums(work: RoundWork | null, dp: ResolvedDpOptions): GaussianSumMechanism {
    const create = () =>
      new GaussianSumMechanism(
        new Map([
          ...this.schema.adapted.map(({ name, dOut, dIn }): [string, { dOut: number; cols: number }] => [
            name,
            { dOut, cols: dIn },
          ]),
          ...headLayout(this.schema),
        ]),
        {
          clipNorm: dp.clipNorm,
          noiseMultiplier: dp.noiseMultiplier,
          denominator: dp.expectedParticipants,
          slots: this.options.clusters,
        },
      );
    if (work === null) return create();
    work.dp ??= create();
    return work.dp;
  }

  /** Releases the round's noisy sums (also when nobody took part) and counts the step. */
  private applyDp(work: RoundWork | null, dp: ResolvedDpOptions, round: number): void {
    const released = this.dpSums(work, dp).release(this.dp!.random(round));
    this.dp!.step();
    this.step(
      released.map((sums) => {
        const kernel = sums.get(HEAD_KERNEL_BLOCK)!;
        const bias = sums.get(HEAD_BIAS_BLOCK)!;
        return { deltas: sums, head: { add: { kernel, bias } } };
      }),
    );
  }

  /** Per cluster, the unweighted trimmed mean of its argmax members (see the class comment). */
  private applyTrimmed(buffered: RoundWork['trimmed'], trim: number): void {
    const byMembers = new Map<string, Map<string, AggregatedRows>>();
    const steps = this.clusters.map((_, j): ClusterStep => {
      const members = buffered.flatMap((b, k) => (argmaxClusters(b.membership).includes(j) ? [k] : []));
      if (members.length === 0) return null;
      // Clusters with the same members (all of them in warm-up) share one trimmed mean, each its own copy.
      const key = members.join(',');
      let result = byMembers.get(key);
      const shared = result !== undefined;
      if (result === undefined) {
        result = trimmedMean(
          members.map((k) => buffered[k]!.blocks),
          trim,
        );
        byMembers.set(key, result);
      }
      const values = (name: string) => {
        const v = result.get(name)!.values;
        return shared ? Float32Array.from(v) : v;
      };
      const { embeddingSize, numClasses } = this.schema;
      return {
        deltas: new Map(this.schema.adapted.map(({ name }) => [name, values(name)])),
        head: {
          replace: {
            embeddingSize,
            numClasses,
            kernel: Float32Array.from(result.get(HEAD_KERNEL_BLOCK)!.values),
            bias: Float32Array.from(result.get(HEAD_BIAS_BLOCK)!.values),
          },
        },
      };
    });
    this.step(steps);
  }

  private clusterDeltas(): Map<string, DenseTensor>[] {
    return this.clusters.map((cluster) => cluster.deltas);
  }

  private svdOptions(work: RoundWork) {
    const { oversampling, powerIterations, seed } = this.options;
    return { oversampling, powerIterations, seed: `${seed}/svd/${work.round}` };
  }

  private mixtureFactors(work: RoundWork, key: string, membership: Float64Array): FactorSet {
    let cached = work.mixtures.get(key);
    if (cached === undefined) {
      const { seed, ...options } = this.svdOptions(work);
      cached = personalizedFactors(this.clusterDeltas(), membership, this.downloadRank(), seed, options);
      work.mixtures.set(key, cached);
    }
    work.truncationErrors.push(cached.relativeError);
    return cached.factors;
  }

  private exactFactors(work: RoundWork): FactorSet[] {
    work.exact ??= exactClusterFactors(this.clusterDeltas(), this.downloadRank(), this.svdOptions(work));
    return work.exact;
  }

  private downloadRank(): number {
    return this.options.downloadRank ?? this.schema.rank;
  }

  private preMasks(
    work: RoundWork,
    client: ClientProfile,
    key: string,
    membership: Float64Array,
  ): Map<string, RowMask> {
    const masks = new Map<string, RowMask>();
    for (const { name, dOut, dIn } of this.schema.adapted) {
      const count = keptRowCount(dOut, client.budget);
      let rows: Int32Array;
      if (this.options.rowSelection === 'nested') {
        rows = nestedRows(dOut, client.budget);
      } else {
        let importance = work.importance.get(key);
        if (importance === undefined) work.importance.set(key, (importance = new Map()));
        let mixture = importance.get(name);
        if (mixture === undefined && count < dOut) {
          mixture = mixtureRowImportance(this.clusterDeltas(), membership, name, dOut, dIn);
          importance.set(name, mixture);
        }
        const previous = this.previousImportance.get(client.clientId)?.get(name);
        const seed = `${this.options.seed}/rows/${work.round}/${client.clientId}/${name}`;
        rows = chooseRows([mixture, previous], dOut, count, seed);
      }
      masks.set(name, { dOut, rows });
    }
    return masks;
  }

  /**
   * G_j += dG_j for every cluster that received weight; H_j is replaced by its aggregate (kept without
   * weight).
   */
  private apply(aggregates: ClusterAggregate[]): void {
    this.step(
      this.clusters.map((cluster, j): ClusterStep => {
        const aggregate = aggregates[j]!;
        if (aggregate.totalWeight === 0) return null;
        const deltas = new Map([...aggregate.deltas].map(([name, tensor]) => [name, tensor.data]));
        return { deltas, head: { replace: aggregate.head ?? cluster.head } };
      }),
    );
  }

  /**
   * G_j + dG_j is written into dG_j's fresh buffer, which becomes the new G_j (no third copy of the model), so
   * published state (summaries, offers) is never mutated in place.
   */
  private step(steps: readonly ClusterStep[]): void {
    this.clusters = this.clusters.map((cluster, j) => {
      const step = steps[j];
      if (!step) return cluster;
      const deltas = new Map<string, DenseTensor>();
      for (const [name, tensor] of cluster.deltas) {
        const data = step.deltas.get(name)!;
        const old = tensor.data;
        for (let i = 0; i < data.length; i++) data[i]! += old[i]!;
        deltas.set(name, { shape: tensor.shape, data });
      }
      if ('replace' in step.head) return { deltas, head: step.head.replace };
      const { kernel, bias } = step.head.add;
      const head: HeadParams = {
        ...cluster.head,
        kernel: cluster.head.kernel.map((v, i) => v + kernel[i]!),
        bias: cluster.head.bias.map((v, i) => v + bias[i]!),
      };
      return { deltas, head };
    });
  }
}

/**
 * HeteroFL-style static nested masks as a preset of FedHFT: budget s trains rows [0, ceil(s dOut)) (pre-masks,
 * rowSelection 'nested'); everything else (clusters, memberships, downloads, aggregation) is FedHFT's with the
 * same options and defaults, so comparing the two isolates the value of importance-chosen rows. Use
 * clusters: 1 for the classic single global model.
 */
export class HeteroFlStrategy extends FedHftStrategy {
  override readonly name: string = 'heterofl';

  constructor(schema: ModelSchema, options: Omit<FedHftOptions, 'rowSelection' | 'maskTiming'> = {}) {
    const given = options as FedHftOptions;
    if (given.rowSelection !== undefined || given.maskTiming !== undefined) {
      throw new Error("heterofl: rowSelection and maskTiming are fixed ('nested', 'pre')");
    }
    super(schema, { ...options, rowSelection: 'nested', maskTiming: 'pre' });
  }
}
