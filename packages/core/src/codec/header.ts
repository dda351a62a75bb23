import { PROTOCOL_VERSION } from '../update';
import { ByteReader } from './bytes';
import type { ByteWriter } from './bytes';
import { CodecError } from './errors';
import type { ResolvedLimits } from './limits';

/**
 * Every message starts with 8 bytes: magic "FHFT", u16 protocol version, u8 message kind, u8 flags (0).
 * The version sits right after the magic so any future layout change is refused before it is misread.
 */

const MAGIC = [0x46, 0x48, 0x46, 0x54];
export const HEADER_BYTES = 8;

export const MESSAGE_KIND = { update: 1, modelPayload: 2 } as const;
export type MessageKind = keyof typeof MESSAGE_KIND;

export function writeHeader(writer: ByteWriter, kind: MessageKind, protocolVersion: number): void {
  if (protocolVersion !== PROTOCOL_VERSION) {
    throw new CodecError(
      'version',
      `protocolVersion is ${protocolVersion}, this codec writes ${PROTOCOL_VERSION}`,
    );
  }
  for (const byte of MAGIC) writer.u8(byte);
  writer.u16(PROTOCOL_VERSION);
  writer.u8(MESSAGE_KIND[kind]);
  writer.u8(0);
}

/** Checks size, magic, version and kind, in that order, and returns a reader positioned after the header. */
export function openMessage(bytes: unknown, limits: ResolvedLimits, kind: MessageKind): ByteReader {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('input', 'a message must be a Uint8Array');
  if (bytes.byteLength > limits.maxBytes) {
    throw new CodecError('size', `message is ${bytes.byteLength} bytes, over maxBytes ${limits.maxBytes}`);
  }
  const reader = new ByteReader(bytes);
  for (let i = 0; i < MAGIC.length; i++) {
    if (reader.u8('magic') !== MAGIC[i])
      throw new CodecError('magic', 'not a FedHFT message (bad magic bytes)');
  }
  const version = reader.u16('protocol version');
  if (version !== PROTOCOL_VERSION) {
    throw new CodecError('version', `protocol version ${version}, expected ${PROTOCOL_VERSION}`);
  }
  const code = reader.u8('message kind');
  if (code !== MESSAGE_KIND[kind]) {
    throw new CodecError('magic', `message kind ${code}, expected ${MESSAGE_KIND[kind]} (${kind})`);
  }
  const flags = reader.u8('flags');
  if (flags !== 0) throw new CodecError('field', `flags byte is ${flags}, expected 0`);
  return reader;
}
