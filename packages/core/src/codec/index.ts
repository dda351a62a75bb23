/** Binary wire codec for client updates and model payloads (little-endian, versioned, validated). */
export { CodecError } from './errors';
export type { CodecErrorCode } from './errors';
export { DEFAULT_DECODE_LIMITS } from './limits';
export type { DecodeLimits } from './limits';
export { decodeLimits } from './schema-limits';
export type { Precision } from './tensor';
export type { EncodeOptions } from './client-update';
export { decodeUpdate, encodeUpdate, updateFloatCount } from './client-update';
export { decodeModelPayload, encodeModelPayload, modelPayloadFloatCount } from './model-payload';
export type { FactorSet, LowRankFactors, ModelPayload, PayloadAdapters, RowMask } from './model-payload';
export { fromHalfBits, toHalfBits } from './half';

/** Bytes a message costs on the wire (the metric reported for communication). */
export function encodedSize(message: Uint8Array): number {
  return message.byteLength;
}
