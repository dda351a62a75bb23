import { gaussianFrom, seededRandom } from '../random';
import { permutation, sampleDirichlet } from './sampling';
import { checkSeed, nonNegativeInt, positiveInt, sortedClients } from './validate';

export interface DirichletPartitionOptions {
  /** Concentration: small (0.1) gives each client few labels, large (100) is close to IID. */
  readonly alpha: number;
  readonly seed: number | string;
  /** Fewest examples any client may get. Default 1. */
  readonly minSize?: number;
  /** Full draws tried before rebalancing the best one. Default 100. */
  readonly maxDraws?: number;
}

/** One draw: every class's examples split among the clients by its own Dirichlet(alpha) proportions. */
function draw(
  byClass: readonly number[][],
  nClients: number,
  alpha: number,
  random: () => number,
  normal: () => number,
): number[][] {
  const clients: number[][] = Array.from({ length: nClients }, () => []);
  const concentration = new Array<number>(nClients).fill(alpha);
  for (const members of byClass) {
    const order = permutation(members.length, random);
    const shares = sampleDirichlet(concentration, random, normal);
    // Cut points from rounded cumulative shares: the parts always add up to the class size.
    let cumulative = 0;
    let start = 0;
    shares.forEach((share, k) => {
      cumulative += share;
      const end = k === nClients - 1 ? members.length : Math.round(cumulative * members.length);
      for (let i = start; i < end; i++) clients[k]!.push(members[order[i]!]!);
      start = Math.max(start, end);
    });
  }
  return clients;
}

/**
 * Moves random examples from the largest client to the smallest until every client holds minSize: exactly the
 * shortfall is moved, so the label skew of the draw is disturbed as little as possible.
 */
function rebalance(clients: number[][], minSize: number, random: () => number): void {
  for (;;) {
    let smallest = 0;
    let largest = 0;
    clients.forEach((c, k) => {
      if (c.length < clients[smallest]!.length) smallest = k;
      if (c.length > clients[largest]!.length) largest = k;
    });
    if (clients[smallest]!.length >= minSize) return;
    const donor = clients[largest]!;
    const pick = Math.floor(random() * donor.length);
    clients[smallest]!.push(donor[pick]!);
    donor[pick] = donor[donor.length - 1]!;
    donor.pop();
  }
}

/**
 * Label-skewed partition of example indices (Hsu et al. 2019): for each class, proportions over the clients are
 * drawn from a symmetric Dirichlet(alpha) and that class's shuffled examples are cut accordingly. A draw that
 * leaves a client below minSize is redrawn (up to maxDraws, which keeps the Dirichlet law exact); if every draw
 * fails, the best one (largest smallest client) is rebalanced by moving random examples from the largest
 * client. Each client's indices ascend.
 */
export function dirichletLabelPartition(
  labels: ArrayLike<number>,
  nClients: number,
  options: DirichletPartitionOptions,
): Int32Array[] {
  positiveInt(nClients, 'nClients');
  const { alpha, seed } = options;
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) {
    throw new Error(`alpha must be a positive finite number, got ${alpha}`);
  }
  checkSeed(seed);
  const minSize = nonNegativeInt(options.minSize ?? 1, 'minSize');
  const maxDraws = positiveInt(options.maxDraws ?? 100, 'maxDraws');
  if (labels.length < nClients * minSize) {
    throw new Error(`${labels.length} examples cannot give ${nClients} clients ${minSize} each`);
  }
  const classes = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0) throw new Error(`labels[${i}] = ${label} is not a class id`);
    const members = classes.get(label);
    if (members) members.push(i);
    else classes.set(label, [i]);
  }
  const byClass = [...classes.keys()].sort((a, b) => a - b).map((label) => classes.get(label)!);
  const random = seededRandom(`dirichlet:${seed}`);
  const normal = gaussianFrom(random);
  let best: number[][] | null = null;
  let bestSmallest = -1;
  for (let attempt = 0; attempt < maxDraws; attempt++) {
    const clients = draw(byClass, nClients, alpha, random, normal);
    const smallest = Math.min(...clients.map((c) => c.length));
    if (smallest >= minSize) return sortedClients(clients);
    if (smallest > bestSmallest) {
      best = clients;
      bestSmallest = smallest;
    }
  }
  rebalance(best!, minSize, random);
  return sortedClients(best!);
}
