import { validateRows } from '../masks';
import type { DenseTensor, HeadParams, MaskedFactors } from '../update';

/** Aggregation input checks. They run before any accumulator is touched, so a rejected update leaves no trace. */

export function assertFiniteValues(values: ArrayLike<number>, label: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new Error(`${label}[${i}] is not finite (${values[i]})`);
  }
}

/** Whether `value` is a Map. Deliberately not a type guard: narrowing a ReadonlyMap<K, V> to Map would erase K, V. */
export function isMap(value: unknown): boolean {
  return value instanceof Map;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** Throws unless `weight` is a finite number >= 0. */
export function validateWeight(weight: number, label = 'weight'): void {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    throw new Error(`${label} must be a finite number >= 0, got ${weight}`);
  }
}

/** A probability vector over `clusters` clusters: finite, non-negative, summing to 1 (within 1e-6). */
export function validateMemberships(
  memberships: ArrayLike<number>,
  clusters: number,
  label = 'memberships',
): void {
  if (memberships === null || typeof memberships !== 'object' || typeof memberships.length !== 'number') {
    throw new Error(`${label} must be an array of numbers`);
  }
  if (memberships.length !== clusters) {
    throw new Error(`${label} has ${memberships.length} values, expected one per cluster (${clusters})`);
  }
  let sum = 0;
  for (let j = 0; j < clusters; j++) {
    const value = memberships[j]!;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new Error(`${label}[${j}] must be a finite number >= 0, got ${value}`);
    }
    sum += value;
  }
  if (Math.abs(sum - 1) > 1e-6) throw new Error(`${label} must sum to 1, got ${sum}`);
}

/** Checks one tensor's shape and data; returns its element count. */
export function validateDenseTensor(tensor: DenseTensor, label: string): number {
  if (tensor === null || typeof tensor !== 'object' || !Array.isArray(tensor.shape)) {
    throw new Error(`${label} must be a tensor with a shape array`);
  }
  let size = 1;
  for (const dim of tensor.shape) {
    if (!isPositiveInteger(dim))
      throw new Error(`${label} has shape [${tensor.shape.join(', ')}]: dims must be positive integers`);
    size *= dim;
  }
  if (!(tensor.data instanceof Float32Array)) throw new Error(`${label}.data must be a Float32Array`);
  if (tensor.data.length !== size) {
    throw new Error(
      `${label}.data has ${tensor.data.length} values, shape [${tensor.shape.join(', ')}] needs ${size}`,
    );
  }
  assertFiniteValues(tensor.data, `${label}.data`);
  return size;
}

/** Checks a head; with `expected`, also that its sizes match. */
export function validateHead(
  head: HeadParams,
  label = 'head',
  expected?: { readonly embeddingSize: number; readonly numClasses: number },
): void {
  if (head === null || typeof head !== 'object') throw new Error(`${label} is missing`);
  const { embeddingSize, numClasses, kernel, bias } = head;
  if (!isPositiveInteger(embeddingSize) || !isPositiveInteger(numClasses)) {
    throw new Error(`${label} sizes must be positive integers, got ${embeddingSize} x ${numClasses}`);
  }
  if (expected && (expected.embeddingSize !== embeddingSize || expected.numClasses !== numClasses)) {
    throw new Error(
      `${label} is ${embeddingSize} x ${numClasses}, expected ${expected.embeddingSize} x ${expected.numClasses}`,
    );
  }
  if (!(kernel instanceof Float32Array) || kernel.length !== embeddingSize * numClasses) {
    throw new Error(`${label}.kernel must be a Float32Array of ${embeddingSize} x ${numClasses} values`);
  }
  if (!(bias instanceof Float32Array) || bias.length !== numClasses) {
    throw new Error(`${label}.bias must be a Float32Array of ${numClasses} values`);
  }
  assertFiniteValues(kernel, `${label}.kernel`);
  assertFiniteValues(bias, `${label}.bias`);
}

/** Checks masked factors against the weight's expected dims. */
export function validateMaskedFactors(
  factors: MaskedFactors,
  dOut: number,
  dIn: number,
  label: string,
): void {
  if (factors === null || typeof factors !== 'object') throw new Error(`${label} is missing`);
  if (factors.dOut !== dOut || factors.dIn !== dIn) {
    throw new Error(`${label} is ${factors.dOut} x ${factors.dIn}, expected ${dOut} x ${dIn}`);
  }
  const { rank, rows, A, B, scale } = factors;
  if (!isPositiveInteger(rank)) throw new Error(`${label}.rank must be a positive integer, got ${rank}`);
  validateRows(rows, dOut, `${label}.rows`);
  if (!(A instanceof Float32Array) || A.length !== rank * dIn) {
    throw new Error(`${label}.A must be a Float32Array of ${rank} x ${dIn} values`);
  }
  if (!(B instanceof Float32Array) || B.length !== rows.length * rank) {
    throw new Error(`${label}.B must be a Float32Array of ${rows.length} kept rows x ${rank} values`);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale))
    throw new Error(`${label}.scale must be finite, got ${scale}`);
  assertFiniteValues(A, `${label}.A`);
  assertFiniteValues(B, `${label}.B`);
}
