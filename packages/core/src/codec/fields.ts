import { validateRows } from '../masks';
import type { ByteReader, ByteWriter } from './bytes';
import { CodecError } from './errors';
import type { CodecErrorCode } from './errors';

/** Checks and wire helpers for the scalar fields shared by every message kind. */

export const MAX_CLIENT_ID_LENGTH = 128;
export const MAX_NAME_LENGTH = 256;

function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Non-empty printable ASCII no longer than `max`: ids and names end up in logs and file names. */
export function checkText(text: unknown, max: number, label: string, code: CodecErrorCode): string {
  if (typeof text !== 'string' || text.length === 0 || text.length > max || !isPrintableAscii(text)) {
    const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 40)) : typeof text;
    throw new CodecError(code, `${label} must be 1-${max} printable ASCII characters, got ${shown}`);
  }
  return text;
}

/** Strings travel as u16 length + ASCII bytes. */
export function writeText(writer: ByteWriter, text: string): void {
  writer.u16(text.length);
  const out = writer.block(text.length);
  for (let i = 0; i < text.length; i++) out.setUint8(i, text.charCodeAt(i));
}

export function readText(reader: ByteReader, max: number, label: string, code: CodecErrorCode): string {
  const length = reader.u16(`${label} length`);
  if (length === 0 || length > max)
    throw new CodecError(code, `${label} length ${length} is outside [1, ${max}]`);
  const body = reader.block(length, label);
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(body.getUint8(i));
  return checkText(text, max, label, code);
}

/** A count such as round or exampleCount: a non-negative safe integer (sent as float64 so the decoder can tell). */
export function checkCount(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new CodecError('field', `${label} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/** A dimension in [1, max]. */
export function checkDim(value: unknown, max: number, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new CodecError('shape', `${label} = ${String(value)} is outside [1, ${max}]`);
  }
  return value;
}

/** LoRA scale (alpha / r): finite and positive. */
export function checkScale(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CodecError('field', `${label} must be a finite positive number, got ${String(value)}`);
  }
  return value;
}

/** Kept row indices, as masks.ts defines them, refused with code 'index'. */
export function checkRows(rows: Int32Array, dOut: number, label: string): void {
  try {
    validateRows(rows, dOut, label);
  } catch (error) {
    throw new CodecError('index', (error as Error).message);
  }
}

export function writeRows(writer: ByteWriter, rows: Int32Array): void {
  const out = writer.block(rows.length * 4);
  for (let i = 0; i < rows.length; i++) out.setInt32(i * 4, rows[i]!, true);
}

/** Reads `count` int32 indices; the caller has already bounded `count` by dOut. */
export function readRows(reader: ByteReader, count: number, label: string): Int32Array {
  const body = reader.block(count * 4, label);
  const rows = new Int32Array(count);
  for (let i = 0; i < count; i++) rows[i] = body.getInt32(i * 4, true);
  return rows;
}
