import type { ByteReader, ByteWriter } from './bytes';
import { CodecError } from './errors';
import { fromHalfBits, toHalfBits } from './half';

/**
 * One float matrix [rows, cols] on the wire: u8 precision code, u32 payload byte length, payload.
 *   fp32: rows*cols float32;  fp16: rows*cols binary16;
 *   int8: rows float32 scales (max|row| / 127, symmetric), then rows*cols int8 (value = q * scale).
 * The byte length is redundant with shape and precision on purpose: the decoder compares the two before it
 * allocates anything, so a huge declared shape over a tiny body is refused cheaply.
 */

export type Precision = 'fp32' | 'fp16' | 'int8';

const PRECISION_CODES: Record<Precision, number> = { fp32: 0, fp16: 1, int8: 2 };
const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8'];

export function isPrecision(value: unknown): value is Precision {
  return typeof value === 'string' && (PRECISIONS as readonly string[]).includes(value);
}

/** Payload bytes of a [rows, cols] matrix; float64 arithmetic stays exact far beyond any legal size. */
export function tensorPayloadBytes(rows: number, cols: number, precision: Precision): number {
  const count = rows * cols;
  if (precision === 'fp32') return count * 4;
  if (precision === 'fp16') return count * 2;
  return rows * 4 + count;
}

/** Throws unless every value is finite; `label` names the tensor in the error. */
export function assertFinite(data: Float32Array, label: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new CodecError('nonfinite', `${label}[${i}] is ${data[i]}`);
  }
}

export function writeTensor(
  writer: ByteWriter,
  data: Float32Array,
  rows: number,
  cols: number,
  precision: Precision,
  label: string,
): void {
  if (data.length !== rows * cols) {
    throw new CodecError(
      'shape',
      `${label} has ${data.length} values, its shape [${rows}, ${cols}] needs ${rows * cols}`,
    );
  }
  assertFinite(data, label);
  const bytes = tensorPayloadBytes(rows, cols, precision);
  writer.u8(PRECISION_CODES[precision]);
  writer.u32(bytes);
  const out = writer.block(bytes);
  if (precision === 'fp32') {
    for (let i = 0; i < data.length; i++) out.setFloat32(i * 4, data[i]!, true);
  } else if (precision === 'fp16') {
    for (let i = 0; i < data.length; i++) {
      const half = toHalfBits(data[i]!);
      if ((half & 0x7c00) === 0x7c00) {
        throw new CodecError('nonfinite', `${label}[${i}] = ${data[i]} overflows fp16; send fp32`);
      }
      out.setUint16(i * 2, half, true);
    }
  } else {
    writeInt8Rows(out, data, rows, cols);
  }
}

function writeInt8Rows(out: DataView, data: Float32Array, rows: number, cols: number): void {
  const valuesStart = rows * 4;
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let i = r * cols, end = i + cols; i < end; i++) max = Math.max(max, Math.abs(data[i]!));
    // Quantise with the float32 scale the decoder will see, so the error stays within scale / 2.
    const scale = Math.fround(max / 127);
    out.setFloat32(r * 4, scale, true);
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      const q = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(data[i]! / scale)));
      out.setInt8(valuesStart + i, q);
    }
  }
}

/** Reads a [rows, cols] matrix into a fresh Float32Array; shape dims must already be validated as positive. */
export function readTensor(reader: ByteReader, rows: number, cols: number, label: string): Float32Array {
  const code = reader.u8(`${label} precision`);
  const precision = PRECISIONS[code];
  if (precision === undefined) throw new CodecError('field', `${label} has unknown precision code ${code}`);
  const declared = reader.u32(`${label} byte length`);
  const expected = tensorPayloadBytes(rows, cols, precision);
  if (declared !== expected) {
    throw new CodecError(
      'size',
      `${label} declares ${declared} bytes, its shape [${rows}, ${cols}] at ${precision} needs ${expected}`,
    );
  }
  const body = reader.block(declared, label);
  const data = new Float32Array(rows * cols);
  if (precision === 'fp32') {
    for (let i = 0; i < data.length; i++) data[i] = body.getFloat32(i * 4, true);
  } else if (precision === 'fp16') {
    for (let i = 0; i < data.length; i++) data[i] = fromHalfBits(body.getUint16(i * 2, true));
  } else {
    const valuesStart = rows * 4;
    for (let r = 0; r < rows; r++) {
      const scale = body.getFloat32(r * 4, true);
      if (!Number.isFinite(scale))
        throw new CodecError('nonfinite', `${label} row ${r} has int8 scale ${scale}`);
      if (scale < 0) throw new CodecError('field', `${label} row ${r} has negative int8 scale ${scale}`);
      for (let c = 0, i = r * cols; c < cols; c++, i++) data[i] = body.getInt8(valuesStart + i) * scale;
    }
  }
  // Checked after dequantisation: a finite scale times 127 can still overflow float32.
  assertFinite(data, label);
  return data;
}
