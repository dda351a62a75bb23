import { validateHead } from '../aggregation/validate';
import type { HeadParams } from '../update';
import type { ModelSchema } from './strategy';

function positiveInt(value: unknown, label: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`schema: ${label} must be a positive integer, got ${String(value)}`);
  }
}

function uniqueNames(names: readonly unknown[], label: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string' || name === '')
      throw new Error(`schema: ${label} names must be non-empty strings`);
    if (seen.has(name)) throw new Error(`schema: ${label} "${name}" appears twice`);
    seen.add(name);
  }
}

/**
 * Checks a model schema and returns a plain copy of it (the strategy keeps the copy, so a caller mutating its
 * object later cannot change the strategy's view). `needs` says which part the strategy trains: LoRA
 * strategies need adapted weights, full fine-tuning needs dense weights.
 */
export function checkSchema(schema: ModelSchema, needs: 'adapted' | 'dense'): ModelSchema {
  if (schema === null || typeof schema !== 'object') throw new Error('schema must be an object');
  if (!Array.isArray(schema.adapted) || !Array.isArray(schema.dense)) {
    throw new Error('schema: adapted and dense must be arrays');
  }
  uniqueNames(
    schema.adapted.map((w) => w?.name),
    'adapted weight',
  );
  uniqueNames(
    schema.dense.map((w) => w?.name),
    'dense weight',
  );
  for (const { name, dOut, dIn } of schema.adapted) {
    positiveInt(dOut, `"${name}".dOut`);
    positiveInt(dIn, `"${name}".dIn`);
  }
  for (const { name, shape } of schema.dense) {
    if (!Array.isArray(shape) || shape.length === 0)
      throw new Error(`schema: "${name}".shape must be non-empty`);
    shape.forEach((dim, i) => positiveInt(dim, `"${name}".shape[${i}]`));
  }
  positiveInt(schema.embeddingSize, 'embeddingSize');
  positiveInt(schema.numClasses, 'numClasses');
  positiveInt(schema.rank, 'rank');
  if (typeof schema.alpha !== 'number' || !Number.isFinite(schema.alpha) || schema.alpha <= 0) {
    throw new Error(`schema: alpha must be a finite positive number, got ${String(schema.alpha)}`);
  }
  if (needs === 'adapted' && schema.adapted.length === 0) {
    throw new Error('schema: this strategy trains LoRA adapters, but schema.adapted is empty');
  }
  if (needs === 'dense' && schema.dense.length === 0) {
    throw new Error('schema: full fine-tuning needs the encoder weights in schema.dense, which is empty');
  }
  return {
    adapted: schema.adapted.map(({ name, dOut, dIn }) => ({ name, dOut, dIn })),
    dense: schema.dense.map(({ name, shape }) => ({ name, shape: [...shape] })),
    embeddingSize: schema.embeddingSize,
    numClasses: schema.numClasses,
    rank: schema.rank,
    alpha: schema.alpha,
  };
}

/** The elements of a tensor of this shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((size, dim) => size * dim, 1);
}

export function copyHead(head: HeadParams): HeadParams {
  return {
    embeddingSize: head.embeddingSize,
    numClasses: head.numClasses,
    kernel: Float32Array.from(head.kernel),
    bias: Float32Array.from(head.bias),
  };
}

/**
 * The head every strategy starts from: the caller's (checked against the schema, copied) or zeros. A zero
 * head is a fine start for a linear classifier on fixed features: softmax cross-entropy still has a non-zero
 * gradient there, and every client starts from the same point, which averaging needs.
 */
export function startingHead(schema: ModelSchema, initial: HeadParams | undefined): HeadParams {
  const size = { embeddingSize: schema.embeddingSize, numClasses: schema.numClasses };
  if (initial === undefined) {
    return {
      ...size,
      kernel: new Float32Array(size.embeddingSize * size.numClasses),
      bias: new Float32Array(size.numClasses),
    };
  }
  validateHead(initial, 'initialHead', size);
  return copyHead(initial);
}
