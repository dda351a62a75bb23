import { CodecError } from './errors';

/**
 * Little-endian byte writer and reader. Every read is bounds-checked, so a short or hostile message ends in a
 * CodecError('truncated') rather than a RangeError or a silent zero.
 */

export class ByteWriter {
  private buffer = new Uint8Array(1024);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  /** Reserves `count` bytes and returns the offset where they start. */
  private grow(count: number): number {
    const start = this.length;
    const needed = start + count;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const next = new Uint8Array(capacity);
      next.set(this.buffer.subarray(0, start));
      this.buffer = next;
      this.view = new DataView(next.buffer);
    }
    this.length = needed;
    return start;
  }

  // Each write reserves before it reads this.view: growing replaces the view.
  u8(value: number): void {
    const at = this.grow(1);
    this.view.setUint8(at, value);
  }

  u16(value: number): void {
    const at = this.grow(2);
    this.view.setUint16(at, value, true);
  }

  u32(value: number): void {
    const at = this.grow(4);
    this.view.setUint32(at, value, true);
  }

  f64(value: number): void {
    const at = this.grow(8);
    this.view.setFloat64(at, value, true);
  }

  /** Reserves `count` bytes and hands back a DataView over them, for bulk array writes. */
  block(count: number): DataView {
    const start = this.grow(count);
    return new DataView(this.buffer.buffer, start, count);
  }

  /** A tight copy of what was written. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

export class ByteReader {
  private readonly view: DataView;
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  /** Advances past `count` bytes, returning their start; throws if the message is shorter. */
  private take(count: number, what: string): number {
    if (count > this.remaining) {
      throw new CodecError(
        'truncated',
        `${what} needs ${count} bytes at offset ${this.offset}, only ${this.remaining} left`,
      );
    }
    const start = this.offset;
    this.offset += count;
    return start;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), true);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  f64(what: string): number {
    return this.view.getFloat64(this.take(8, what), true);
  }

  /** A DataView over the next `count` bytes (no copy); the caller decodes from it into fresh arrays. */
  block(count: number, what: string): DataView {
    const start = this.take(count, what);
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + start, count);
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new CodecError(
        'trailing',
        `${this.remaining} unexpected bytes after the message end at offset ${this.offset}`,
      );
    }
  }
}
