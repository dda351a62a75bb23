import type { FactorSet, ModelPayload, PayloadAdapters, RowMask } from '../codec/model-payload';
import { lowRankProduct } from '../linalg/low-rank';
import { PROTOCOL_VERSION } from '../update';
import type { DenseTensor, HeadParams } from '../update';

/** Small pieces every strategy's offers and summaries are made of. Payload buffers are shared: read-only. */

export function payload(
  round: number,
  adapters: PayloadAdapters,
  head: HeadParams,
  preMasks: ReadonlyMap<string, RowMask> = new Map(),
  dense: ReadonlyMap<string, DenseTensor> = new Map(),
): ModelPayload {
  return { protocolVersion: PROTOCOL_VERSION, round, adapters, preMasks, head, dense };
}

export function mixturePayload(round: number, factors: FactorSet, head: HeadParams): ModelPayload {
  return payload(round, { kind: 'mixture', factors }, head);
}

/** Strategies without clusters report every participant in the single cluster. */
export function singleCluster(participants: readonly string[]): Map<string, Float64Array> {
  return new Map(participants.map((id) => [id, Float64Array.of(1)]));
}

/** Dense [dOut, dIn] products of a factor set, for the summary's global evaluation. */
export function factorDeltas(factors: FactorSet): Map<string, Float32Array> {
  return new Map([...factors].map(([name, f]) => [name, lowRankProduct(f)]));
}
