import type { ModelSchema } from '../strategies/strategy';
import type { DecodeLimits } from './limits';

/**
 * Limits that accept exactly this run's model: names and shapes pinned, sizes generous. Shared by the simulator,
 * the coordinator and the browser client, so every side refuses the same messages.
 */
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
