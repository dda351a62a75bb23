import { describe, expect, it } from 'vitest';
import {
  assignBudgets,
  dirichletLabelPartition,
  gaussianFrom,
  groupPartition,
  iidPartition,
  sampleDirichlet,
  sampleGamma,
  seededRandom,
} from '../src/index';

/** Every index 0..total-1 appears exactly once across the clients. */
function expectExactCover(clients: readonly Int32Array[], total: number): void {
  const seen = new Uint8Array(total);
  for (const client of clients) {
    for (const i of client) {
      expect(seen[i]).toBe(0);
      seen[i] = 1;
    }
    expect(Array.from(client)).toEqual(Array.from(client).sort((a, b) => a - b));
  }
  expect(clients.reduce((s, c) => s + c.length, 0)).toBe(total);
}

/** Mean over clients of the entropy (nats) of the client's label distribution. */
function meanLabelEntropy(clients: readonly Int32Array[], labels: readonly number[]): number {
  const entropies = clients.map((client) => {
    const counts = new Map<number, number>();
    for (const i of client) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
    let h = 0;
    for (const c of counts.values()) h -= (c / client.length) * Math.log(c / client.length);
    return h;
  });
  return entropies.reduce((a, b) => a + b) / entropies.length;
}

const labels = Array.from({ length: 2000 }, (_, i) => i % 10); // 10 balanced classes

describe('Gamma and Dirichlet sampling', () => {
  it.each([0.1, 0.5, 1, 3.7, 20])('Gamma(%f) has mean and variance equal to its shape', (shape) => {
    const random = seededRandom(`gamma:${shape}`);
    const normal = gaussianFrom(random);
    const n = 40000;
    const samples = Array.from({ length: n }, () => sampleGamma(shape, random, normal));
    const mean = samples.reduce((a, b) => a + b) / n;
    const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean - shape)).toBeLessThan(4 * Math.sqrt(shape / n));
    expect(Math.abs(variance / shape - 1)).toBeLessThan(0.1);
    expect(samples.every((x) => x >= 0)).toBe(true);
  });

  it('draws Dirichlet vectors on the simplex, even at tiny concentrations', () => {
    const random = seededRandom('dirichlet');
    const normal = gaussianFrom(random);
    for (const alpha of [0.001, 0.1, 1, 100]) {
      const p = sampleDirichlet(new Array<number>(8).fill(alpha), random, normal);
      expect(p.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
      expect(p.every((x) => x >= 0 && Number.isFinite(x))).toBe(true);
    }
  });

  it('rejects non-positive shapes', () => {
    expect(() => sampleGamma(0, Math.random, Math.random)).toThrow(/shape must be positive/);
  });
});

describe('dirichletLabelPartition', () => {
  it('covers every example exactly once and honours the minimum size', () => {
    for (const alpha of [0.05, 0.1, 1, 100]) {
      const clients = dirichletLabelPartition(labels, 20, { alpha, seed: 1, minSize: 30 });
      expect(clients).toHaveLength(20);
      expectExactCover(clients, labels.length);
      expect(Math.min(...clients.map((c) => c.length))).toBeGreaterThanOrEqual(30);
    }
  });

  it('rebalances when redrawing cannot reach the minimum size', () => {
    // With alpha = 0.01 almost every class lands on one client: no draw gives 20 clients 50 examples.
    const clients = dirichletLabelPartition(labels, 20, { alpha: 0.01, seed: 2, minSize: 50, maxDraws: 5 });
    expectExactCover(clients, labels.length);
    expect(Math.min(...clients.map((c) => c.length))).toBe(50);
  });

  it('skews labels more as alpha decreases', () => {
    const entropy = (alpha: number) =>
      meanLabelEntropy(dirichletLabelPartition(labels, 20, { alpha, seed: 3, minSize: 10 }), labels);
    const [h01, h1, h100] = [entropy(0.1), entropy(1), entropy(100)];
    // Uniform over 10 labels is ln 10 = 2.30 nats.
    expect(h01).toBeLessThan(h1);
    expect(h1).toBeLessThan(h100);
    expect(h01).toBeLessThan(1.2);
    expect(h100).toBeGreaterThan(2.2);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = dirichletLabelPartition(labels, 10, { alpha: 0.5, seed: 'x' });
    expect(dirichletLabelPartition(labels, 10, { alpha: 0.5, seed: 'x' })).toEqual(a);
    expect(dirichletLabelPartition(labels, 10, { alpha: 0.5, seed: 'y' })).not.toEqual(a);
  });

  it('validates its inputs', () => {
    expect(() => dirichletLabelPartition(labels, 10, { alpha: 0, seed: 1 })).toThrow(
      /alpha must be a positive/,
    );
    expect(() => dirichletLabelPartition(labels, 0, { alpha: 1, seed: 1 })).toThrow(/nClients/);
    expect(() => dirichletLabelPartition([0, 1], 2, { alpha: 1, seed: 1, minSize: 2 })).toThrow(
      /2 examples cannot give 2 clients 2 each/,
    );
    expect(() => dirichletLabelPartition([0, -1], 1, { alpha: 1, seed: 1 })).toThrow(/labels\[1\] = -1/);
  });
});

