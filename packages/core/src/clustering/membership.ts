import { minCostAssignment } from './assignment';
import { bayesianInformationCriterion, chooseClusterCount, diagonalGmmParameterCount } from './bic';
import type { ClusterCountCandidate } from './bic';
import { fitGaussianMixture, type GaussianMixtureFit, type GaussianMixtureOptions } from './gmm';
import { assertSeed } from './points';
import { standardizeFeatures } from './standardize';

export interface MembershipParticipant {
  readonly clientId: string;
  /** Clustering features of this round's update (see clientFeatures); one dimension for all participants. */
  readonly features: ArrayLike<number>;
}

export interface MembershipUpdaterOptions {
  /** K_c: the server's cluster slots, the length of every membership vector. */
  readonly clusters: number;
  /** T_w: rounds 0..T_w-1 (0-based) leave memberships as they are. Default 5, as the paper. */
  readonly warmupRounds?: number;
  /**
   * Dynamic cluster formation: each round picks the component count in [1, clusters] by BIC; slots left without
   * a component get membership 0 from this round's participants. Default false: min(clusters, participants).
   */
  readonly dynamic?: boolean;
  readonly seed?: number | string;
  readonly mixture?: Omit<GaussianMixtureOptions, 'seed'>;
}

/** Plain JSON-able state: JSON.stringify it to persist, MembershipUpdater.fromState to restore. */
export interface MembershipState {
  readonly version: 1;
  readonly clusters: number;
  readonly warmupRounds: number;
  readonly dynamic: boolean;
  readonly seed: number | string;
  readonly mixture: Omit<GaussianMixtureOptions, 'seed'>;
  /** clientId -> pi_k; clients absent here are uniform. */
  readonly memberships: Record<string, number[]>;
}

export interface MembershipRoundResult {
  /** False during warm-up. */
  readonly updated: boolean;
  /** Components fitted this round (0 when not updated). */
  readonly componentCount: number;
  /** componentSlots[c]: the cluster slot component c was aligned to. */
  readonly componentSlots: Int32Array;
  /** NaN when not updated. */
  readonly logLikelihood: number;
  readonly bic: number;
  /** Every component count tried (dynamic mode only). */
  readonly candidates: readonly ClusterCountCandidate[];
}

