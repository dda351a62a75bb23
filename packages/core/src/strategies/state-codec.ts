import { validateHead } from '../aggregation/validate';
import type { HeadParams } from '../update';
import type { ModelSchema } from './strategy';

/**
 * Strategy snapshots as plain JSON: typed arrays become base64 strings of their little-endian bytes (exact,
 * about 1.33 bytes per byte, unlike JSON number arrays), and restore checks every field because a checkpoint
 * file is external input.
 */

type Typed = Float32Array | Float64Array | Int32Array;

const SNAPSHOT_FORMAT = 'fedhft-strategy';
const SNAPSHOT_VERSION = 1;
/** btoa/atob work on binary strings; converting in slices keeps String.fromCharCode's argument list short. */
const CHUNK = 0x8000;

export function encodeArray(values: Typed): string {
  const bytes = new Uint8Array(values.length * values.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => {
    if (values instanceof Float32Array) view.setFloat32(i * 4, value, true);
    else if (values instanceof Float64Array) view.setFloat64(i * 8, value, true);
    else view.setInt32(i * 4, value, true);
  });
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK)
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

function decodeBytes(text: unknown, byteLength: number, label: string): DataView {
  if (typeof text !== 'string') throw new Error(`snapshot: ${label} must be a base64 string`);
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new Error(`snapshot: ${label} is not valid base64`);
  }
  if (binary.length !== byteLength) {
    throw new Error(`snapshot: ${label} holds ${binary.length} bytes, expected ${byteLength}`);
  }
  const bytes = new Uint8Array(byteLength);
  for (let i = 0; i < byteLength; i++) bytes[i] = binary.charCodeAt(i);
  return new DataView(bytes.buffer);
}

function checkFinite(values: Float32Array | Float64Array, label: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new Error(`snapshot: ${label}[${i}] is not finite`);
  }
}

export function decodeFloat32(text: unknown, length: number, label: string): Float32Array {
  const view = decodeBytes(text, length * 4, label);
  const values = Float32Array.from({ length }, (_, i) => view.getFloat32(i * 4, true));
  checkFinite(values, label);
  return values;
}

export function decodeFloat64(text: unknown, length: number, label: string): Float64Array {
  const view = decodeBytes(text, length * 8, label);
  const values = Float64Array.from({ length }, (_, i) => view.getFloat64(i * 8, true));
  checkFinite(values, label);
  return values;
}

export function decodeInt32(text: unknown, length: number, label: string): Int32Array {
  const view = decodeBytes(text, length * 4, label);
  return Int32Array.from({ length }, (_, i) => view.getInt32(i * 4, true));
}

export interface HeadState {
  readonly kernel: string;
  readonly bias: string;
}

export function encodeHead(head: HeadParams): HeadState {
  return { kernel: encodeArray(head.kernel), bias: encodeArray(head.bias) };
}

export function decodeHead(value: unknown, schema: ModelSchema, label: string): HeadParams {
  const state = record(value, label);
  const { embeddingSize, numClasses } = schema;
  const head = {
    embeddingSize,
    numClasses,
    kernel: decodeFloat32(state.kernel, embeddingSize * numClasses, `${label}.kernel`),
    bias: decodeFloat32(state.bias, numClasses, `${label}.bias`),
  };
  validateHead(head, label, schema);
  return head;
}

/** A plain object field by field (throws naming `label` otherwise). */
export function record(value: unknown, label: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`snapshot: ${label} must be an object`);
  }
  return value as Record<string, unknown>;
}

export function integerField(value: unknown, label: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`snapshot: ${label} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export interface SnapshotEnvelope {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: typeof SNAPSHOT_VERSION;
  readonly strategy: string;
  /**
   * Schema and options the state belongs to; restore refuses a snapshot taken under another configuration.
   */
  readonly config: unknown;
  readonly nextRound: number;
  readonly state: unknown;
}

export function wrapSnapshot(
  strategy: string,
  config: unknown,
  nextRound: number,
  state: unknown,
): SnapshotEnvelope {
  return { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, strategy, config, nextRound, state };
}

/** Checks the envelope against the restoring strategy and returns its nextRound and state. */
export function openSnapshot(
  snapshot: unknown,
  strategy: string,
  config: unknown,
): { nextRound: number; state: Record<string, unknown> } {
  const envelope = record(snapshot, 'snapshot');
  if (envelope.format !== SNAPSHOT_FORMAT || envelope.version !== SNAPSHOT_VERSION) {
    throw new Error(`snapshot: not a ${SNAPSHOT_FORMAT} snapshot of version ${SNAPSHOT_VERSION}`);
  }
  if (envelope.strategy !== strategy) {
    throw new Error(`snapshot: taken from strategy "${String(envelope.strategy)}", this is "${strategy}"`);
  }
  if (JSON.stringify(envelope.config) !== JSON.stringify(config)) {
    throw new Error('snapshot: taken under another schema or other options than this strategy has');
  }
  return { nextRound: integerField(envelope.nextRound, 'nextRound'), state: record(envelope.state, 'state') };
}
