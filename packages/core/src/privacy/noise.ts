import { gaussianFrom } from '../random';

/**
 * Gaussian mechanism, as in DP-FedAvg (McMahan et al. 2018). The guarantee the accountant reports holds for this
 * recipe only:
 * 1. clip every participant's whole update to L2 norm S (clipUpdate / clipBlocks);
 * 2. sum them with fixed weights in [0, 1] (a client's removal then moves the sum by at most S);
 * 3. add N(0, (sigma S)^2) to EVERY coordinate of the sum: all dOut rows of each weight, also rows no client
 *    covered, since which rows are covered depends on the clients' data;
 * 4. divide by a data-independent count (the expected number of participants, q N), not by the realised
 *    coverage or membership mass, whose change with one client would break the sensitivity bound.
 * Clients must be sampled independently with probability q each round (Poisson sampling).
 */

/** Standard deviation of the noise on the clipped sum: noiseMultiplier * clipBound. */
export function gaussianNoiseStd(noiseMultiplier: number, clipBound: number): number {
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new Error(`noiseMultiplier must be a non-negative number, got ${noiseMultiplier}`);
  }
  if (!(clipBound > 0) || !Number.isFinite(clipBound)) {
    throw new Error(`clipBound must be a positive number, got ${clipBound}`);
  }
  return noiseMultiplier * clipBound;
}

/**
 * A copy of `values` with independent N(0, std^2) noise on every entry. `random` is a uniform [0, 1) source:
 * seededRandom(seed) for reproducible simulations; a deployment must pass an unpredictable source instead
 * (mulberry32 is not cryptographic, and noise whose seed is known can be subtracted).
 */
export function addGaussianNoise(values: Float32Array, std: number, random: () => number): Float32Array {
  if (!(std >= 0) || !Number.isFinite(std)) throw new Error(`std must be a non-negative number, got ${std}`);
  const normal = gaussianFrom(random);
  return values.map((v) => v + std * normal());
}

/**
 * Uniform [0, 1) numbers from crypto.getRandomValues (browsers, workers, Node >= 19): the noise source for
 * deployments, where a known seed would let anyone subtract the noise. 53 random bits per number, drawn in
 * batches.
 */
export function secureRandom(): () => number {
  const crypto = globalThis.crypto;
  if (crypto === undefined || typeof crypto.getRandomValues !== 'function') {
    throw new Error(
      'secureRandom needs crypto.getRandomValues, which this runtime lacks: pass a seeded source',
    );
  }
  const batch = new Uint32Array(2048);
  let next = batch.length;
  return () => {
    if (next >= batch.length) {
      crypto.getRandomValues(batch);
      next = 0;
    }
    const high = batch[next++]! >>> 5; // 27 bits
    const low = batch[next++]! >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  };
}
