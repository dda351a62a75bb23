/** Seeded sampling primitives behind the partitioners, all driven by one uniform generator in [0, 1). */

/** A uniformly random permutation of 0..count-1 (Fisher-Yates). */
export function permutation(count: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const held = order[i]!;
    order[i] = order[j]!;
    order[j] = held;
  }
  return order;
}

/**
 * log of a Gamma(shape, 1) sample: Marsaglia and Tsang (2000) for shape >= 1; for shape < 1 the boost
 * Gamma(a) = Gamma(a + 1) U^(1/a), kept in log space because U^(1/a) underflows to 0 for small a (alpha = 0.01
 * would otherwise give Dirichlet weights of 0/0).
 */
export function sampleLogGamma(shape: number, random: () => number, normal: () => number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new Error(`gamma shape must be positive, got ${shape}`);
  if (shape < 1) {
    const u = 1 - random(); // (0, 1]
    return sampleLogGamma(shape + 1, random, normal) + Math.log(u) / shape;
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal();
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - random();
    // Squeeze first (cheap), then the exact log test.
    if (u < 1 - 0.0331 * x ** 4) return Math.log(d * v);
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
  }
}

/** A Gamma(shape, 1) sample (Marsaglia-Tsang). */
export function sampleGamma(shape: number, random: () => number, normal: () => number): number {
  return Math.exp(sampleLogGamma(shape, random, normal));
}

/** A Dirichlet(alpha) sample from normalised Gamma draws, normalised in log space. */
export function sampleDirichlet(
  alpha: readonly number[],
  random: () => number,
  normal: () => number,
): Float64Array {
  if (alpha.length === 0) throw new Error('Dirichlet needs at least one concentration');
  const logs = alpha.map((a) => sampleLogGamma(a, random, normal));
  const max = Math.max(...logs);
  const weights = Float64Array.from(logs, (l) => Math.exp(l - max));
  const total = weights.reduce((s, w) => s + w, 0);
  return weights.map((w) => w / total);
}
