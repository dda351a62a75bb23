/**
 * Renyi-DP accountant for the sampled Gaussian mechanism (Abadi et al. 2016; Mironov, Talwar and Zhang 2019):
 * each round includes every client independently with probability q (Poisson sampling) and releases the clipped
 * sum plus N(0, (sigma S)^2) noise (see noise.ts). At integer orders alpha >= 2 its RDP is exactly
 *   RDP(alpha) = 1/(alpha - 1) log sum_{k=0}^{alpha} C(alpha, k) (1 - q)^(alpha - k) q^k exp((k^2 - k) / (2 sigma^2)),
 * which is alpha / (2 sigma^2) at q = 1 (the plain Gaussian mechanism). RDP adds up over rounds, and
 *   epsilon(delta) = min_alpha RDP_total(alpha) + log(1/delta) / (alpha - 1)     (Mironov 2017, Prop. 3).
 */

/** Integer orders searched by default: dense where the optimum usually lies, sparse above. */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  72,
  80,
  96,
  128,
  192,
  256,
  384,
  512,
];

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  if (max === -Infinity) return -Infinity;
  return max + Math.log(values.reduce((sum, v) => sum + Math.exp(v - max), 0));
}

/** log C(n, k) from a running sum of logs (n is at most a few hundred). */
function logBinomials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) out[k] = out[k - 1]! + Math.log(n - k + 1) - Math.log(k);
  return out;
}

function checkOrder(order: number): void {
  if (!Number.isInteger(order) || order < 2)
    throw new Error(`RDP orders must be integers >= 2, got ${order}`);
}

function checkMechanism(samplingRate: number, noiseMultiplier: number): void {
  if (!(samplingRate >= 0 && samplingRate <= 1)) {
    throw new Error(`samplingRate must be in [0, 1], got ${samplingRate}`);
  }
  if (!(noiseMultiplier > 0) || !Number.isFinite(noiseMultiplier)) {
    throw new Error(`noiseMultiplier must be a positive number, got ${noiseMultiplier}`);
  }
}

/** RDP at an integer order of one round of the sampled Gaussian mechanism (sampling rate q, noise sigma). */
export function rdpSampledGaussian(samplingRate: number, noiseMultiplier: number, order: number): number {
  checkMechanism(samplingRate, noiseMultiplier);
  checkOrder(order);
  const q = samplingRate;
  if (q === 0) return 0;
  const binomials = logBinomials(order);
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q); // -Infinity at q = 1: only the k = alpha term remains
  const terms: number[] = [];
  for (let k = 0; k <= order; k++) {
    const rest = order - k;
    const weight = binomials[k]! + k * logQ + (rest === 0 ? 0 : rest * log1mQ);
    terms.push(weight + (k * k - k) / (2 * noiseMultiplier ** 2));
  }
  // Each term is positive and the sum is >= 1 in exact arithmetic; clamp rounding just below 0.
  return Math.max(0, logSumExp(terms)) / (order - 1);
}

export interface PrivacySpent {
  readonly epsilon: number;
  /** The RDP order that gave the smallest epsilon. */
  readonly order: number;
}

/** epsilon(delta) = min over orders of rdp[i] + log(1/delta) / (order - 1). */
export function epsilonFromRdp(
  rdp: readonly number[],
  orders: readonly number[],
  delta: number,
): PrivacySpent {
  if (!(delta > 0 && delta < 1)) throw new Error(`delta must be in (0, 1), got ${delta}`);
  if (rdp.length !== orders.length || orders.length === 0) {
    throw new Error(`got ${rdp.length} RDP values for ${orders.length} orders`);
  }
  let best: PrivacySpent = { epsilon: Infinity, order: orders[0]! };
  orders.forEach((order, i) => {
    checkOrder(order);
    const epsilon = rdp[i]! + Math.log(1 / delta) / (order - 1);
    if (epsilon < best.epsilon) best = { epsilon, order };
  });
  return best;
}

/** Composes rounds (of possibly different q and sigma) and reports epsilon for a delta. */
export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly total: Float64Array;

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    if (orders.length === 0) throw new Error('the accountant needs at least one RDP order');
    orders.forEach(checkOrder);
    this.orders = [...orders];
    this.total = new Float64Array(orders.length);
  }

  /** Adds `rounds` rounds of the sampled Gaussian mechanism. */
  compose(samplingRate: number, noiseMultiplier: number, rounds = 1): this {
    if (!Number.isInteger(rounds) || rounds < 0)
      throw new Error(`rounds must be a non-negative integer, got ${rounds}`);
    this.orders.forEach((order, i) => {
      this.total[i]! += rounds * rdpSampledGaussian(samplingRate, noiseMultiplier, order);
    });
    return this;
  }

  /** Accumulated RDP per order. */
  rdp(): number[] {
    return Array.from(this.total);
  }

  epsilon(delta: number): PrivacySpent {
    return epsilonFromRdp(this.rdp(), this.orders, delta);
  }
}

/** epsilon after `rounds` rounds at sampling rate q and noise multiplier sigma, for a given delta. */
export function dpEpsilon(options: {
  readonly samplingRate: number;
  readonly noiseMultiplier: number;
  readonly rounds: number;
  readonly delta: number;
  readonly orders?: readonly number[];
}): PrivacySpent {
  return new RdpAccountant(options.orders)
    .compose(options.samplingRate, options.noiseMultiplier, options.rounds)
    .epsilon(options.delta);
}
