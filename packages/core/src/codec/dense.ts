import type { DenseTensor } from '../update';
import type { ByteReader, ByteWriter } from './bytes';
import { CodecError } from './errors';
import { MAX_NAME_LENGTH, checkDim, checkText, readText, writeText } from './fields';
import type { ResolvedLimits } from './limits';
import { readTensor, writeTensor } from './tensor';
import type { Precision } from './tensor';

/**
 * Dense tensors (full fine-tuning deltas): u32 count, then per tensor: name, u8 ndim (1-4), u32 dims, and the
 * values as a [product of leading dims, last dim] matrix, so int8 scales are per row over the last axis.
 */

export const MAX_TENSOR_RANK = 4;
const U32_MAX = 0xffffffff;

function asMatrix(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1]!;
  return [shape.reduce((a, b) => a * b, 1) / cols, cols];
}

export function writeDenseMap(
  writer: ByteWriter,
  dense: ReadonlyMap<string, DenseTensor>,
  precision: Precision,
): void {
  writer.u32(dense.size);
  for (const [name, tensor] of dense) {
    const label = `dense "${checkText(name, MAX_NAME_LENGTH, 'dense tensor name', 'name')}"`;
    const { shape } = tensor;
    if (shape.length < 1 || shape.length > MAX_TENSOR_RANK) {
      throw new CodecError('shape', `${label} has ${shape.length} dims, expected 1-${MAX_TENSOR_RANK}`);
    }
    shape.forEach((dim, axis) => checkDim(dim, U32_MAX, `${label} dim ${axis}`));
    writeText(writer, name);
    writer.u8(shape.length);
    for (const dim of shape) writer.u32(dim);
    const [rows, cols] = asMatrix(shape);
    writeTensor(writer, tensor.data, rows, cols, precision, label);
  }
}

export function readDenseMap(reader: ByteReader, limits: ResolvedLimits): Map<string, DenseTensor> {
  const count = reader.u32('dense tensor count');
  if (count > limits.maxWeights) {
    throw new CodecError('shape', `${count} dense tensors exceed maxWeights ${limits.maxWeights}`);
  }
  const dense = new Map<string, DenseTensor>();
  for (let t = 0; t < count; t++) {
    const name = readText(reader, MAX_NAME_LENGTH, `dense tensor ${t} name`, 'name');
    const label = `dense "${name}"`;
    if (dense.has(name)) throw new CodecError('duplicate', `${label} appears twice`);
    const expected = limits.expectedDense?.get(name);
    if (limits.expectedDense && !expected)
      throw new CodecError('name', `${label} is not an expected dense tensor`);
    const ndim = reader.u8(`${label} ndim`);
    if (ndim < 1 || ndim > MAX_TENSOR_RANK) {
      throw new CodecError('shape', `${label} has ${ndim} dims, expected 1-${MAX_TENSOR_RANK}`);
    }
    const shape: number[] = [];
    for (let axis = 0; axis < ndim; axis++) {
      shape.push(checkDim(reader.u32(`${label} dim ${axis}`), limits.maxDim, `${label} dim ${axis}`));
    }
    if (expected && (expected.length !== ndim || expected.some((dim, axis) => dim !== shape[axis]))) {
      throw new CodecError('shape', `${label} is [${shape.join(', ')}], expected [${expected.join(', ')}]`);
    }
    const [rows, cols] = asMatrix(shape);
    dense.set(name, { shape, data: readTensor(reader, rows, cols, label) });
  }
  return dense;
}
