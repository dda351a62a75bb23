import { isMap, validateDenseTensor, validateHead, validateMaskedFactors } from '../aggregation/validate';
import type { ClientUpdate } from '../update';
import type { ModelSchema } from './strategy';

/**
 * Upload checks against the schema and what the client was offered, run before anything is folded in: names,
 * dims, rows and ranks here, values (lengths, finiteness, row order) through the aggregators' validators.
 */

/** What one adapted weight's upload must look like. */
export interface AdapterExpectation {
  readonly rank: number;
  /**
   * 'all': every row (unmasked strategies); an Int32Array: a subset of these rows (pre-masks); a number: at
   * most this many rows (post-masks).
   */
  readonly rows: 'all' | Int32Array | number;
  /** The scale the client had to keep (factor-averaging strategies); absent: any finite positive scale. */
  readonly scale?: number;
}

const SCALE_TOLERANCE = 1e-6;

function who(update: ClientUpdate): string {
  return `update from "${update.clientId}"`;
}

function checkHead(update: ClientUpdate, schema: ModelSchema): void {
  validateHead(update.head, `${who(update)}: head`, schema);
}

function isSubset(rows: Int32Array, allowed: Int32Array): boolean {
  let j = 0;
  for (const row of rows) {
    while (j < allowed.length && allowed[j]! < row) j++;
    if (allowed[j] !== row) return false;
  }
  return true;
}

/** LoRA uploads: exactly the schema's adapted weights, no dense tensors, a head of the schema's size. */
export function checkAdapterUpload(
  update: ClientUpdate,
  schema: ModelSchema,
  expectation: (name: string) => AdapterExpectation,
): void {
  const label = who(update);
  if (!isMap(update.adapters)) throw new Error(`${label}: adapters must be a Map`);
  if (!isMap(update.dense) || update.dense.size > 0)
    throw new Error(`${label}: LoRA strategies take no dense tensors`);
  for (const name of update.adapters.keys()) {
    if (!schema.adapted.some((w) => w.name === name))
      throw new Error(`${label} has unknown adapted weight "${name}"`);
  }
  for (const { name, dOut, dIn } of schema.adapted) {
    const factors = update.adapters.get(name);
    const where = `${label}: "${name}"`;
    if (factors === undefined) throw new Error(`${label} lacks adapted weight "${name}"`);
    validateMaskedFactors(factors, dOut, dIn, where);
    const expected = expectation(name);
    if (factors.rank !== expected.rank)
      throw new Error(`${where} has rank ${factors.rank}, expected ${expected.rank}`);
    if (!(factors.scale > 0)) throw new Error(`${where}: scale must be positive, got ${factors.scale}`);
    if (
      expected.scale !== undefined &&
      Math.abs(factors.scale - expected.scale) > SCALE_TOLERANCE * expected.scale
    ) {
      throw new Error(`${where} has scale ${factors.scale}, the offer fixed ${expected.scale}`);
    }
    const { rows } = expected;
    if (rows === 'all' && factors.rows.length !== dOut) {
      throw new Error(
        `${where} sends ${factors.rows.length} of ${dOut} rows; this strategy needs all of them`,
      );
    }
    if (typeof rows === 'number' && factors.rows.length > rows) {
      throw new Error(`${where} sends ${factors.rows.length} rows, its budget allows ${rows}`);
    }
    if (rows instanceof Int32Array && !isSubset(factors.rows, rows)) {
      throw new Error(`${where} sends rows outside its pre-mask`);
    }
  }
  checkHead(update, schema);
}

/** Full fine-tuning uploads: exactly the schema's dense weights with their shapes, no adapters. */
export function checkDenseUpload(update: ClientUpdate, schema: ModelSchema): void {
  const label = who(update);
  if (!isMap(update.dense)) throw new Error(`${label}: dense must be a Map`);
  if (!isMap(update.adapters) || update.adapters.size > 0) {
    throw new Error(`${label}: full fine-tuning takes no adapters`);
  }
  for (const name of update.dense.keys()) {
    if (!schema.dense.some((w) => w.name === name))
      throw new Error(`${label} has unknown dense weight "${name}"`);
  }
  for (const { name, shape } of schema.dense) {
    const tensor = update.dense.get(name);
    const where = `${label}: "${name}"`;
    if (tensor === undefined) throw new Error(`${label} lacks dense weight "${name}"`);
    validateDenseTensor(tensor, where);
    if (tensor.shape.length !== shape.length || tensor.shape.some((dim, i) => dim !== shape[i])) {
      throw new Error(`${where} has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
  checkHead(update, schema);
}
