import { checkOptionsObject, positiveNumberOption, seedOption, type Seed } from './options';

/**
 * Robust aggregation of a round's updates (FedHFT, HeteroFL, FedAvg full fine-tuning):
 * - 'trimmed-mean': per coordinate, drop the floor(trim m) lowest and highest of the m values sent and average
 *   the rest (trim in [0, 0.5)). Cannot stream: the round buffers every participant's reconstructed update.
 * - 'norm-bounded': clip each update's whole norm (adapter or dense deltas and head change together) to `bound`,
 *   or to the median of the round's norms, then aggregate as usual.
 */
export type RobustAggregation =
  | { readonly kind: 'trimmed-mean'; readonly trim: number }
  | { readonly kind: 'norm-bounded'; readonly bound: number | 'median' };

/**
 * Central differential privacy with the Gaussian mechanism (DP-FedAvg, see privacy/noise.ts): every update is
 * clipped to `clipNorm` (S), summed with fixed weights <= 1, N(0, (noiseMultiplier S)^2) is added to every
 * coordinate of every released weight and head, and the sum is divided by `expectedParticipants`. The caller
 * must select each client independently with probability `samplingRate` every round (Poisson sampling): the
 * accountant's epsilon (reported for `delta`) is only valid then.
 */
export interface DpOptions {
  /** sigma: noise std over the clip norm. */
  readonly noiseMultiplier: number;
  /** S: every update's whole L2 norm (adapters or dense deltas and head change together) is clipped to it. */
  readonly clipNorm: number;
  /** The delta epsilon is reported for, in (0, 1) (well below 1 / number of clients). */
  readonly delta: number;
  /** q N: the fixed count the noisy sum is divided by. */
  readonly expectedParticipants: number;
  /** q in (0, 1]: the probability with which the caller samples each client each round. */
  readonly samplingRate: number;
  /**
   * Seeds the noise (seededRandom per round) for reproducible simulations. Omit it in deployments: the noise
   * then comes from crypto.getRandomValues, since noise drawn from a known seed can be subtracted.
   */
  readonly seed?: Seed;
}

export interface ResolvedDpOptions {
  readonly noiseMultiplier: number;
  readonly clipNorm: number;
  readonly delta: number;
  readonly expectedParticipants: number;
  readonly samplingRate: number;
  /** null: unpredictable noise (crypto.getRandomValues). */
  readonly seed: Seed | null;
}

export function resolveRobust(value: unknown, strategy: string): RobustAggregation | null {
  if (value === undefined) return null;
  const label = `${strategy}: robust`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${label} must be an object with a kind ('trimmed-mean' or 'norm-bounded')`);
  }
  const given = value as Record<string, unknown>;
  if (given.kind === 'trimmed-mean') {
    checkOptionsObject(given, ['kind', 'trim'], label);
    const { trim } = given;
    if (typeof trim !== 'number' || !(trim >= 0 && trim < 0.5)) {
      throw new Error(`${label}.trim must be a number in [0, 0.5), got ${String(trim)}`);
    }
    return { kind: 'trimmed-mean', trim };
  }
  if (given.kind === 'norm-bounded') {
    checkOptionsObject(given, ['kind', 'bound'], label);
    const { bound } = given;
    if (bound === 'median') return { kind: 'norm-bounded', bound };
    return { kind: 'norm-bounded', bound: positiveNumberOption(bound, `${label}.bound (or 'median')`) };
  }
  throw new Error(`${label}.kind must be 'trimmed-mean' or 'norm-bounded', got ${String(given.kind)}`);
}

const DP_KEYS = ['noiseMultiplier', 'clipNorm', 'delta', 'expectedParticipants', 'samplingRate', 'seed'];

export function resolveDp(value: unknown, strategy: string): ResolvedDpOptions | null {
  if (value === undefined) return null;
  const label = `${strategy}: dp`;
  checkOptionsObject(value, DP_KEYS, label);
  const given = value as Record<string, unknown>;
  const { delta, samplingRate } = given;
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) {
    throw new Error(`${label}.delta must be a number in (0, 1), got ${String(delta)}`);
  }
  if (typeof samplingRate !== 'number' || !(samplingRate > 0 && samplingRate <= 1)) {
    throw new Error(`${label}.samplingRate must be a number in (0, 1], got ${String(samplingRate)}`);
  }
  return {
    noiseMultiplier: positiveNumberOption(given.noiseMultiplier, `${label}.noiseMultiplier`),
    clipNorm: positiveNumberOption(given.clipNorm, `${label}.clipNorm`),
    delta,
    expectedParticipants: positiveNumberOption(given.expectedParticipants, `${label}.expectedParticipants`),
    samplingRate,
    seed: given.seed === undefined ? null : seedOption(given.seed, `${label}.seed`),
  };
}

/**
 * Combinations that would silently change meaning are refused: the DP guarantee covers plain clipped sums
 * only (a trimmed mean or a median bound is data-dependent: one client moves it by more than S), and dp brings
 * its own clip norm.
 */
export function checkPrivacyCombination(
  robust: RobustAggregation | null,
  dp: ResolvedDpOptions | null,
  clipNorm: unknown,
  strategy: string,
): void {
  if (dp !== null && robust !== null) {
    throw new Error(
      `${strategy}: dp and robust cannot be combined (the accountant covers clipped, noised sums only)`,
    );
  }
  if (dp !== null && clipNorm !== undefined) {
    throw new Error(`${strategy}: with dp, the clip norm is dp.clipNorm; leave clipNorm unset`);
  }
}
