import { validateRows } from '../masks';
import type { ClientUpdate, HeadParams, MaskedFactors } from '../update';
import { assertSeed } from './points';
import { GaussianProjection, RankOneSketch } from './projection';

/** What a client's clustering features are made of. */
export type FeatureSource = 'head' | 'adapters';

export interface ClientFeatureOptions {
  /**
   * 'head' (default, as the authors): the trained classification head, kernel then bias. 'adapters' (fallback):
   * the adapter deltas scale * B_full A of every adapted weight, ordered by name.
   */
  readonly source?: FeatureSource;
  /** Features longer than this are randomly projected down to exactly this many. Default 256. */
  readonly maxDim?: number;
  /** Seeds the projection; every client of a federation must use the same seed. Default 0. */
  readonly seed?: number | string;
}

function checkFactors(name: string, f: MaskedFactors): void {
  const { dOut, dIn, rank } = f;
  for (const [value, label] of [
    [dOut, 'dOut'],
    [dIn, 'dIn'],
    [rank, 'rank'],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`adapter ${name}: ${label} must be a positive integer`);
  }
  validateRows(f.rows, dOut, `adapter ${name} rows`);
  if (f.A.length !== rank * dIn)
    throw new Error(`adapter ${name}: A has ${f.A.length} values, expected ${rank * dIn}`);
  const expectedB = f.rows.length * rank;
  if (f.B.length !== expectedB)
    throw new Error(`adapter ${name}: B has ${f.B.length} values, expected ${expectedB}`);
  if (!Number.isFinite(f.scale)) throw new Error(`adapter ${name}: scale must be finite`);
}

function flattenHead(head: HeadParams): Float64Array {
  const expected = head.embeddingSize * head.numClasses;
  if (head.kernel.length !== expected || head.bias.length !== head.numClasses) {
    throw new Error(`head kernel/bias sizes do not match [${head.embeddingSize}, ${head.numClasses}]`);
  }
  const out = new Float64Array(expected + head.numClasses);
  out.set(head.kernel);
  out.set(head.bias, expected);
  return out;
}

/** scale * B_full A flattened row-major, rows not kept being 0. */
function denseDelta(f: MaskedFactors): Float64Array {
  const out = new Float64Array(f.dOut * f.dIn);
  f.rows.forEach((row, k) => {
    for (let p = 0; p < f.rank; p++) {
      const b = f.scale * f.B[k * f.rank + p]!;
      if (b === 0) continue;
      for (let j = 0; j < f.dIn; j++) out[row * f.dIn + j]! += b * f.A[p * f.dIn + j]!;
    }
  });
  return out;
}

/**
 * Turns client updates into clustering features. Keeps its projections, so a server builds one and reuses it
 * every round (a head projection is inputDim x maxDim numbers).
 */
export class FeatureExtractor {
  private readonly source: FeatureSource;
  private readonly maxDim: number;
  private readonly seed: number | string;
  private readonly projections = new Map<number, GaussianProjection>();
  private readonly sketches = new Map<string, RankOneSketch>();

  constructor(options: ClientFeatureOptions = {}) {
    this.source = options.source ?? 'head';
    if (this.source !== 'head' && this.source !== 'adapters') {
      throw new Error(`source must be 'head' or 'adapters', got ${String(this.source)}`);
    }
    this.maxDim = options.maxDim ?? 256;
    if (!Number.isInteger(this.maxDim) || this.maxDim < 1) {
      throw new Error(`maxDim must be a positive integer, got ${this.maxDim}`);
    }
    this.seed = options.seed ?? 0;
    assertSeed(this.seed);
  }

  extract(update: ClientUpdate): Float64Array {
    const features = this.source === 'head' ? this.headFeatures(update.head) : this.adapterFeatures(update);
    features.forEach((value, i) => {
      if (!Number.isFinite(value)) throw new Error(`client ${update.clientId}: feature ${i} is not finite`);
    });
    return features;
  }

  private headFeatures(head: HeadParams): Float64Array {
    const flat = flattenHead(head);
    if (flat.length <= this.maxDim) return flat;
    let projection = this.projections.get(flat.length);
    if (projection === undefined) {
      projection = new GaussianProjection(flat.length, this.maxDim, `${this.seed}:head`);
      this.projections.set(flat.length, projection);
    }
    return projection.apply(flat);
  }

  /**
   * Small deltas are flattened exactly; larger ones are sketched weight by weight (RankOneSketch) and summed,
   * which sketches their concatenation: a weight a client did not send contributes zero.
   */
  private adapterFeatures(update: ClientUpdate): Float64Array {
    const names = [...update.adapters.keys()].sort();
    if (names.length === 0)
      throw new Error(`client ${update.clientId}: update has no adapters to take features from`);
    let total = 0;
    for (const name of names) {
      const factors = update.adapters.get(name)!;
      checkFactors(name, factors);
      total += factors.dOut * factors.dIn;
    }
    if (total <= this.maxDim) {
      const out = new Float64Array(total);
      let offset = 0;
      for (const name of names) {
        const delta = denseDelta(update.adapters.get(name)!);
        out.set(delta, offset);
        offset += delta.length;
      }
      return out;
    }
    const out = new Float64Array(this.maxDim);
    for (const name of names) {
      const f = update.adapters.get(name)!;
      const key = `${name}:${f.dOut}x${f.dIn}`;
      let sketch = this.sketches.get(key);
      if (sketch === undefined) {
        sketch = new RankOneSketch(f.dOut, f.dIn, this.maxDim, `${this.seed}:${name}`);
        this.sketches.set(key, sketch);
      }
      sketch.addFactors(out, f.rows, f.B, f.A, f.rank, f.scale);
    }
    return out;
  }
}

/** Clustering features of one update (see FeatureExtractor; build one extractor to reuse its projections). */
export function clientFeatures(update: ClientUpdate, options: ClientFeatureOptions = {}): Float64Array {
  return new FeatureExtractor(options).extract(update);
}
