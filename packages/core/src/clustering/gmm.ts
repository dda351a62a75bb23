import { seededRandom } from '../random';
import { kMeans } from './kmeans';
import { assertSeed, columnVariances, logSumExp, toRows, type Points } from './points';

/** A Gaussian mixture with diagonal covariances. */
export interface GaussianMixture {
  /** Mixing weights, [K], summing to 1. */
  readonly weights: Float64Array;
  /** K means of dimension d. */
  readonly means: readonly Float64Array[];
  /** K diagonal variances of dimension d, each at least the fit's variance floor. */
  readonly variances: readonly Float64Array[];
}

export interface GaussianMixtureFit extends GaussianMixture {
  /** Posterior responsibilities of the fitted points: n rows of K values summing to 1. */
  readonly responsibilities: Float64Array[];
  /** Total log-likelihood of the fitted points under the returned parameters. */
  readonly logLikelihood: number;
  /** EM iterations of the kept restart. */
  readonly iterations: number;
  /** Whether the kept restart met the tolerance before maxIterations. */
  readonly converged: boolean;
}

export interface GaussianMixtureOptions {
  /** Seeds k-means++ of every restart. Default 0. */
  readonly seed?: number | string;
  /** EM stops when the mean log-likelihood per point improves by less than this. Default 1e-6. */
  readonly tolerance?: number;
  /** Default 300. */
  readonly maxIterations?: number;
  /** Independent k-means++ starts; the fit with the highest likelihood is kept. Default 5. */
  readonly restarts?: number;
  /**
   * Variance floor as a fraction of each feature's variance over all points. Default 0.1. Without a floor a
   * component that collapses onto one point has unbounded density, and BIC would reward it: each singleton gains
   * about (d/2)(1 + ln(1/floor)) in log-likelihood, and splitting n points into n singletons costs about
   * (n - 1) d ln n, so at 0.1 a single blob stays one cluster from about 10 points on (measured at d = 20..256;
   * with fewer, BIC cannot tell a blob from singletons). Relative to the data, it needs no unit tuning.
   */
  readonly varianceFloor?: number;
}

const LOG_2PI = Math.log(2 * Math.PI);
/** A component that holds no point keeps this weight, so log(weight) stays finite. */
const MIN_WEIGHT = 1e-300;

