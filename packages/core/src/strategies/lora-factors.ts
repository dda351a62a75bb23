import type { LowRankFactors } from '../codec/model-payload';
import { seededRandom } from '../random';
import type { MaskedFactors } from '../update';
import type { Seed } from './options';
import type { ModelSchema } from './strategy';

/** Helpers for strategies whose state is LoRA factors (FedAvg-LoRA, HetLoRA, local-only). */

/**
 * A fresh rank-r LoRA per adapted weight as PEFT initialises it: A ~ U(-1/sqrt(dIn), 1/sqrt(dIn))
 * (kaiming_uniform with a = sqrt(5) on a [r, dIn] weight) and B = 0, so the starting delta is zero. Seeded by
 * weight name.
 */
export function initialLora(schema: ModelSchema, seed: Seed): Map<string, LowRankFactors> {
  const { rank, alpha } = schema;
  const factors = new Map<string, LowRankFactors>();
  for (const { name, dOut, dIn } of schema.adapted) {
    const random = seededRandom(`${seed}/lora-init/${name}`);
    const bound = 1 / Math.sqrt(dIn);
    const A = Float32Array.from({ length: rank * dIn }, () => (2 * random() - 1) * bound);
    factors.set(name, { dOut, dIn, rank, B: new Float32Array(dOut * rank), A, scale: alpha / rank });
  }
  return factors;
}

/** The first `rank` components: A[:rank, :] and B[:, :rank] (HetLoRA's sub-adapter of a smaller client). */
export function truncateFactors(factors: LowRankFactors, rank: number): LowRankFactors {
  if (rank === factors.rank) return factors;
  const { dOut, dIn } = factors;
  const B = new Float32Array(dOut * rank);
  for (let d = 0; d < dOut; d++)
    B.set(factors.B.subarray(d * factors.rank, d * factors.rank + rank), d * rank);
  return { ...factors, rank, B, A: factors.A.slice(0, rank * dIn) };
}

/**
 * An uploaded all-rows factor pair zero-padded to `rank` components: A [rank, dIn], B [dOut, rank]. Padding
 * with zeros leaves B A unchanged.
 */
export function padFactors(factors: MaskedFactors, rank: number): { A: Float32Array; B: Float32Array } {
  const { dOut, dIn, rank: own } = factors;
  const A = new Float32Array(rank * dIn);
  A.set(factors.A);
  const B = new Float32Array(dOut * rank);
  for (let d = 0; d < dOut; d++) B.set(factors.B.subarray(d * own, (d + 1) * own), d * rank);
  return { A, B };
}

/**
 * An upload's factors as full-size LoRA factors (uploads of unmasked strategies carry every row in order).
 */
export function uploadedFactors(factors: MaskedFactors): LowRankFactors {
  const { dOut, dIn, rank, scale } = factors;
  return { dOut, dIn, rank, scale, A: Float32Array.from(factors.A), B: Float32Array.from(factors.B) };
}
