import { gaussianFrom, seededRandom, type ClientUpdate, type MaskedFactors } from '@fedhft/core';

/**
 * Hostile clients for robustness experiments: a seeded share of the clients train honestly, then replace their
 * update before it is encoded. 'scale' multiplies the adapter factors B (the dense deltas of full fine-tuning)
 * and the head by `factor`; 'random' replaces them with Gaussian noise of standard deviation `factor` per
 * coordinate. A (the shared down-projection) is left as sent, so the update stays well-formed.
 */
export interface AttackConfig {
  /** Share of the clients that are hostile, in [0, 1): round(fraction x clients) of them. */
  readonly fraction: number;
  readonly kind: 'scale' | 'random';
  /** 'scale': the multiplier (default -10); 'random': the noise's standard deviation (default 1). */
  readonly factor?: number;
}

export const DEFAULT_SCALE_FACTOR = -10;
export const DEFAULT_NOISE_STD = 1;

/** The hostile clients: round(fraction x n) of them, drawn by a seeded shuffle (the same for a given seed). */
export function hostileClients(
  clientIds: readonly string[],
  attack: AttackConfig | undefined,
  seed: number,
): ReadonlySet<string> {
  if (attack === undefined || attack.fraction <= 0) return new Set();
  const count = Math.min(clientIds.length, Math.round(attack.fraction * clientIds.length));
  const random = seededRandom(`${seed}/attack`);
  const order = [...clientIds].sort();
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, count));
}

/** The hostile version of an honest update (a new object; the honest one is not modified). */
export function attackUpdate(
  update: ClientUpdate,
  attack: AttackConfig,
  seed: number,
  round: number,
): ClientUpdate {
  let transform: (values: Float32Array) => Float32Array;
  if (attack.kind === 'scale') {
    const factor = attack.factor ?? DEFAULT_SCALE_FACTOR;
    transform = (values) => values.map((v) => v * factor);
  } else {
    const std = attack.factor ?? DEFAULT_NOISE_STD;
    const normal = gaussianFrom(seededRandom(`${seed}/attack/${update.clientId}/${round}`));
    transform = (values) => values.map(() => std * normal());
  }
  const adapters = new Map<string, MaskedFactors>();
  for (const name of [...update.adapters.keys()].sort()) {
    const factors = update.adapters.get(name)!;
    adapters.set(name, { ...factors, B: transform(factors.B) });
  }
  const dense = new Map(
    [...update.dense.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, tensor]) => [name, { ...tensor, data: transform(tensor.data) }] as const),
  );
  const head = { ...update.head, kernel: transform(update.head.kernel), bias: transform(update.head.bias) };
  return { ...update, adapters, dense, head };
}
