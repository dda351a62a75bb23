import { fromHalfBits, toHalfBits } from '@fedhft/core';

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }` (offsets relative
 * to the byte after the header), then the tensor data, little-endian, row-major. Written here (reader and
 * writer) so browsers and Node need no native code; floats are returned as float32.
 */

/** Every dtype the format defines (a name outside this list is an error), with its size in bytes. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The dtypes `readFloat32` converts (to float32). */
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';
/** The dtypes `writeSafetensors` can store. */
export type WritableDtype = 'F32' | 'F16' | 'BF16';

/** The safetensors reference implementation refuses headers over 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range in the data section (after the header). */
  readonly begin: number;
  readonly end: number;
}

/** A parsed safetensors file: its entries are validated; tensor data is converted on request. */
export class SafetensorsFile {
  /** The file's `__metadata__` (string -> string), empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries: Map<string, SafetensorsEntry>;
  private readonly data: Uint8Array;

  /** `file` names the file in error messages (e.g. `model.safetensors from /models/bert`). */
  constructor(
    bytes: ArrayBuffer | Uint8Array,
    readonly file: string,
  ) {
    const all = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (all.byteLength < 8) {
      throw new Error(
        `${file} is truncated: ${all.byteLength} bytes, too short for the 8-byte header length`,
      );
    }
    const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
    const headerBytes = view.getBigUint64(0, true);
    if (headerBytes > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(`${file}: header of ${headerBytes} bytes is too large (at most ${MAX_HEADER_BYTES})`);
    }
    const headerLength = Number(headerBytes);
    if (8 + headerLength > all.byteLength) {
      throw new Error(
        `${file} is truncated: the header needs ${headerLength} bytes but only ${all.byteLength - 8} follow`,
      );
    }
    let header: unknown;
    try {
      header = JSON.parse(
        new TextDecoder('utf-8', { fatal: true }).decode(all.subarray(8, 8 + headerLength)),
      );
    } catch (error) {
      throw new Error(`${file}: header is not valid JSON (${(error as Error).message})`);
    }
    if (!isRecord(header)) throw new Error(`${file}: header is not a JSON object`);
    this.data = all.subarray(8 + headerLength);
    this.metadata = parseMetadata(header.__metadata__, file);
    this.entries = new Map();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      this.entries.set(name, this.parseEntry(name, raw));
    }
  }

  private parseEntry(name: string, raw: unknown): SafetensorsEntry {
    const where = `tensor ${name} in ${this.file}`;
    if (!isRecord(raw)) throw new Error(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== 'string') throw new Error(`${where}: dtype is missing`);
    const itemBytes = DTYPE_BYTES[dtype];
    if (itemBytes === undefined) {
      throw new Error(
        `${where}: unknown dtype ${JSON.stringify(dtype)} (safetensors defines ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new Error(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      throw new Error(`${where}: data_offsets ${JSON.stringify(offsets)} are not two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end - begin !== count * itemBytes) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] out of range: ${dtype} [${shape.join(', ')}] takes ${count * itemBytes} bytes`,
      );
    }
    if (end > this.data.byteLength) {
      throw new Error(
        `${this.file} is truncated: tensor ${name} needs data bytes up to ${end} (data_offsets out of range) but the file holds ${this.data.byteLength}`,
      );
    }
    return { name, dtype, shape: [...(shape as number[])], begin, end };
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry for `name`; throws naming the tensor and the file when it is missing. */
  entry(name: string): SafetensorsEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`${this.file}: missing tensor ${name}`);
    return entry;
  }

  /**
   * The values of tensor `name` as float32 (F32, F16, BF16 and F64 tensors). `expectedShape`, when given, must
   * match exactly; the error names the tensor, the file and both shapes.
   */
  readFloat32(name: string, expectedShape?: readonly number[]): Float32Array {
    const entry = this.entry(name);
    if (expectedShape && !sameShape(entry.shape, expectedShape)) {
      throw new Error(
        `${this.file}: tensor ${name} has shape [${entry.shape.join(', ')}], expected [${expectedShape.join(', ')}]`,
      );
    }
    const bytes = this.data.subarray(entry.begin, entry.end);
    switch (entry.dtype) {
      case 'F32':
        return decodeF32(bytes);
      case 'F16':
        return decodeF16(bytes);
      case 'BF16':
        return decodeBF16(bytes);
      case 'F64':
        return decodeF64(bytes);
      default:
        throw new Error(
          `${this.file}: tensor ${name} has dtype ${entry.dtype}; expected a float tensor (F32, F16, BF16 or F64)`,
        );
    }
  }
}

export interface TensorToWrite {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** Stored dtype, default F32 (F16 and BF16 round to nearest even). */
  readonly dtype?: WritableDtype;
}

/** A safetensors file holding `tensors` in the given order (header padded with spaces to 8 bytes, as upstream). */
export function writeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name in header) throw new Error(`tensor name ${t.name} is used twice`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
      throw new Error(
        `tensor ${t.name}: shape [${t.shape.join(', ')}] does not hold ${t.data.length} values`,
      );
    }
    const dtype = t.dtype ?? 'F32';
    const bytes = encode(t.data, dtype);
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  while (encoder.encode(json).byteLength % 8 !== 0) json += ' ';
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function encode(values: Float32Array, dtype: WritableDtype): Uint8Array {
  const out = new Uint8Array(values.length * (dtype === 'F32' ? 4 : 2));
  const view = new DataView(out.buffer);
  if (dtype === 'F32') values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else if (dtype === 'F16') values.forEach((v, i) => view.setUint16(2 * i, toHalfBits(v), true));
  else if (dtype === 'BF16') values.forEach((v, i) => view.setUint16(2 * i, toBfloat16Bits(v), true));
  else throw new Error(`cannot write dtype ${String(dtype)}`);
  return out;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The bfloat16 bit pattern nearest to `value` (ties to even); NaN stays NaN. */
export function toBfloat16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function fromBfloat16Bits(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratch[0]!;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeF32(bytes: Uint8Array): Float32Array {
  // A copy into a fresh, aligned buffer (the data section need not be 4-byte aligned). Not slice(): on a Node
  // Buffer it returns a view of the shared pool.
  if (littleEndian) return new Float32Array(new Uint8Array(bytes).buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

function decodeF64(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 8 }, (_, i) => view.getFloat64(8 * i, true));
}

let halfTable: Float32Array | null = null;

function decodeF16(bytes: Uint8Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromHalfBits(h);
  }
  const table = halfTable;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)]!;
  return out;
}

function decodeBF16(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 2);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  return out;
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === undefined) return {};
  if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    throw new Error(`${file}: __metadata__ must map strings to strings`);
  }
  return { ...(raw as Record<string, string>) };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
