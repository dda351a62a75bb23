/** Machine-readable reasons a message is refused; the message text names the field, weight or index. */
export type CodecErrorCode =
  | 'input' // not a Uint8Array, or bad encode options
  | 'magic' // not a FedHFT message, or the wrong message kind
  | 'version' // another protocol version
  | 'size' // over limits.maxBytes, or a blob's byte length disagrees with its shape and precision
  | 'truncated' // the message ends inside a field
  | 'trailing' // bytes after the last field
  | 'shape' // dims, ranks or counts out of limits, inconsistent, or not the expected ones
  | 'index' // row indices unsorted, repeated or outside [0, dOut)
  | 'nonfinite' // NaN or Infinity (after dequantisation), or a value fp16 cannot hold
  | 'name' // a weight name that is malformed or not in the expected schema
  | 'field' // a scalar field out of its domain (round, exampleCount, clientId, scale, membership, precision)
  | 'duplicate'; // a weight name given twice

/** The one error type the codec throws, for encoding and decoding alike. */
export class CodecError extends Error {
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'CodecError';
    this.code = code;
  }
}
