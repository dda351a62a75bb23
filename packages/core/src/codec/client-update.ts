import { PROTOCOL_VERSION } from '../update';
import type { ClientUpdate, MaskedFactors } from '../update';
import { ByteWriter } from './bytes';
import type { ByteReader } from './bytes';
import { readDenseMap, writeDenseMap } from './dense';
import { CodecError } from './errors';
import {
  MAX_CLIENT_ID_LENGTH,
  MAX_NAME_LENGTH,
  checkCount,
  checkDim,
  checkRows,
  checkScale,
  checkText,
  readRows,
  readText,
  writeRows,
  writeText,
} from './fields';
import { openMessage, writeHeader } from './header';
import { readHead, writeHead } from './head';
import { checkWeightDims, expectedWeight, resolveLimits } from './limits';
import type { DecodeLimits, ResolvedLimits } from './limits';
import { isPrecision, readTensor, writeTensor } from './tensor';
import type { Precision } from './tensor';

/**
 * Client -> server update. Layout after the 8-byte header (little-endian throughout):
 *   clientId (u16 length + ASCII), round f64, exampleCount f64,
 *   u32 adapter count, per adapter: name, u32 dOut, u32 dIn, u32 rank, u32 kept rows, f64 scale,
 *     int32 rows, A [rank, dIn], B [kept rows, rank],
 *   dense tensors (dense.ts), head (head.ts); nothing may follow.
 */

export interface EncodeOptions {
  /** Precision of A, B and dense values. */
  readonly precision: Precision;
  /** Precision of the head (default: `precision`). */
  readonly headPrecision?: Precision;
}

const U32_MAX = 0xffffffff;

export function resolvePrecisions(options: EncodeOptions): { values: Precision; head: Precision } {
  const values = options?.precision;
  const head = options?.headPrecision ?? values;
  if (!isPrecision(values) || !isPrecision(head)) {
    throw new CodecError(
      'input',
      `precision must be 'fp32', 'fp16' or 'int8', got ${String(values)} / ${String(head)}`,
    );
  }
  return { values, head };
}

function writeAdapter(writer: ByteWriter, name: string, factors: MaskedFactors, precision: Precision): void {
  const label = `adapter "${checkText(name, MAX_NAME_LENGTH, 'adapter name', 'name')}"`;
  const dOut = checkDim(factors.dOut, U32_MAX, `${label} dOut`);
  const dIn = checkDim(factors.dIn, U32_MAX, `${label} dIn`);
  const rank = checkDim(factors.rank, U32_MAX, `${label} rank`);
  checkRows(factors.rows, dOut, `${label} rows`);
  writeText(writer, name);
  writer.u32(dOut);
  writer.u32(dIn);
  writer.u32(rank);
  writer.u32(factors.rows.length);
  writer.f64(checkScale(factors.scale, `${label} scale`));
  writeRows(writer, factors.rows);
  writeTensor(writer, factors.A, rank, dIn, precision, `${label} A`);
  writeTensor(writer, factors.B, factors.rows.length, rank, precision, `${label} B`);
}

/** Encodes a client update; throws CodecError on anything its decoder would refuse. Little-endian. */
export function encodeUpdate(update: ClientUpdate, options: EncodeOptions): Uint8Array {
  const precision = resolvePrecisions(options);
  const writer = new ByteWriter();
  writeHeader(writer, 'update', update.protocolVersion);
  writeText(writer, checkText(update.clientId, MAX_CLIENT_ID_LENGTH, 'clientId', 'field'));
  writer.f64(checkCount(update.round, 'round'));
  writer.f64(checkCount(update.exampleCount, 'exampleCount'));
  writer.u32(update.adapters.size);
  for (const [name, factors] of update.adapters) writeAdapter(writer, name, factors, precision.values);
  writeDenseMap(writer, update.dense, precision.values);
  writeHead(writer, update.head, precision.head);
  return writer.finish();
}

function readAdapter(reader: ByteReader, limits: ResolvedLimits, name: string): MaskedFactors {
  const label = `adapter "${name}"`;
  const expected = expectedWeight(limits, name, label);
  const dOut = checkDim(reader.u32(`${label} dOut`), limits.maxDim, `${label} dOut`);
  const dIn = checkDim(reader.u32(`${label} dIn`), limits.maxDim, `${label} dIn`);
  const rank = checkDim(reader.u32(`${label} rank`), limits.maxRank, `${label} rank`);
  const kept = checkDim(reader.u32(`${label} kept row count`), dOut, `${label} kept row count`);
  checkWeightDims(expected, dOut, dIn, label);
  const scale = checkScale(reader.f64(`${label} scale`), `${label} scale`);
  const rows = readRows(reader, kept, `${label} rows`);
  checkRows(rows, dOut, `${label} rows`);
  const A = readTensor(reader, rank, dIn, `${label} A`);
  const B = readTensor(reader, kept, rank, `${label} B`);
  return { dOut, dIn, rank, rows, A, B, scale };
}

/** Decodes and fully validates a client update; throws CodecError naming the first problem found. */
export function decodeUpdate(bytes: Uint8Array, limits: DecodeLimits): ClientUpdate {
  const resolved = resolveLimits(limits);
  const reader = openMessage(bytes, resolved, 'update');
  const clientId = readText(reader, MAX_CLIENT_ID_LENGTH, 'clientId', 'field');
  const round = checkCount(reader.f64('round'), 'round');
  const exampleCount = checkCount(reader.f64('exampleCount'), 'exampleCount');
  const count = reader.u32('adapter count');
  if (count > resolved.maxWeights) {
    throw new CodecError('shape', `${count} adapters exceed maxWeights ${resolved.maxWeights}`);
  }
  const adapters = new Map<string, MaskedFactors>();
  for (let w = 0; w < count; w++) {
    const name = readText(reader, MAX_NAME_LENGTH, `adapter ${w} name`, 'name');
    if (adapters.has(name)) throw new CodecError('duplicate', `adapter "${name}" appears twice`);
    adapters.set(name, readAdapter(reader, resolved, name));
  }
  const dense = readDenseMap(reader, resolved);
  const head = readHead(reader, resolved);
  reader.end();
  return { protocolVersion: PROTOCOL_VERSION, clientId, round, exampleCount, adapters, dense, head };
}

/** Float values an update carries (A, kept B rows, dense, head), for communication reports. */
export function updateFloatCount(update: ClientUpdate): number {
  let count = update.head.kernel.length + update.head.bias.length;
  for (const factors of update.adapters.values()) count += factors.A.length + factors.B.length;
  for (const tensor of update.dense.values()) count += tensor.data.length;
  return count;
}
