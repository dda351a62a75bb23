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
import { clipUpdate } from '../privacy/clip';
import type { ClientUpdate, DenseTensor, HeadParams } from '../update';
import { payload } from './common';
import { resolveFedHftOptions, type FedHftOptions, type ResolvedFedHftOptions } from './fedhft-options';
import { chooseRows, mixtureRowImportance, uploadRowImportance } from './row-choice';
import { RoundTracker } from './rounds';
import { checkSchema, copyHead, startingHead } from './schema';
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
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length;
}

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
 * meanClipFactor (1 unclipped).
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
    let folded = update;
    let clipFactor = 1;
    if (this.options.clipNorm !== null) {
      const clipped = clipUpdate(update, offered.head, this.options.clipNorm);
      folded = clipped.value;
      clipFactor = clipped.factor;
    }
    // Whatever can throw runs before the aggregator folds the update in; nothing is kept until it has.
    const features = this.features?.extract(folded);
    const importance = this.needsPreviousImportance()
      ? new Map([...folded.adapters].map(([name, f]) => [name, uploadRowImportance(f)]))
      : null;
    work.aggregator ??= new ClusterAggregator({
      clusters: this.options.clusters,
      normalizer: this.options.normalizer,
      weightByExamples: this.options.weightByExamples,
    });
    work.aggregator.add(folded, offered.membership);
    if (features !== undefined) work.features.push({ clientId: client.clientId, features });
    if (importance !== null) this.previousImportance.set(client.clientId, importance);
    work.clipFactors.push(clipFactor);
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    const work = this.work?.round === round ? this.work : null;
    this.work = null;
    if (work?.aggregator && work.aggregator.count > 0) this.apply(work.aggregator.finish());
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
      },
    };
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

  private config(): unknown {
    return { schema: this.schema, options: this.options };
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
    };
    return this.work;
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
      cached = personalizedFactors(this.clusterDeltas(), membership, this.schema.rank, seed, options);
      work.mixtures.set(key, cached);
    }
    work.truncationErrors.push(cached.relativeError);
    return cached.factors;
  }

  private exactFactors(work: RoundWork): FactorSet[] {
    work.exact ??= exactClusterFactors(this.clusterDeltas(), this.schema.rank, this.svdOptions(work));
    return work.exact;
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
    this.clusters = this.clusters.map((cluster, j) => {
      const aggregate = aggregates[j]!;
      if (aggregate.totalWeight === 0) return cluster;
      const deltas = new Map<string, DenseTensor>();
      for (const [name, tensor] of cluster.deltas) {
        // dG_j's fresh buffer becomes the new G_j, so published state is never mutated in place.
        const data = aggregate.deltas.get(name)!.data;
        const old = tensor.data;
        for (let i = 0; i < data.length; i++) data[i]! += old[i]!;
        deltas.set(name, { shape: tensor.shape, data });
      }
      return { deltas, head: aggregate.head ?? cluster.head };
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
