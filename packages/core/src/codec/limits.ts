import { CodecError } from './errors';

/**
 * What a decoder accepts. The numeric caps bound the work and memory a hostile message can cause; the optional
 * schema pins names and shapes to the model actually being trained.
 */
export interface DecodeLimits {
  /** Checked against the byte length before any parsing. */
  readonly maxBytes: number;
  /** Adapted weights per factor set, and dense tensors, each (default 512). */
  readonly maxWeights?: number;
  /** Any dOut, dIn or dense dimension (default 8192). */
  readonly maxDim?: number;
  /** LoRA rank (default 512). */
  readonly maxRank?: number;
  /** Head classes (default 4096). */
  readonly maxClasses?: number;
  /** Head embedding size (default 8192). */
  readonly maxEmbedding?: number;
  /** Clusters in an exact-mixture model payload (default 64). */
  readonly maxClusters?: number;
  /** Adapted weights allowed, with their dims; a name outside it is refused. Weights may be omitted. */
  readonly expected?: ReadonlyMap<string, { readonly dOut: number; readonly dIn: number }>;
  /** Dense tensors allowed, with their shapes. */
  readonly expectedDense?: ReadonlyMap<string, readonly number[]>;
  readonly expectedHead?: { readonly embeddingSize: number; readonly numClasses: number };
}

export type ResolvedLimits = Required<Omit<DecodeLimits, 'expected' | 'expectedDense' | 'expectedHead'>> &
  Pick<DecodeLimits, 'expected' | 'expectedDense' | 'expectedHead'>;

export const DEFAULT_DECODE_LIMITS = {
  maxWeights: 512,
  maxDim: 8192,
  maxRank: 512,
  maxClasses: 4096,
  maxEmbedding: 8192,
  maxClusters: 64,
} as const;

export function resolveLimits(limits: DecodeLimits): ResolvedLimits {
  const resolved: ResolvedLimits = {
    maxBytes: limits.maxBytes,
    maxWeights: limits.maxWeights ?? DEFAULT_DECODE_LIMITS.maxWeights,
    maxDim: limits.maxDim ?? DEFAULT_DECODE_LIMITS.maxDim,
    maxRank: limits.maxRank ?? DEFAULT_DECODE_LIMITS.maxRank,
    maxClasses: limits.maxClasses ?? DEFAULT_DECODE_LIMITS.maxClasses,
    maxEmbedding: limits.maxEmbedding ?? DEFAULT_DECODE_LIMITS.maxEmbedding,
    maxClusters: limits.maxClusters ?? DEFAULT_DECODE_LIMITS.maxClusters,
    expected: limits.expected,
    expectedDense: limits.expectedDense,
    expectedHead: limits.expectedHead,
  };
  for (const [key, value] of Object.entries(resolved)) {
    if (key.startsWith('max') && !(typeof value === 'number' && value >= 0)) {
      throw new CodecError('input', `limits.${key} must be a non-negative number, got ${String(value)}`);
    }
  }
  return resolved;
}

type WeightDims = { readonly dOut: number; readonly dIn: number };

/** The schema's dims for an adapted weight (undefined without a schema); refuses a name outside it. */
export function expectedWeight(limits: ResolvedLimits, name: string, label: string): WeightDims | undefined {
  if (!limits.expected) return undefined;
  const dims = limits.expected.get(name);
  if (!dims) throw new CodecError('name', `${label} is not an expected adapted weight`);
  return dims;
}

export function checkWeightDims(
  expected: WeightDims | undefined,
  dOut: number,
  dIn: number,
  label: string,
): void {
  if (expected && (expected.dOut !== dOut || expected.dIn !== dIn)) {
    throw new CodecError('shape', `${label} is ${dOut}x${dIn}, expected ${expected.dOut}x${expected.dIn}`);
  }
}
