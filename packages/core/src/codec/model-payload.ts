import { PROTOCOL_VERSION } from '../update';
import type { DenseTensor, HeadParams } from '../update';
import { ByteWriter } from './bytes';
import type { ByteReader } from './bytes';
import { resolvePrecisions } from './client-update';
import type { EncodeOptions } from './client-update';
import { readDenseMap, writeDenseMap } from './dense';
import { CodecError } from './errors';
import {
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
import { readTensor, writeTensor } from './tensor';
import type { Precision } from './tensor';

// What a client downloads each round (server -> client): its type, codec and float count.

/** Full rank-r factors of one adapted weight: delta = scale * B A. */
export interface LowRankFactors {
  readonly dOut: number;
  readonly dIn: number;
  readonly rank: number;
  /** Row-major [dOut, rank]. */
  readonly B: Float32Array;
  /** Row-major [rank, dIn]. */
  readonly A: Float32Array;
  readonly scale: number;
}

/** Weight name -> factors. */
export type FactorSet = ReadonlyMap<string, LowRankFactors>;

/**
 * The client's starting adapter delta: either the server's rank-r re-factorisation of its personalized mixture,
 * or (exact alternative, K_c times the download) every cluster's factors with the client's memberships, which the
 * client mixes itself as sum_j membership[j] * scale_j B_j A_j. Clusters share names and dims; ranks may differ.
 */
export type PayloadAdapters =
  | { readonly kind: 'mixture'; readonly factors: FactorSet }
  | { readonly kind: 'clusters'; readonly clusters: readonly FactorSet[]; readonly membership: Float64Array };

/** Rows of an adapted weight the client must train this round (pre-masks). */
export interface RowMask {
  readonly dOut: number;
  /** Strictly ascending, in [0, dOut). */
  readonly rows: Int32Array;
}

export interface ModelPayload {
  readonly protocolVersion: number;
  readonly round: number;
  readonly adapters: PayloadAdapters;
  /** Pre-mask rows per weight; empty when the client picks its own rows (post masks) or trains them all. */
  readonly preMasks: ReadonlyMap<string, RowMask>;
  /** Starting head (a membership mixture of cluster heads is linear, so the server mixes it exactly). */
  readonly head: HeadParams;
  /** Full fine-tuning baseline: weight name -> delta from W0. Empty for LoRA strategies. */
  readonly dense: ReadonlyMap<string, DenseTensor>;
}

/*
 * Layout after the 8-byte header (little-endian):
 *   round f64, u8 mode (0 mixture, 1 clusters),
 *   clusters only: u32 K, K x f64 membership,
 *   factor set (once, or K times): u32 count, per weight: name, u32 dOut, u32 dIn, u32 rank, f64 scale,
 *     B [dOut, rank], A [rank, dIn],
 *   u32 pre-mask count, per mask: name, u32 dOut, u32 row count, int32 rows,
 *   dense tensors (dense.ts), head (head.ts); nothing may follow.
 */

const U32_MAX = 0xffffffff;
const MODE = { mixture: 0, clusters: 1 } as const;
/** Memberships may come from float32 arithmetic; anything further from a probability vector is a bug. */
const MEMBERSHIP_SUM_TOLERANCE = 1e-4;

function checkMembership(membership: ArrayLike<number>): void {
  let sum = 0;
  for (let j = 0; j < membership.length; j++) {
    const value = membership[j]!;
    if (!Number.isFinite(value)) throw new CodecError('nonfinite', `membership[${j}] is ${value}`);
    if (value < 0 || value > 1)
      throw new CodecError('field', `membership[${j}] = ${value} is outside [0, 1]`);
    sum += value;
  }
  if (Math.abs(sum - 1) > MEMBERSHIP_SUM_TOLERANCE) {
    throw new CodecError('field', `membership sums to ${sum}, expected 1`);
  }
}

function writeFactorSet(writer: ByteWriter, set: FactorSet, precision: Precision, where: string): void {
  writer.u32(set.size);
  for (const [name, factors] of set) {
    const label = `${where}"${checkText(name, MAX_NAME_LENGTH, 'factor name', 'name')}"`;
    const dOut = checkDim(factors.dOut, U32_MAX, `${label} dOut`);
    const dIn = checkDim(factors.dIn, U32_MAX, `${label} dIn`);
    const rank = checkDim(factors.rank, U32_MAX, `${label} rank`);
    writeText(writer, name);
    writer.u32(dOut);
    writer.u32(dIn);
    writer.u32(rank);
    writer.f64(checkScale(factors.scale, `${label} scale`));
    writeTensor(writer, factors.B, dOut, rank, precision, `${label} B`);
    writeTensor(writer, factors.A, rank, dIn, precision, `${label} A`);
  }
}

function readFactorSet(
  reader: ByteReader,
  limits: ResolvedLimits,
  where: string,
): Map<string, LowRankFactors> {
  const count = reader.u32(`${where}factor count`);
  if (count > limits.maxWeights) {
    throw new CodecError('shape', `${where}${count} factor entries exceed maxWeights ${limits.maxWeights}`);
  }
  const set = new Map<string, LowRankFactors>();
  for (let w = 0; w < count; w++) {
    const name = readText(reader, MAX_NAME_LENGTH, `${where}factor ${w} name`, 'name');
    const label = `${where}"${name}"`;
    if (set.has(name)) throw new CodecError('duplicate', `${label} appears twice`);
    const expected = expectedWeight(limits, name, label);
    const dOut = checkDim(reader.u32(`${label} dOut`), limits.maxDim, `${label} dOut`);
    const dIn = checkDim(reader.u32(`${label} dIn`), limits.maxDim, `${label} dIn`);
    const rank = checkDim(reader.u32(`${label} rank`), limits.maxRank, `${label} rank`);
    checkWeightDims(expected, dOut, dIn, label);
    const scale = checkScale(reader.f64(`${label} scale`), `${label} scale`);
    const B = readTensor(reader, dOut, rank, `${label} B`);
    const A = readTensor(reader, rank, dIn, `${label} A`);
    set.set(name, { dOut, dIn, rank, B, A, scale });
  }
  return set;
}

/** Every cluster must carry the same weights with the same dims, or the client cannot mix them. */
function checkClustersAgree(clusters: readonly FactorSet[]): void {
  const first = clusters[0];
  if (!first) throw new CodecError('shape', 'clusters mode needs at least one cluster');
  clusters.forEach((set, j) => {
    if (set.size !== first.size) {
      throw new CodecError('shape', `cluster ${j} has ${set.size} weights, cluster 0 has ${first.size}`);
    }
    for (const [name, factors] of set) {
      const reference = first.get(name);
      if (!reference) throw new CodecError('name', `cluster ${j} weight "${name}" is missing from cluster 0`);
      if (reference.dOut !== factors.dOut || reference.dIn !== factors.dIn) {
        throw new CodecError(
          'shape',
          `cluster ${j} weight "${name}" is ${factors.dOut}x${factors.dIn}, cluster 0 has ${reference.dOut}x${reference.dIn}`,
        );
      }
    }
  });
}

function factorDOut(adapters: PayloadAdapters, name: string): number | undefined {
  const set = adapters.kind === 'mixture' ? adapters.factors : adapters.clusters[0];
  return set?.get(name)?.dOut;
}

/** A pre-mask must agree with the factors it masks, when they are sent too. */
function checkMaskDOut(adapters: PayloadAdapters, name: string, dOut: number, label: string): void {
  const factorsDOut = factorDOut(adapters, name);
  if (factorsDOut !== undefined && factorsDOut !== dOut) {
    throw new CodecError('shape', `${label} has dOut ${dOut}, its factors have ${factorsDOut}`);
  }
}

/** Encodes a model payload; throws CodecError on anything its decoder would refuse. Little-endian. */
export function encodeModelPayload(payload: ModelPayload, options: EncodeOptions): Uint8Array {
  const precision = resolvePrecisions(options);
  const writer = new ByteWriter();
  writeHeader(writer, 'modelPayload', payload.protocolVersion);
  writer.f64(checkCount(payload.round, 'round'));
  const { adapters } = payload;
  if (adapters.kind === 'mixture') {
    writer.u8(MODE.mixture);
    writeFactorSet(writer, adapters.factors, precision.values, '');
  } else if (adapters.kind === 'clusters') {
    checkClustersAgree(adapters.clusters);
    if (adapters.membership.length !== adapters.clusters.length) {
      throw new CodecError(
        'shape',
        `membership has ${adapters.membership.length} entries for ${adapters.clusters.length} clusters`,
      );
    }
    checkMembership(adapters.membership);
    writer.u8(MODE.clusters);
    writer.u32(adapters.clusters.length);
    for (const value of adapters.membership) writer.f64(value);
    adapters.clusters.forEach((set, j) => writeFactorSet(writer, set, precision.values, `cluster ${j} `));
  } else {
    throw new CodecError('field', `adapters.kind must be 'mixture' or 'clusters'`);
  }
  writer.u32(payload.preMasks.size);
  for (const [name, mask] of payload.preMasks) {
    const label = `pre-mask "${checkText(name, MAX_NAME_LENGTH, 'pre-mask name', 'name')}"`;
    const dOut = checkDim(mask.dOut, U32_MAX, `${label} dOut`);
    checkMaskDOut(adapters, name, dOut, label);
    checkRows(mask.rows, dOut, `${label} rows`);
    writeText(writer, name);
    writer.u32(dOut);
    writer.u32(mask.rows.length);
    writeRows(writer, mask.rows);
  }
  writeDenseMap(writer, payload.dense, precision.values);
  writeHead(writer, payload.head, precision.head);
  return writer.finish();
}

function readAdapters(reader: ByteReader, limits: ResolvedLimits): PayloadAdapters {
  const mode = reader.u8('adapters mode');
  if (mode === MODE.mixture) return { kind: 'mixture', factors: readFactorSet(reader, limits, '') };
  if (mode !== MODE.clusters) throw new CodecError('field', `adapters mode ${mode} is neither 0 nor 1`);
  const count = checkDim(reader.u32('cluster count'), limits.maxClusters, 'cluster count');
  // Bounded by the bytes actually present before allocating.
  const body = reader.block(count * 8, 'membership');
  const membership = new Float64Array(count);
  for (let j = 0; j < count; j++) membership[j] = body.getFloat64(j * 8, true);
  checkMembership(membership);
  const clusters: Map<string, LowRankFactors>[] = [];
  for (let j = 0; j < count; j++) clusters.push(readFactorSet(reader, limits, `cluster ${j} `));
  checkClustersAgree(clusters);
  return { kind: 'clusters', clusters, membership };
}

function readPreMasks(
  reader: ByteReader,
  limits: ResolvedLimits,
  adapters: PayloadAdapters,
): Map<string, RowMask> {
  const count = reader.u32('pre-mask count');
  if (count > limits.maxWeights) {
    throw new CodecError('shape', `${count} pre-masks exceed maxWeights ${limits.maxWeights}`);
  }
  const masks = new Map<string, RowMask>();
  for (let m = 0; m < count; m++) {
    const name = readText(reader, MAX_NAME_LENGTH, `pre-mask ${m} name`, 'name');
    const label = `pre-mask "${name}"`;
    if (masks.has(name)) throw new CodecError('duplicate', `${label} appears twice`);
    const expected = expectedWeight(limits, name, label);
    const dOut = checkDim(reader.u32(`${label} dOut`), limits.maxDim, `${label} dOut`);
    if (expected && expected.dOut !== dOut) {
      throw new CodecError('shape', `${label} has dOut ${dOut}, expected ${expected.dOut}`);
    }
    checkMaskDOut(adapters, name, dOut, label);
    const kept = checkDim(reader.u32(`${label} row count`), dOut, `${label} row count`);
    const rows = readRows(reader, kept, `${label} rows`);
    checkRows(rows, dOut, `${label} rows`);
    masks.set(name, { dOut, rows });
  }
  return masks;
}

/** Decodes and fully validates a model payload; throws CodecError naming the first problem found. */
export function decodeModelPayload(bytes: Uint8Array, limits: DecodeLimits): ModelPayload {
  const resolved = resolveLimits(limits);
  const reader = openMessage(bytes, resolved, 'modelPayload');
  const round = checkCount(reader.f64('round'), 'round');
  const adapters = readAdapters(reader, resolved);
  const preMasks = readPreMasks(reader, resolved, adapters);
  const dense = readDenseMap(reader, resolved);
  const head = readHead(reader, resolved);
  reader.end();
  return { protocolVersion: PROTOCOL_VERSION, round, adapters, preMasks, head, dense };
}

/** Float values a payload carries (factors of every set, dense, head), for communication reports. */
export function modelPayloadFloatCount(payload: ModelPayload): number {
  const { adapters } = payload;
  const sets = adapters.kind === 'mixture' ? [adapters.factors] : adapters.clusters;
  let count = payload.head.kernel.length + payload.head.bias.length;
  for (const set of sets) for (const factors of set.values()) count += factors.A.length + factors.B.length;
  for (const tensor of payload.dense.values()) count += tensor.data.length;
  return count;
}
