import type { RowNormalizer } from '../aggregation/cluster-aggregator';
import type { FeatureSource } from '../clustering/features';
import type { HeadParams } from '../update';
import {
  booleanOption,
  checkOptionsObject,
  choiceOption,
  nonNegativeIntOption,
  positiveIntOption,
  positiveNumberOption,
  seedOption,
  type Seed,
} from './options';
import {
  checkPrivacyCombination,
  resolveDp,
  resolveRobust,
  type DpOptions,
  type ResolvedDpOptions,
  type RobustAggregation,
} from './privacy-options';

export interface FedHftOptions {
  /** K_c, the number of clusters (the server's slots when `dynamicClusters`). Default 4. */
  readonly clusters?: number;
  /** T_w: memberships stay as they are in rounds 0..T_w-1. Default 5. */
  readonly warmupRounds?: number;
  /**
   * Choose the number of GMM components in [1, K_c] by BIC each round (dynamic cluster formation). Default
   * false.
   */
  readonly dynamicClusters?: boolean;
  /** Clustering features: the trained heads ('head', default, as the authors) or the adapter deltas. */
  readonly featureSource?: FeatureSource;
  /** Features longer than this are randomly projected to it. Default 256. */
  readonly featureDim?: number;
  /**
   * 'mixture' (default): the client's mixture sum_j pi_kj G_j re-factorised to rank r. 'exact': every
   * cluster's rank-r factors plus pi_k (computed once per round, shared), mixed on the client; K_c times the
   * download.
   */
  readonly download?: 'mixture' | 'exact';
  /**
   * Rank of the download's factors (default r, the LoRA rank). The cluster deltas G_j accumulate many rank-r
   * updates, so a rank-r download drops part of the mixture (the mixtureRelativeError diagnostic says how
   * much); a higher download rank trades bytes down for a more faithful starting point.
   */
  readonly downloadRank?: number;
  /**
   * 'pre' (ours, default): the server picks the rows before training. 'post' (the authors): the client keeps
   * its top rows.
   */
  readonly maskTiming?: 'pre' | 'post';
  /** Pre-mask rows: 'importance' (default) or 'nested' = rows [0, ceil(s dOut)) (the HeteroFL baseline). */
  readonly rowSelection?: 'importance' | 'nested';
  /** Row normaliser of the cluster aggregation (see ClusterAggregator). Default 'membership'. */
  readonly normalizer?: RowNormalizer;
  /**
   * Weight each update by its N_k as well as its membership. Default true (ignoring N_k is a defect of the
   * authors' code).
   */
  readonly weightByExamples?: boolean;
  /** Randomized SVD of the downloads: extra sketch columns (default 10) and power iterations (default 2). */
  readonly oversampling?: number;
  readonly powerIterations?: number;
  /**
   * Clip each update (adapter deltas and head change together) to this L2 norm before folding it in. Off by
   * default.
   */
  readonly clipNorm?: number;
  /**
   * Robust aggregation instead of the weighted mean (see RobustAggregation and FedHftStrategy). With
   * 'trimmed-mean', normalizer does not apply and weightByExamples defaults to false (and may not be true).
   */
  readonly robust?: RobustAggregation;
  /**
   * Central differential privacy (see DpOptions and FedHftStrategy): replaces clipNorm, the row normaliser and
   * example weighting (weightByExamples defaults to false and may not be true; normalizer may not be set).
   */
  readonly dp?: DpOptions;
  /** Seeds pre-mask choices, SVD sketches, feature projections and the GMM. Default 0. */
  readonly seed?: Seed;
  /** Starting head of every cluster (default zeros). */
  readonly initialHead?: HeadParams;
}

/** Every option resolved (initialHead aside); also the configuration a snapshot must match. */
export interface ResolvedFedHftOptions {
  readonly clusters: number;
  readonly warmupRounds: number;
  readonly dynamicClusters: boolean;
  readonly featureSource: FeatureSource;
  readonly featureDim: number;
  readonly download: 'mixture' | 'exact';
  /** null: the LoRA rank r of the schema. */
  readonly downloadRank: number | null;
  readonly maskTiming: 'pre' | 'post';
  readonly rowSelection: 'importance' | 'nested';
  readonly normalizer: RowNormalizer;
  readonly weightByExamples: boolean;
  readonly oversampling: number;
  readonly powerIterations: number;
  readonly clipNorm: number | null;
  readonly robust: RobustAggregation | null;
  readonly dp: ResolvedDpOptions | null;
  readonly seed: Seed;
}

export const FEDHFT_OPTIONS = [
  'clusters',
  'warmupRounds',
  'dynamicClusters',
  'featureSource',
  'featureDim',
  'download',
  'downloadRank',
  'maskTiming',
  'rowSelection',
  'normalizer',
  'weightByExamples',
  'oversampling',
  'powerIterations',
  'clipNorm',
  'robust',
  'dp',
  'seed',
  'initialHead',
] as const;

export function resolveFedHftOptions(options: FedHftOptions, strategy: string): ResolvedFedHftOptions {
  checkOptionsObject(options, FEDHFT_OPTIONS, strategy);
  const robust = resolveRobust(options.robust, strategy);
  const dp = resolveDp(options.dp, strategy);
  checkPrivacyCombination(robust, dp, options.clipNorm, strategy);
  // Both aggregate without the weighted mean's weights: see FedHftStrategy.
  const unweighted = dp !== null ? 'dp' : robust?.kind === 'trimmed-mean' ? "robust 'trimmed-mean'" : null;
  if (unweighted !== null) {
    if (options.weightByExamples === true) {
      throw new Error(
        `${strategy}: ${unweighted} does not weight by example counts; weightByExamples must be false`,
      );
    }
    if (options.normalizer !== undefined) {
      throw new Error(`${strategy}: ${unweighted} replaces the row normaliser; leave normalizer unset`);
    }
  }
  const resolved: ResolvedFedHftOptions = {
    clusters: positiveIntOption(options.clusters, 4, 'clusters'),
    warmupRounds: nonNegativeIntOption(options.warmupRounds, 5, 'warmupRounds'),
    dynamicClusters: booleanOption(options.dynamicClusters, false, 'dynamicClusters'),
    featureSource: choiceOption(options.featureSource, ['head', 'adapters'], 'head', 'featureSource'),
    featureDim: positiveIntOption(options.featureDim, 256, 'featureDim'),
    download: choiceOption(options.download, ['mixture', 'exact'], 'mixture', 'download'),
    downloadRank:
      options.downloadRank === undefined ? null : positiveIntOption(options.downloadRank, 1, 'downloadRank'),
    maskTiming: choiceOption(options.maskTiming, ['pre', 'post'], 'pre', 'maskTiming'),
    rowSelection: choiceOption(options.rowSelection, ['importance', 'nested'], 'importance', 'rowSelection'),
    normalizer: choiceOption(options.normalizer, ['membership', 'count'], 'membership', 'normalizer'),
    weightByExamples: booleanOption(options.weightByExamples, unweighted === null, 'weightByExamples'),
    oversampling: nonNegativeIntOption(options.oversampling, 10, 'oversampling'),
    powerIterations: nonNegativeIntOption(options.powerIterations, 2, 'powerIterations'),
    clipNorm: options.clipNorm === undefined ? null : positiveNumberOption(options.clipNorm, 'clipNorm'),
    robust,
    dp,
    seed: seedOption(options.seed),
  };
  if (resolved.rowSelection === 'nested' && resolved.maskTiming === 'post') {
    throw new Error(
      `${strategy}: rowSelection 'nested' fixes the rows before training, so it needs maskTiming 'pre'`,
    );
  }
  return resolved;
}
