import type { ClusterPartial } from '../aggregation/cluster-aggregator';
import { decodeFloat32, decodeFloat64, encodeArray, integerField, record } from './state-codec';
import type { ModelSchema } from './strategy';

/**
 * A share of one open round as plain JSON (typed arrays as base64), for rounds split over several coordinator
 * processes: each process folds the updates it received into its own accumulators, the leading one merges the
 * others' shares before it closes the round. Decoding checks every field against the strategy's schema: a
 * share crosses a process boundary.
 */

export interface ClusterPartialJson {
  readonly clusters: number;
  readonly clientIds: string[];
  readonly states: {
    readonly numerators: Record<string, string>;
    readonly normalizers: Record<string, string>;
    readonly head: {
      readonly kernel: string;
      readonly bias: string;
      readonly weight: number;
      readonly count: number;
    } | null;
    readonly weight: number;
  }[];
}

export function encodeClusterPartial(partial: ClusterPartial): ClusterPartialJson {
  return {
    clusters: partial.clusters,
    clientIds: [...partial.clientIds],
    states: partial.states.map((state) => {
      const sums = new Map(state.head.mean.sums.map(({ name, sum }) => [name, sum]));
      const kernel = sums.get('kernel');
      const bias = sums.get('bias');
      return {
        numerators: Object.fromEntries([...state.numerators].map(([name, sum]) => [name, encodeArray(sum)])),
        normalizers: Object.fromEntries([...state.normalizers].map(([name, n]) => [name, encodeArray(n)])),
        head:
          kernel === undefined || bias === undefined
            ? null
            : {
                kernel: encodeArray(kernel),
                bias: encodeArray(bias),
                weight: state.head.mean.weight,
                count: state.head.mean.count,
              },
        weight: state.weight,
      };
    }),
  };
}