function nonNegativeInt(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Error(`${label} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function checkMembership(values: readonly number[], clusters: number, label: string): void {
  if (!Array.isArray(values) || values.length !== clusters) {
    throw new Error(`${label} must be an array of ${clusters} probabilities`);
  }
  let sum = 0;
  for (const value of values) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new Error(`${label} holds ${String(value)}, not a probability`);
    }
    sum += value;
  }
  if (Math.abs(sum - 1) > 1e-6) throw new Error(`${label} sums to ${sum}, not 1`);
}

/**
 * Each client's soft membership pi_k over the K_c clusters (FedHFT's outer problem, step 2). After warm-up, a
 * round fits a diagonal GMM to the participants' standardised features and sets only their pi_k to the
 * posterior responsibilities; everyone else keeps theirs.
 *
 * Label alignment: a GMM numbers its components arbitrarily, but slot j is tied to the server's G_j and H_j, so
 * component c must land on the slot its members already belonged to. Components are matched to slots by the
 * Hungarian method, maximising the overlap sum_i R[i][c] * pi_i[j] between new responsibilities and previous
 * memberships. Overlap is used rather than distances between component means because the feature space is
 * re-standardised and the heads drift every round, so means are not comparable across rounds, while
 * memberships are. Clients never clustered before are uniform and do not bias the matching.
 */
export class MembershipUpdater {
  readonly clusters: number;
  readonly warmupRounds: number;
  readonly dynamic: boolean;
  readonly seed: number | string;
  private readonly mixture: Omit<GaussianMixtureOptions, 'seed'>;
  private readonly memberships = new Map<string, Float64Array>();

  constructor(options: MembershipUpdaterOptions) {
    if (!Number.isInteger(options.clusters) || options.clusters < 1) {
      throw new Error(`clusters must be a positive integer, got ${options.clusters}`);
    }
    this.clusters = options.clusters;
    this.warmupRounds = nonNegativeInt(options.warmupRounds ?? 5, 'warmupRounds');
    this.dynamic = options.dynamic ?? false;
    if (typeof this.dynamic !== 'boolean') throw new Error('dynamic must be a boolean');
    this.seed = options.seed ?? 0;
    assertSeed(this.seed);
    this.mixture = { ...(options.mixture ?? {}) };
  }

  static fromState(state: MembershipState): MembershipUpdater {
    if (state === null || typeof state !== 'object') throw new Error('membership state must be an object');
    if (state.version !== 1) throw new Error(`unsupported membership state version ${String(state.version)}`);
    const updater = new MembershipUpdater(state);
    if (state.memberships === null || typeof state.memberships !== 'object') {
      throw new Error('membership state lacks memberships');
    }
    for (const [clientId, values] of Object.entries(state.memberships)) {
      checkMembership(values, updater.clusters, `membership of ${clientId}`);
      updater.memberships.set(clientId, Float64Array.from(values));
    }
    return updater;
  }

  state(): MembershipState {
    const memberships: Record<string, number[]> = {};
    for (const [clientId, values] of this.memberships) memberships[clientId] = Array.from(values);
    return {
      version: 1,
      clusters: this.clusters,
      warmupRounds: this.warmupRounds,
      dynamic: this.dynamic,
      seed: this.seed,
      mixture: { ...this.mixture },
      memberships,
    };
  }

  /** pi_k of a client (a copy); uniform for a client not clustered yet. */
  membership(clientId: string): Float64Array {
    const known = this.memberships.get(clientId);
    return known ? Float64Array.from(known) : new Float64Array(this.clusters).fill(1 / this.clusters);
  }

  /** Clients whose membership has been set by a round. */
  clientIds(): string[] {
    return [...this.memberships.keys()];
  }

  update(round: number, participants: readonly MembershipParticipant[]): MembershipRoundResult {
    nonNegativeInt(round, 'round');
    if (!Array.isArray(participants) || participants.length === 0) {
      throw new Error('participants must be a non-empty array');
    }
    const seen = new Set<string>();
    for (const { clientId } of participants) {
      if (typeof clientId !== 'string' || clientId === '')
        throw new Error('clientId must be a non-empty string');
      if (seen.has(clientId)) throw new Error(`client ${clientId} appears twice among the participants`);
      seen.add(clientId);
    }
    if (round < this.warmupRounds) {
      return {
        updated: false,
        componentCount: 0,
        componentSlots: new Int32Array(0),
        logLikelihood: Number.NaN,
        bic: Number.NaN,
        candidates: [],
      };
    }
    const { rows } = standardizeFeatures(participants.map((p) => p.features));
    const seed = `${this.seed}:round:${round}`;
    let fit: GaussianMixtureFit;
    let candidates: readonly ClusterCountCandidate[] = [];
    if (this.dynamic) {
      const choice = chooseClusterCount(rows, this.clusters, seed, this.mixture);
      fit = choice.fit;
      candidates = choice.candidates;
    } else {
      fit = fitGaussianMixture(rows, Math.min(this.clusters, rows.length), { ...this.mixture, seed });
    }
    const componentCount = fit.weights.length;
    const previous = participants.map((p) => this.membership(p.clientId));
    const overlap = Array.from({ length: componentCount }, (_, c) => {
      const row = new Float64Array(this.clusters);
      previous.forEach((pi, i) => {
        const r = fit.responsibilities[i]![c]!;
        for (let j = 0; j < this.clusters; j++) row[j]! -= r * pi[j]!; // negated: the assignment minimises
      });
      return row;
    });
    const componentSlots = minCostAssignment(overlap);
    participants.forEach((p, i) => {
      const pi = new Float64Array(this.clusters);
      componentSlots.forEach((slot, c) => (pi[slot] = fit.responsibilities[i]![c]!));
      this.memberships.set(p.clientId, pi);
    });
    const n = rows.length;
    const dim = rows[0]!.length;
    return {
      updated: true,
      componentCount,
      componentSlots,
      logLikelihood: fit.logLikelihood,
      bic: bayesianInformationCriterion(fit.logLikelihood, diagonalGmmParameterCount(componentCount, dim), n),
      candidates,
    };
  }
}
