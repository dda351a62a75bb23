import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RDP_ORDERS,
  dpEpsilon,
  epsilonFromRdp,
  RdpAccountant,
  rdpSampledGaussian,
} from '../src/index';

/*
 * Reference values from an independent 60-digit mpmath computation of the same binomial sum, itself checked
 * against numerical integration of A_alpha = E_{z~N(0, sigma^2)}[((1 - q) + q exp((2z - 1) / (2 sigma^2)))^alpha]
 * (agreement to 15 digits).
 */
describe('rdpSampledGaussian', () => {
  it('reduces to the Gaussian mechanism, alpha / (2 sigma^2), at q = 1', () => {
    for (const [sigma, order] of [
      [1, 2],
      [1.5, 10],
      [0.7, 64],
      [4, 512],
    ] as const) {
      expect(rdpSampledGaussian(1, sigma, order)).toBeCloseTo(order / (2 * sigma ** 2), 10);
    }
  });

  it('matches high-precision reference values', () => {
    const cases: [number, number, number, number][] = [
      [0.01, 1.1, 2, 0.000128510081605162],
      [0.01, 1.1, 10, 0.000807582173022056],
      [0.01, 1.1, 64, 21.7680128662873],
      [0.1, 4, 5, 0.00164098743522942],
      [0.001, 0.8, 32, 17.8694139055668],
      [0.5, 2, 256, 31.3041345952026],
    ];
    for (const [q, sigma, order, expected] of cases) {
      expect(Math.abs(rdpSampledGaussian(q, sigma, order) / expected - 1)).toBeLessThan(1e-9);
    }
  });

  it('is 0 without sampling and grows with q, shrinks with sigma', () => {
    expect(rdpSampledGaussian(0, 1, 8)).toBe(0);
    expect(rdpSampledGaussian(0.02, 1, 8)).toBeGreaterThan(rdpSampledGaussian(0.01, 1, 8));
    expect(rdpSampledGaussian(0.01, 2, 8)).toBeLessThan(rdpSampledGaussian(0.01, 1, 8));
  });

  it('validates its inputs', () => {
    expect(() => rdpSampledGaussian(1.5, 1, 2)).toThrow(/samplingRate must be in \[0, 1\]/);
    expect(() => rdpSampledGaussian(0.1, 0, 2)).toThrow(/noiseMultiplier must be a positive/);
    expect(() => rdpSampledGaussian(0.1, 1, 2.5)).toThrow(/integers >= 2/);
    expect(() => rdpSampledGaussian(0.1, 1, 1)).toThrow(/integers >= 2/);
  });
});

describe('epsilon from RDP', () => {
  it('matches high-precision reference values (integer orders 2..64, 72..512)', () => {
    const cases: [number, number, number, number, number][] = [
      // q, sigma, rounds, epsilon at delta 1e-5, best order
      [0.01, 4, 10000, 1.25857474125279, 20], // Abadi et al. 2016's example: their moments accountant gives 1.26
      [256 / 60000, 1.1, 14062, 3.00909952573242, 9], // MNIST DP-SGD, batch 256, 60 epochs: about 3.0
      [0.1, 1, 100, 8.92769276282276, 3],
      [0.01, 1, 100, 1.61728188745958, 9],
      [0.05, 1.2, 200, 4.38483496305391, 6],
      [1, 1, 1, 5.30258509299405, 6],
      [1, 5, 100, 11.7564627324851, 3],
    ];
    for (const [samplingRate, noiseMultiplier, rounds, epsilon, order] of cases) {
      const spent = dpEpsilon({ samplingRate, noiseMultiplier, rounds, delta: 1e-5 });
      expect(Math.abs(spent.epsilon / epsilon - 1)).toBeLessThan(1e-9);
      expect(spent.order).toBe(order);
    }
  });

  it('grows with rounds and shrinks with noise', () => {
    const eps = (rounds: number, sigma: number) =>
      dpEpsilon({ samplingRate: 0.1, noiseMultiplier: sigma, rounds, delta: 1e-5 }).epsilon;
    const byRounds = [1, 10, 100, 1000].map((t) => eps(t, 1));
    const bySigma = [0.6, 1, 2, 4, 8].map((s) => eps(100, s));
    for (let i = 1; i < byRounds.length; i++) expect(byRounds[i]).toBeGreaterThan(byRounds[i - 1]!);
    for (let i = 1; i < bySigma.length; i++) expect(bySigma[i]).toBeLessThan(bySigma[i - 1]!);
  });

  it('composes rounds of different mechanisms additively', () => {
    const accountant = new RdpAccountant().compose(0.1, 1, 30).compose(0.05, 2, 70);
    const orders = DEFAULT_RDP_ORDERS;
    const expected = orders.map(
      (a) => 30 * rdpSampledGaussian(0.1, 1, a) + 70 * rdpSampledGaussian(0.05, 2, a),
    );
    accountant.rdp().forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    expect(accountant.epsilon(1e-6)).toEqual(epsilonFromRdp(expected, orders, 1e-6));
    expect(new RdpAccountant().epsilon(1e-5).epsilon).toBeCloseTo(Math.log(1e5) / 511, 12); // nothing spent
  });

  it('converts with eps = RDP + log(1/delta) / (alpha - 1), taking the best order', () => {
    expect(epsilonFromRdp([1, 0.5], [2, 3], 0.01)).toEqual({ epsilon: 0.5 + Math.log(100) / 2, order: 3 });
    expect(() => epsilonFromRdp([1], [2], 0)).toThrow(/delta must be in \(0, 1\)/);
    expect(() => epsilonFromRdp([1], [2, 3], 0.1)).toThrow(/1 RDP values for 2 orders/);
    expect(() => new RdpAccountant([1.5])).toThrow(/integers >= 2/);
    expect(() => new RdpAccountant().compose(0.1, 1, -1)).toThrow(/rounds/);
  });
});
