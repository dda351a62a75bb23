import { fitGaussianMixture, type GaussianMixtureFit, type GaussianMixtureOptions } from './gmm';
import { assertSeed, toRows, type Points } from './points';

/** Free parameters of a K-component diagonal GMM in d dimensions: K d means, K d variances, K - 1 weights. */
export function diagonalGmmParameterCount(k: number, dim: number): number {
  return 2 * k * dim + k - 1;
}

/** Bayesian information criterion, -2 log L + p ln n (lower is better). */
export function bayesianInformationCriterion(logLikelihood: number, parameters: number, n: number): number {
  return -2 * logLikelihood + parameters * Math.log(n);
}

export interface ClusterCountCandidate {
  readonly k: number;
  readonly logLikelihood: number;
  readonly bic: number;
}

export interface ClusterCountChoice {
  /** The K of lowest BIC (the smaller K on a tie). */
  readonly k: number;
  /** The fit at that K. */
  readonly fit: GaussianMixtureFit;
  /** Every K tried, ascending. */
  readonly candidates: readonly ClusterCountCandidate[];
}

/**
 * Dynamic cluster formation: fits K = 1..min(kMax, n) diagonal GMMs and keeps the one of lowest BIC. K never
 * exceeds the number of points (a component needs at least one). Each K is seeded from `seed` and K alone, so
 * the choice does not depend on kMax.
 */
export function chooseClusterCount(
  features: Points,
  kMax: number,
  seed: number | string,
  options: Omit<GaussianMixtureOptions, 'seed'> = {},
): ClusterCountChoice {
  const rows = toRows(features, 'features');
  if (!Number.isInteger(kMax) || kMax < 1) throw new Error(`kMax must be a positive integer, got ${kMax}`);
  assertSeed(seed);
  const n = rows.length;
  const dim = rows[0]!.length;
  const candidates: ClusterCountCandidate[] = [];
  let best: { k: number; fit: GaussianMixtureFit; bic: number } | null = null;
  for (let k = 1; k <= Math.min(kMax, n); k++) {
    const fit = fitGaussianMixture(rows, k, { ...options, seed });
    const bic = bayesianInformationCriterion(fit.logLikelihood, diagonalGmmParameterCount(k, dim), n);
    candidates.push({ k, logLikelihood: fit.logLikelihood, bic });
    if (best === null || bic < best.bic) best = { k, fit, bic };
  }
  return { k: best!.k, fit: best!.fit, candidates };
}
