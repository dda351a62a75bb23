import { seededRandom, type DecodeLimits, type ModelSchema } from '@fedhft/core';

/** Round helpers the simulator and the socket.io coordinator share, so both decode and select alike. */

/** Limits that accept exactly this run's model: names and shapes pinned, sizes generous. */
export function decodeLimits(schema: ModelSchema): DecodeLimits {
  const dims = [
    ...schema.adapted.flatMap((w) => [w.dOut, w.dIn]),
    ...schema.dense.flatMap((w) => w.shape),
    schema.embeddingSize,
  ];
  return {
    maxBytes: 2 ** 31,
    maxWeights: Math.max(512, schema.adapted.length, schema.dense.length),
    maxDim: Math.max(8192, ...dims),
    // FLoRA's stacked download grows by the participants' ranks every round.
    maxRank: 2 ** 20,
    expected: new Map(schema.adapted.map(({ name, dOut, dIn }) => [name, { dOut, dIn }])),
    expectedDense: new Map(schema.dense.map(({ name, shape }) => [name, shape])),
    expectedHead: { embeddingSize: schema.embeddingSize, numClasses: schema.numClasses },
  };
}

/**
 * ceil-free selection: round(participation x clients), at least one, drawn by a seeded shuffle per round.
 * `stream` names the random stream ('simulate' for the simulator, whose runs it keeps reproducible).
 */
export function selectClients(
  ids: readonly string[],
  participation: number,
  seed: number,
  round: number,
  stream = 'simulate',
): string[] {
  const count = Math.max(1, Math.round(participation * ids.length));
  if (count >= ids.length) return [...ids];
  const random = seededRandom(`${stream}:select:${seed}:${round}`);
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, count).sort();
}
