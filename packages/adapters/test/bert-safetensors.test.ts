import { describe, expect, it } from 'vitest';
import {
  fromBfloat16Bits,
  MAX_HEADER_BYTES,
  SafetensorsFile,
  toBfloat16Bits,
  writeSafetensors,
} from '../src/models/safetensors';

/** A file from a raw header object and data bytes, written by hand (independent of writeSafetensors). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function u16(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint16(2 * i, v, true));
  return out;
}

describe('safetensors reader and writer', () => {
  it('decodes F32, F16 and BF16 bit patterns written by hand', () => {
    const f32 = new Uint8Array(8);
    new DataView(f32.buffer).setFloat32(0, 1.5, true);
    new DataView(f32.buffer).setFloat32(4, -2.25, true);
    const bytes = rawFile(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        // 1.0, -2.0, 65504 (largest half), 2^-24 (smallest subnormal half)
        h: { dtype: 'F16', shape: [2, 2], data_offsets: [8, 16] },
        // 1.0, -0.5, 3.140625
        b: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] },
      },
      new Uint8Array([...f32, ...u16([0x3c00, 0xc000, 0x7bff, 0x0001]), ...u16([0x3f80, 0xbf00, 0x4049])]),
    );
    const file = new SafetensorsFile(bytes, 'hand.safetensors');
    expect(file.names()).toEqual(['a', 'h', 'b']);
    expect(Array.from(file.readFloat32('a', [2]))).toEqual([1.5, -2.25]);
    expect(Array.from(file.readFloat32('h', [2, 2]))).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(file.readFloat32('b'))).toEqual([1, -0.5, 3.140625]);
  });

  it('round-trips tensors and metadata, rounding F16 and BF16 to nearest', () => {
    const values = Float32Array.from([0, 1, -1, 0.1, 1234.5678, -3e-5, 7]);
    const bytes = writeSafetensors(
      [
        { name: 'x32', shape: [7], data: values },
        { name: 'x16', shape: [7, 1], data: values, dtype: 'F16' },
        { name: 'xbf', shape: [1, 7], data: values, dtype: 'BF16' },
      ],
      { format: 'pt' },
    );
    // The header (after its 8-byte length) is padded to a multiple of 8 bytes.
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    // An unaligned copy (byteOffset 3) must read the same.
    const shifted = new Uint8Array(bytes.byteLength + 3);
    shifted.set(bytes, 3);
    const file = new SafetensorsFile(shifted.subarray(3), 'round-trip');
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(Array.from(file.readFloat32('x32'))).toEqual(Array.from(values));
    const half = file.readFloat32('x16');
    const brain = file.readFloat32('xbf');
    values.forEach((v, i) => {
      expect(Math.abs(half[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(brain[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
      expect(brain[i]).toBe(fromBfloat16Bits(toBfloat16Bits(v)));
    });
    expect(toBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // a tie rounds to even
    expect(toBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it('reads F64 tensors and refuses non-float ones by name', () => {
    const f64 = new Uint8Array(8);
    new DataView(f64.buffer).setFloat64(0, 0.25, true);
    const file = new SafetensorsFile(
      rawFile(
        {
          d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
          position_ids: { dtype: 'I64', shape: [1], data_offsets: [8, 16] },
        },
        new Uint8Array([...f64, ...new Uint8Array(8)]),
      ),
      'mixed.safetensors',
    );
    expect(Array.from(file.readFloat32('d'))).toEqual([0.25]);
    // An int tensor is fine to hold (BERT checkpoints keep position_ids), but not to read as floats.
    expect(() => file.readFloat32('position_ids')).toThrow(
      /mixed.safetensors: tensor position_ids has dtype I64; expected a float tensor/,
    );
  });

  it('names the tensor and the file for a missing tensor and a wrong shape', () => {
    const file = new SafetensorsFile(
      writeSafetensors([{ name: 'w', shape: [2, 3], data: new Float32Array(6) }]),
      'm.safetensors',
    );
    expect(() => file.readFloat32('nope')).toThrow('m.safetensors: missing tensor nope');
    expect(() => file.readFloat32('w', [3, 2])).toThrow(
      'm.safetensors: tensor w has shape [2, 3], expected [3, 2]',
    );
  });

  it('rejects an unknown dtype, naming the tensor', () => {
    const bytes = rawFile({ w: { dtype: 'F13', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2));
    expect(() => new SafetensorsFile(bytes, 'odd.safetensors')).toThrow(
      /tensor w in odd.safetensors: unknown dtype "F13"/,
    );
  });

  it('rejects truncated files, naming the file (and the tensor whose data is cut)', () => {
    const whole = writeSafetensors([
      { name: 'first', shape: [4], data: new Float32Array(4) },
      { name: 'second', shape: [4], data: new Float32Array(4) },
    ]);
    expect(() => new SafetensorsFile(whole.slice(0, whole.byteLength - 4), 'cut.safetensors')).toThrow(
      /cut.safetensors is truncated: tensor second needs data bytes up to 32 .* holds 28/,
    );
    expect(() => new SafetensorsFile(whole.slice(0, 20), 'cut.safetensors')).toThrow(
      /cut.safetensors is truncated: the header needs \d+ bytes but only 12 follow/,
    );
    expect(() => new SafetensorsFile(whole.slice(0, 5), 'cut.safetensors')).toThrow(
      'cut.safetensors is truncated: 5 bytes, too short for the 8-byte header length',
    );
  });

  it('rejects offsets that disagree with the shape or run backwards', () => {
    const data = new Uint8Array(16);
    expect(
      () =>
        new SafetensorsFile(
          rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, data),
          'o.safetensors',
        ),
    ).toThrow(/tensor w in o.safetensors: data_offsets \[0, 12\] out of range: F32 \[2\] takes 8 bytes/);
    expect(
      () =>
        new SafetensorsFile(
          rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, data),
          'o.safetensors',
        ),
    ).toThrow(/data_offsets \[8, 4\] out of range/);
    expect(
      () =>
        new SafetensorsFile(
          rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, data),
          'o.safetensors',
        ),
    ).toThrow(/data_offsets \[0\] are not two non-negative integers/);
    expect(
      () =>
        new SafetensorsFile(
          rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data),
          'o.safetensors',
        ),
    ).toThrow(/shape \[-2\] is not a list of non-negative integers/);
  });

  it('rejects a header that is too large or not JSON', () => {
    expect(
      () => new SafetensorsFile(rawFile({}, new Uint8Array(0), MAX_HEADER_BYTES + 1), 'big.safetensors'),
    ).toThrow(/big.safetensors: header of \d+ bytes is too large/);
    const notJson = rawFile({});
    notJson.set(new TextEncoder().encode('{x'), 8);
    expect(() => new SafetensorsFile(notJson, 'bad.safetensors')).toThrow(
      /bad.safetensors: header is not valid JSON/,
    );
    expect(() => new SafetensorsFile(rawFile([1, 2]), 'arr.safetensors')).toThrow(
      /header is not a JSON object/,
    );
    expect(() => new SafetensorsFile(rawFile({ __metadata__: { a: 1 } }), 'meta.safetensors')).toThrow(
      /__metadata__ must map strings to strings/,
    );
  });

  it('refuses to write data that does not fit the shape', () => {
    expect(() => writeSafetensors([{ name: 'w', shape: [2, 2], data: new Float32Array(3) }])).toThrow(
      /tensor w: shape \[2, 2\] does not hold 3 values/,
    );
  });
});