function finiteNonNegative(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`round partial: ${label} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/** The inverse of encodeClusterPartial, checked against `schema` and `clusters`. */
export function decodeClusterPartial(value: unknown, schema: ModelSchema, clusters: number): ClusterPartial {
  const json = record(value, 'round partial');
  if (json.clusters !== clusters) {
    throw new Error(`round partial: ${String(json.clusters)} clusters, expected ${clusters}`);
  }
  const clientIds = json.clientIds;
  if (!Array.isArray(clientIds) || clientIds.some((id) => typeof id !== 'string' || id === '')) {
    throw new Error('round partial: clientIds must be an array of client ids');
  }
  if (new Set(clientIds).size !== clientIds.length) throw new Error('round partial: duplicate client ids');
  if (!Array.isArray(json.states) || json.states.length !== clusters) {
    throw new Error(`round partial: states must be an array of ${clusters}`);
  }
  const empty = clientIds.length === 0;
  const { embeddingSize, numClasses } = schema;
  const states = json.states.map((raw: unknown, j) => {
    const state = record(raw, `states[${j}]`);
    const numerators = record(state.numerators, `states[${j}].numerators`);
    const normalizers = record(state.normalizers, `states[${j}].normalizers`);
    const head = state.head === null ? null : record(state.head, `states[${j}].head`);
    if (!empty && head === null) throw new Error(`round partial: states[${j}].head is missing`);
    return {
      numerators: new Map(
        empty
          ? []
          : schema.adapted.map(({ name, dOut, dIn }) => [
              name,
              decodeFloat32(numerators[name], dOut * dIn, `states[${j}].numerators "${name}"`),
            ]),
      ),
      normalizers: new Map(
        empty
          ? []
          : schema.adapted.map(({ name, dOut }) => [
              name,
              decodeFloat64(normalizers[name], dOut, `states[${j}].normalizers "${name}"`),
            ]),
      ),
      head: {
        size: head === null ? null : { embeddingSize, numClasses },
        mean: {
          sums:
            head === null
              ? []
              : [
                  {
                    name: 'kernel',
                    shape: [embeddingSize, numClasses],
                    sum: decodeFloat32(head.kernel, embeddingSize * numClasses, `states[${j}].head.kernel`),
                  },
                  {
                    name: 'bias',
                    shape: [numClasses],
                    sum: decodeFloat32(head.bias, numClasses, `states[${j}].head.bias`),
                  },
                ],
          weight: head === null ? 0 : finiteNonNegative(head.weight, `states[${j}].head.weight`),
          count: head === null ? 0 : integerField(head.count, `states[${j}].head.count`),
        },
      },
      weight: finiteNonNegative(state.weight, `states[${j}].weight`),
    };
  });
  return {
    clusters,
    clientIds,
    weights: empty ? [] : schema.adapted.map(({ name, dOut, dIn }) => ({ name, dOut, dIn })),
    states,
  };
}

/** What one process of a split round folded: its clients, sums and the per-client data the close needs. */
export interface RoundShare {
  readonly round: number;
  /** Clients whose update this process folded, in arrival order. */
  readonly received: readonly string[];
  readonly aggregator: ClusterPartial | null;
  /** Clustering features per received client (FedHFT with K_c > 1). */
  readonly features: readonly { readonly clientId: string; readonly features: Float64Array }[];
  /** Row importance of each received client's upload (pre-masks by importance). */
  readonly importance: ReadonlyMap<string, ReadonlyMap<string, Float32Array>>;
  readonly clipFactors: readonly number[];
  readonly boundFactors: readonly number[];
}

export function encodeRoundShare(share: RoundShare): unknown {
  return {
    round: share.round,
    received: [...share.received],
    aggregator: share.aggregator === null ? null : encodeClusterPartial(share.aggregator),
    features: share.features.map(({ clientId, features }) => ({ clientId, features: encodeArray(features) })),
    importance: Object.fromEntries(
      [...share.importance].map(([id, weights]) => [
        id,
        Object.fromEntries([...weights].map(([name, v]) => [name, encodeArray(v)])),
      ]),
    ),
    clipFactors: [...share.clipFactors],
    boundFactors: [...share.boundFactors],
  };
}

function factors(value: unknown, label: string): number[] {
  if (!Array.isArray(value)) throw new Error(`round partial: ${label} must be an array`);
  return value.map((v, i) => finiteNonNegative(v, `${label}[${i}]`));
}

/** How many float64 a base64 string holds (its exact length is checked on decoding). */
function float64Count(text: unknown): number {
  try {
    return typeof text === 'string' ? Math.floor(atob(text).length / 8) : 0;
  } catch {
    return 0;
  }
}

/** The inverse of encodeRoundShare, checked against `schema` and `clusters`. */
export function decodeRoundShare(
  value: unknown,
  schema: ModelSchema,
  clusters: number,
  takesFeatures: boolean,
): RoundShare {
  const json = record(value, 'round partial');
  const round = integerField(json.round, 'round');
  const aggregator =
    json.aggregator === null ? null : decodeClusterPartial(json.aggregator, schema, clusters);
  const received = aggregator?.clientIds ?? [];
  const listed = json.received;
  if (
    !Array.isArray(listed) ||
    listed.length !== received.length ||
    listed.some((id, i) => id !== received[i])
  ) {
    throw new Error('round partial: received must list the clients of its sums, in order');
  }
  const rawFeatures = json.features;
  if (!Array.isArray(rawFeatures)) throw new Error('round partial: features must be an array');
  const features = rawFeatures.map((raw: unknown, i) => {
    const entry = record(raw, `features[${i}]`);
    const clientId = entry.clientId;
    if (typeof clientId !== 'string' || !received.includes(clientId)) {
      throw new Error(`round partial: features[${i}] names a client not in the share`);
    }
    if (!takesFeatures) throw new Error('round partial: this strategy takes no clustering features');
    return {
      clientId,
      features: decodeFloat64(entry.features, float64Count(entry.features), `features[${i}]`),
    };
  });
  const importance = new Map<string, Map<string, Float32Array>>();
  for (const [id, raw] of Object.entries(record(json.importance, 'importance'))) {
    if (!received.includes(id)) throw new Error(`round partial: importance of "${id}", not in the share`);
    const saved = record(raw, `importance "${id}"`);
    importance.set(
      id,
      new Map(
        schema.adapted.map(({ name, dOut }) => [
          name,
          decodeFloat32(saved[name], dOut, `importance "${id}" "${name}"`),
        ]),
      ),
    );
  }
  if (new Set(features.map((f) => f.features.length)).size > 1) {
    throw new Error('round partial: features differ in dimension');
  }
  return {
    round,
    received,
    aggregator,
    features,
    importance,
    clipFactors: factors(json.clipFactors, 'clipFactors'),
    boundFactors: factors(json.boundFactors, 'boundFactors'),
  };
}