function positiveInt(value: number, label: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${label} must be a positive integer, got ${value}`);
  return value;
}

function resolve(options: GaussianMixtureOptions): Required<GaussianMixtureOptions> {
  const seed = options.seed ?? 0;
  assertSeed(seed);
  const tolerance = options.tolerance ?? 1e-6;
  if (!(tolerance >= 0)) throw new Error(`tolerance must be a non-negative number, got ${tolerance}`);
  const varianceFloor = options.varianceFloor ?? 0.1;
  if (!(varianceFloor > 0 && varianceFloor < 1)) {
    throw new Error(`varianceFloor must be in (0, 1), got ${varianceFloor}`);
  }
  return {
    seed,
    tolerance,
    varianceFloor,
    maxIterations: positiveInt(options.maxIterations ?? 300, 'maxIterations'),
    restarts: positiveInt(options.restarts ?? 5, 'restarts'),
  };
}

/** log N(x | mean, diag(variance)) for every component, into `out`. */
function componentLogDensities(model: GaussianMixture, x: Float64Array, out: Float64Array): void {
  const dim = x.length;
  model.means.forEach((mean, k) => {
    const variance = model.variances[k]!;
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += Math.log(variance[d]!) + (x[d]! - mean[d]!) ** 2 / variance[d]!;
    out[k] = Math.log(model.weights[k]!) - 0.5 * (dim * LOG_2PI + sum);
  });
}

/** E-step in log space: responsibilities (written into `responsibilities`) and the total log-likelihood. */
function expectation(
  model: GaussianMixture,
  rows: readonly Float64Array[],
  responsibilities: Float64Array[],
): number {
  const logJoint = new Float64Array(model.weights.length);
  let total = 0;
  rows.forEach((row, i) => {
    componentLogDensities(model, row, logJoint);
    const logMarginal = logSumExp(logJoint);
    total += logMarginal;
    const out = responsibilities[i]!;
    for (let k = 0; k < logJoint.length; k++) out[k] = Math.exp(logJoint[k]! - logMarginal);
  });
  return total;
}

/**
 * M-step: weighted means and floored diagonal variances (max(variance, floor) is the constrained maximiser, so
 * EM still never lowers the likelihood). An empty component keeps its previous shape.
 */
function maximization(
  rows: readonly Float64Array[],
  responsibilities: readonly Float64Array[],
  floor: Float64Array,
  previous: GaussianMixture,
): GaussianMixture {
  const n = rows.length;
  const dim = floor.length;
  const k = responsibilities[0]!.length;
  const weights = new Float64Array(k);
  const means: Float64Array[] = [];
  const variances: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    let mass = 0;
    const mean = new Float64Array(dim);
    rows.forEach((row, i) => {
      const r = responsibilities[i]![c]!;
      mass += r;
      for (let d = 0; d < dim; d++) mean[d]! += r * row[d]!;
    });
    if (mass < 1e-10) {
      weights[c] = MIN_WEIGHT;
      means.push(previous.means[c]!);
      variances.push(previous.variances[c]!);
      continue;
    }
    for (let d = 0; d < dim; d++) mean[d]! /= mass;
    const variance = new Float64Array(dim);
    rows.forEach((row, i) => {
      const r = responsibilities[i]![c]!;
      for (let d = 0; d < dim; d++) variance[d]! += r * (row[d]! - mean[d]!) ** 2;
    });
    for (let d = 0; d < dim; d++) variance[d] = Math.max(variance[d]! / mass, floor[d]!);
    weights[c] = mass / n;
    means.push(mean);
    variances.push(variance);
  }
  const total = weights.reduce((sum, w) => sum + w, 0);
  for (let c = 0; c < k; c++) weights[c]! /= total;
  return { weights, means, variances };
}

function fitOnce(
  rows: readonly Float64Array[],
  k: number,
  spread: Float64Array,
  floor: Float64Array,
  random: () => number,
  options: Required<GaussianMixtureOptions>,
): GaussianMixtureFit {
  const n = rows.length;
  const { centres, labels } = kMeans(rows, k, random);
  let responsibilities = rows.map((_, i) => {
    const r = new Float64Array(k);
    r[labels[i]!] = 1;
    return r;
  });
  // k-means clusters give the first M-step; a cluster k-means left empty starts at its centre.
  const startVariance = spread.map((v, d) => Math.max(v, floor[d]!));
  const start = { weights: new Float64Array(k), means: centres, variances: centres.map(() => startVariance) };
  let model = maximization(rows, responsibilities, floor, start);
  let logLikelihood = expectation(model, rows, responsibilities);
  for (let iteration = 1; iteration <= options.maxIterations; iteration++) {
    const next = maximization(rows, responsibilities, floor, model);
    const nextResponsibilities = rows.map(() => new Float64Array(k));
    const nextLogLikelihood = expectation(next, rows, nextResponsibilities);
    // EM never lowers the likelihood; a drop is float noise at convergence, so keep the previous state.
    if (nextLogLikelihood < logLikelihood) {
      return { ...model, responsibilities, logLikelihood, iterations: iteration, converged: true };
    }
    const gain = (nextLogLikelihood - logLikelihood) / n;
    model = next;
    logLikelihood = nextLogLikelihood;
    responsibilities = nextResponsibilities;
    if (gain < options.tolerance) {
      return { ...model, responsibilities, logLikelihood, iterations: iteration, converged: true };
    }
  }
  return { ...model, responsibilities, logLikelihood, iterations: options.maxIterations, converged: false };
}

/**
 * Fits a K-component diagonal Gaussian mixture by EM (log-space E-step) from k-means++ starts, keeping the best
 * of several restarts. Deterministic for a given seed.
 */
export function fitGaussianMixture(
  points: Points,
  k: number,
  options: GaussianMixtureOptions = {},
): GaussianMixtureFit {
  const rows = toRows(points);
  positiveInt(k, 'k');
  if (k > rows.length) throw new Error(`cannot fit ${k} components to ${rows.length} points`);
  const resolved = resolve(options);
  const spread = columnVariances(rows);
  // The tiny absolute term keeps a constant feature (zero spread) from giving zero variances.
  const floor = spread.map((v) => Math.max(resolved.varianceFloor * v, 1e-12));
  const random = seededRandom(`gmm:${resolved.seed}:${k}`);
  let best: GaussianMixtureFit | null = null;
  for (let restart = 0; restart < resolved.restarts; restart++) {
    const fit = fitOnce(rows, k, spread, floor, random, resolved);
    if (best === null || fit.logLikelihood > best.logLikelihood) best = fit;
  }
  return best!;
}

/** Posterior responsibilities of any points (same dimension as the model) under a fitted mixture. */
export function mixtureResponsibilities(model: GaussianMixture, points: Points): Float64Array[] {
  const rows = toRows(points);
  const dim = model.means[0]!.length;
  if (rows[0]!.length !== dim) throw new Error(`points have ${rows[0]!.length} dimensions, the model ${dim}`);
  const responsibilities = rows.map(() => new Float64Array(model.weights.length));
  expectation(model, rows, responsibilities);
  return responsibilities;
}

/** Hard labels: the component of highest responsibility for each point. */
export function hardLabels(responsibilities: readonly ArrayLike<number>[]): Int32Array {
  return Int32Array.from(responsibilities, (r) => {
    let best = 0;
    for (let k = 1; k < r.length; k++) if (r[k]! > r[best]!) best = k;
    return best;
  });
}