describe('iidPartition', () => {
  it('deals a shuffle into sizes that differ by at most one', () => {
    const clients = iidPartition(103, 10, 4);
    expectExactCover(clients, 103);
    expect(clients.map((c) => c.length)).toEqual([11, 11, 11, 10, 10, 10, 10, 10, 10, 10]);
    expect(meanLabelEntropy(iidPartition(2000, 20, 4), labels)).toBeGreaterThan(2.2);
  });

  it('is deterministic and validates', () => {
    expect(iidPartition(50, 4, 'k')).toEqual(iidPartition(50, 4, 'k'));
    expect(iidPartition(50, 4, 'k')).not.toEqual(iidPartition(50, 4, 'l'));
    expect(() => iidPartition(3, 4, 0)).toThrow(/3 examples cannot give each of 4 clients one/);
  });
});

describe('groupPartition', () => {
  const groups = Array.from({ length: 300 }, (_, i) => `doc${(i * 7) % 23}`); // 23 documents
  it('gives each client whole groups and covers every example once', () => {
    const clients = groupPartition(groups, 5, 9);
    expectExactCover(clients, groups.length);
    const owner = new Map<string, number>();
    clients.forEach((client, k) => {
      for (const i of client) {
        const key = groups[i]!;
        expect(owner.get(key) ?? k).toBe(k);
        owner.set(key, k);
      }
    });
    // Largest-first placement keeps sizes close: 300 / 5 = 60 each, groups of 13 or 14.
    for (const client of clients) expect(Math.abs(client.length - 60)).toBeLessThanOrEqual(14);
  });

  it('is deterministic and validates', () => {
    expect(groupPartition(groups, 5, 'g')).toEqual(groupPartition(groups, 5, 'g'));
    expect(() => groupPartition(['a', 'b'], 3, 0)).toThrow(/2 groups cannot give each of 3 clients one/);
    expect(() => groupPartition(['a', Number.NaN], 1, 0)).toThrow(/groups\[1\]/);
  });
});

describe('assignBudgets', () => {
  const count = (budgets: number[], level: number) => budgets.filter((b) => b === level).length;

  it('assigns the levels in exact proportions up to rounding', () => {
    const budgets = assignBudgets(30, [1, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3], 1);
    expect([count(budgets, 1), count(budgets, 0.5), count(budgets, 0.25)]).toEqual([10, 10, 10]);
    const odd = assignBudgets(10, [1, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3], 1);
    expect([count(odd, 1), count(odd, 0.5), count(odd, 0.25)]).toEqual([4, 3, 3]);
    const skewed = assignBudgets(10, [1, 0.1], [0.3, 0.7], 1);
    expect([count(skewed, 1), count(skewed, 0.1)]).toEqual([3, 7]);
    for (const n of [1, 7, 50, 101]) {
      const b = assignBudgets(n, [1, 0.5, 0.25], [0.5, 0.3, 0.2], 2);
      expect(b).toHaveLength(n);
      [0.5, 0.3, 0.2].forEach((p, i) =>
        expect(Math.abs(count(b, [1, 0.5, 0.25][i]!) - p * n)).toBeLessThan(1),
      );
    }
  });

  it('shuffles who gets which level, deterministically', () => {
    const a = assignBudgets(30, undefined, undefined, 'a');
    expect(assignBudgets(30, undefined, undefined, 'a')).toEqual(a);
    expect(assignBudgets(30, undefined, undefined, 'b')).not.toEqual(a);
    expect(a.slice(0, 10)).not.toEqual(new Array(10).fill(1));
  });

  it('validates levels and proportions', () => {
    expect(() => assignBudgets(10, [1, 1.5], [0.5, 0.5])).toThrow(/budget must be a number in \(0, 1\]/);
    expect(() => assignBudgets(10, [1, 0.5], [0.5, 0.6])).toThrow(/sum to 1.1/);
    expect(() => assignBudgets(10, [1, 0.5], [1])).toThrow(/1 proportions for 2 levels/);
    expect(() => assignBudgets(0)).toThrow(/nClients/);
  });
});
