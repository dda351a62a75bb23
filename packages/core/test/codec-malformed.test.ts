import { describe, expect, it } from 'vitest';
import {
  CodecError,
  PROTOCOL_VERSION,
  decodeUpdate,
  encodeModelPayload,
  encodeUpdate,
  seededRandom,
} from '../src/index';
import type { ClientUpdate, DecodeLimits, Precision } from '../src/index';

const LIMITS: DecodeLimits = { maxBytes: 1 << 20 };

function counting(length: number, start: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => (start + i) / 16 - 0.5);
}

const UPDATE: ClientUpdate = {
  protocolVersion: PROTOCOL_VERSION,
  clientId: 'client-7',
  round: 3,
  exampleCount: 120,
  adapters: new Map([
    [
      'layer0/query',
      {
        dOut: 6,
        dIn: 5,
        rank: 2,
        rows: Int32Array.from([1, 4]),
        A: counting(10, 0),
        B: counting(4, 3),
        scale: 16,
      },
    ],
    [
      'layer0/value',
      {
        dOut: 4,
        dIn: 5,
        rank: 2,
        rows: Int32Array.from([0, 2, 3]),
        A: counting(10, 5),
        B: counting(6, 1),
        scale: 16,
      },
    ],
  ]),
  dense: new Map(),
  head: { embeddingSize: 5, numClasses: 3, kernel: counting(15, 2), bias: counting(3, 9) },
};

interface TensorAt {
  precision: number;
  length: number;
  data: number;
}

interface AdapterAt {
  name: number;
  dOut: number;
  dIn: number;
  rank: number;
  kept: number;
  scale: number;
  rows: number;
  A: TensorAt;
  B: TensorAt;
}

/**
 * Field offsets of an encoded update, found by walking the documented layout independently of the decoder:
 * header 8 | clientId u16+ASCII | round f64 | exampleCount f64 | u32 count | adapters | u32 dense count | head.
 */
function layout(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  const clientId = at;
  at += 2 + view.getUint16(at, true);
  const round = at;
  const exampleCount = at + 8;
  const adapterCount = at + 16;
  at += 20;
  const tensor = (): TensorAt => {
    const t = { precision: at, length: at + 1, data: at + 5 };
    at += 5 + view.getUint32(at + 1, true);
    return t;
  };
  const adapters: AdapterAt[] = [];
  for (let w = view.getUint32(adapterCount, true); w > 0; w--) {
    const name = at;
    at += 2 + view.getUint16(at, true);
    const fields = {
      name,
      dOut: at,
      dIn: at + 4,
      rank: at + 8,
      kept: at + 12,
      scale: at + 16,
      rows: at + 24,
    };
    at += 24 + 4 * view.getUint32(fields.kept, true);
    adapters.push({ ...fields, A: tensor(), B: tensor() });
  }
  const denseCount = at;
  at += 4;
  const head = { embeddingSize: at, numClasses: at + 4 };
  at += 8;
  return {
    view,
    clientId,
    round,
    exampleCount,
    adapterCount,
    adapters,
    denseCount,
    head: { ...head, kernel: tensor(), bias: tensor() },
  };
}

type Layout = ReturnType<typeof layout>;

function mutated(precision: Precision, patch: (layout: Layout, bytes: Uint8Array) => void): Uint8Array {
  const bytes = encodeUpdate(UPDATE, { precision });
  patch(layout(bytes), bytes);
  return bytes;
}

function expectRefused(
  bytes: Uint8Array,
  code: string,
  message: RegExp,
  limits: DecodeLimits = LIMITS,
): void {
  let caught: unknown;
  try {
    decodeUpdate(bytes, limits);
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a CodecError').toBeInstanceOf(CodecError);
  expect((caught as CodecError).code).toBe(code);
  expect((caught as CodecError).message).toMatch(message);
}

const query = (l: Layout) => l.adapters[0]!;
const value = (l: Layout) => l.adapters[1]!;

describe('decodeUpdate refuses malformed messages with a typed, named error', () => {
  it('accepts the unmodified fixture, and the test layout walker agrees with the encoder', () => {
    const bytes = encodeUpdate(UPDATE, { precision: 'fp32' });
    expect(decodeUpdate(bytes, LIMITS)).toEqual(UPDATE);
    const l = layout(bytes);
    expect(l.head.bias.data + 12).toBe(bytes.length);
    expect(l.view.getFloat32(query(l).A.data + 4, true)).toBe(UPDATE.adapters.get('layer0/query')!.A[1]);
  });

  it('truncated at many offsets, naming the field it ran out in', () => {
    const bytes = encodeUpdate(UPDATE, { precision: 'fp32' });
    const l = layout(bytes);
    const named: [number, RegExp][] = [
      [0, /magic/],
      [5, /protocol version/],
      [9, /clientId length/],
      [12, /clientId needs 8 bytes/],
      [l.round + 3, /round/],
      [l.adapterCount + 2, /adapter count/],
      [query(l).rows + 4, /"layer0\/query" rows/],
      [query(l).A.data + 17, /"layer0\/query" A needs 40 bytes/],
      [value(l).B.length, /"layer0\/value" B byte length/],
      [l.denseCount, /dense tensor count/],
      [l.head.kernel.data + 1, /head kernel/],
      [bytes.length - 1, /head bias needs 12 bytes/],
    ];
    for (const [cut, message] of named) expectRefused(bytes.slice(0, cut), 'truncated', message);
    for (let cut = 0; cut < bytes.length; cut++)
      expectRefused(bytes.slice(0, cut), 'truncated', /needs \d+ bytes/);
  });

  it('a flipped protocol version', () => {
    expectRefused(
      mutated('fp32', (_, b) => (b[4]! ^= 0x02)),
      'version',
      /protocol version 3, expected 1/,
    );
  });

  it('bad magic, another message kind, a nonzero flags byte', () => {
    expectRefused(
      mutated('fp32', (_, b) => (b[0] = 0x47)),
      'magic',
      /bad magic/,
    );
    const payload = encodeModelPayload(
      {
        protocolVersion: 1,
        round: 0,
        adapters: { kind: 'mixture', factors: new Map() },
        preMasks: new Map(),
        dense: new Map(),
        head: UPDATE.head,
      },
      { precision: 'fp32' },
    );
    expectRefused(payload, 'magic', /message kind 2, expected 1 \(update\)/);
    expectRefused(
      mutated('fp32', (_, b) => (b[7] = 1)),
      'field',
      /flags/,
    );
  });

  it('over maxBytes, refused before any parsing', () => {
    const bytes = encodeUpdate(UPDATE, { precision: 'fp32' });
    expectRefused(
      bytes,
      'size',
      new RegExp(`message is ${bytes.length} bytes, over maxBytes ${bytes.length - 1}`),
      {
        maxBytes: bytes.length - 1,
      },
    );
    expectRefused(new Uint8Array(4096), 'size', /over maxBytes 100/, { maxBytes: 100 });
  });

  it('huge declared dims over a tiny body: out of limits, or disagreeing with the blob length', () => {
    const huge = mutated('fp32', (l) => l.view.setUint32(query(l).dIn, 0xffffffff, true));
    expectRefused(huge, 'shape', /"layer0\/query" dIn = 4294967295 is outside \[1, 8192\]/);
    const large = mutated('fp32', (l) => l.view.setUint32(query(l).dIn, 8000, true));
    expectRefused(
      large,
      'size',
      /"layer0\/query" A declares 40 bytes, its shape \[2, 8000\] at fp32 needs 64000/,
    );
    // Shape and blob length agree but the bytes are not there: refused before the 64 KB array is allocated.
    const consistent = mutated('fp32', (l) => {
      l.view.setUint32(query(l).dIn, 8000, true);
      l.view.setUint32(query(l).A.length, 64000, true);
    });
    expectRefused(consistent, 'truncated', /"layer0\/query" A needs 64000 bytes/);
    const bigBlob = mutated('int8', (l) => l.view.setUint32(value(l).B.length, 0xfffffff0, true));
    expectRefused(bigBlob, 'size', /"layer0\/value" B declares 4294967280 bytes/);
  });

  it('counts and ranks beyond the limits', () => {
    const many = mutated('fp32', (l) => l.view.setUint32(l.adapterCount, 0xffffffff, true));
    expectRefused(many, 'shape', /4294967295 adapters exceed maxWeights 512/);
    const bytes = encodeUpdate(UPDATE, { precision: 'fp32' });
    expectRefused(bytes, 'shape', /"layer0\/query" rank = 2 is outside \[1, 1\]/, { ...LIMITS, maxRank: 1 });
    expectRefused(bytes, 'shape', /head numClasses = 3 is outside \[1, 2\]/, { ...LIMITS, maxClasses: 2 });
    expectRefused(bytes, 'shape', /head embeddingSize = 5 is outside \[1, 4\]/, {
      ...LIMITS,
      maxEmbedding: 4,
    });
    expectRefused(bytes, 'shape', /2 adapters exceed maxWeights 1/, { ...LIMITS, maxWeights: 1 });
    const manyRows = mutated('fp32', (l) => l.view.setUint32(query(l).kept, 7, true));
    expectRefused(manyRows, 'shape', /"layer0\/query" kept row count = 7 is outside \[1, 6\]/);
    const dense = mutated('fp32', (l) => l.view.setUint32(l.denseCount, 1000, true));
    expectRefused(dense, 'shape', /1000 dense tensors exceed maxWeights/);
  });

  it('NaN in A (fp32)', () => {
    const bytes = mutated('fp32', (l) => l.view.setFloat32(query(l).A.data + 3 * 4, Number.NaN, true));
    expectRefused(bytes, 'nonfinite', /"layer0\/query" A\[3\] is NaN/);
  });

  it('Infinity in the head (fp32 kernel and bias)', () => {
    const kernel = mutated('fp32', (l) => l.view.setFloat32(l.head.kernel.data + 8, Infinity, true));
    expectRefused(kernel, 'nonfinite', /head kernel \(class-major\)\[2\] is Infinity/);
    const bias = mutated('fp32', (l) => l.view.setFloat32(l.head.bias.data + 4, -Infinity, true));
    expectRefused(bias, 'nonfinite', /head bias\[1\] is -Infinity/);
  });

  it('Infinity or NaN after dequantisation (fp16 bits, int8 scales)', () => {
    const half = mutated('fp16', (l) => l.view.setUint16(value(l).B.data + 2, 0x7c00, true));
    expectRefused(half, 'nonfinite', /"layer0\/value" B\[1\] is Infinity/);
    const halfNan = mutated('fp16', (l) => l.view.setUint16(value(l).A.data, 0xfe01, true));
    expectRefused(halfNan, 'nonfinite', /"layer0\/value" A\[0\] is NaN/);
    const scale = mutated('int8', (l) => l.view.setFloat32(query(l).A.data + 4, Number.NaN, true));
    expectRefused(scale, 'nonfinite', /"layer0\/query" A row 1 has int8 scale NaN/);
    // A finite scale whose product with 127 overflows float32.
    const overflow = mutated('int8', (l) => l.view.setFloat32(query(l).B.data, 3e38, true));
    expectRefused(overflow, 'nonfinite', /"layer0\/query" B\[\d\] is -?Infinity/);
    const negative = mutated('int8', (l) => l.view.setFloat32(query(l).B.data, -1, true));
    expectRefused(negative, 'field', /negative int8 scale/);
  });

  it('row index equal to dOut, unsorted rows, repeated rows', () => {
    const atEnd = mutated('fp32', (l) => l.view.setInt32(query(l).rows + 4, 6, true));
    expectRefused(atEnd, 'index', /"layer0\/query" rows holds row 6, outside \[0, 6\)/);
    const negative = mutated('fp32', (l) => l.view.setInt32(query(l).rows, -1, true));
    expectRefused(negative, 'index', /holds row -1/);
    const unsorted = mutated('fp32', (l) => l.view.setInt32(value(l).rows + 4, 3, true));
    expectRefused(unsorted, 'index', /"layer0\/value" rows must be strictly ascending \(row 3 after 3\)/);
    const swapped = mutated('fp32', (l) => {
      l.view.setInt32(value(l).rows, 2, true);
      l.view.setInt32(value(l).rows + 4, 0, true);
    });
    expectRefused(swapped, 'index', /strictly ascending \(row 0 after 2\)/);
  });

  it('a duplicate weight name', () => {
    const bytes = mutated('fp32', (l, b) =>
      b.set(new TextEncoder().encode('layer0/query'), value(l).name + 2),
    );
    expectRefused(bytes, 'duplicate', /adapter "layer0\/query" appears twice/);
  });

  it('trailing garbage', () => {
    const bytes = encodeUpdate(UPDATE, { precision: 'fp16' });
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expectRefused(
      longer,
      'trailing',
      new RegExp(`3 unexpected bytes after the message end at offset ${bytes.length}`),
    );
  });

  it('names and shapes outside the expected schema', () => {
    const bytes = encodeUpdate(UPDATE, { precision: 'int8' });
    const schema = new Map([
      ['layer0/query', { dOut: 6, dIn: 5 }],
      ['layer0/value', { dOut: 4, dIn: 5 }],
    ]);
    const head = { embeddingSize: 5, numClasses: 3 };
    expect(decodeUpdate(bytes, { ...LIMITS, expected: schema, expectedHead: head }).adapters.size).toBe(2);
    const wrongDims = new Map([...schema, ['layer0/query', { dOut: 6, dIn: 4 }]]);
    expectRefused(bytes, 'shape', /"layer0\/query" is 6x5, expected 6x4/, { ...LIMITS, expected: wrongDims });
    const onlyQuery = new Map([['layer0/query', { dOut: 6, dIn: 5 }]]);
    expectRefused(bytes, 'name', /"layer0\/value" is not an expected adapted weight/, {
      ...LIMITS,
      expected: onlyQuery,
    });
    const binary = { embeddingSize: 5, numClasses: 2 };
    expectRefused(bytes, 'shape', /head is \[5, 3\], expected \[5, 2\]/, { ...LIMITS, expectedHead: binary });
  });

  it('negative or fractional round and exampleCount', () => {
    expectRefused(
      mutated('fp32', (l) => l.view.setFloat64(l.round, -1, true)),
      'field',
      /round must be a non-negative integer, got -1/,
    );
    expectRefused(
      mutated('fp32', (l) => l.view.setFloat64(l.exampleCount, 2.5, true)),
      'field',
      /exampleCount must be a non-negative integer, got 2.5/,
    );
    expectRefused(
      mutated('fp32', (l) => l.view.setFloat64(l.round, Number.NaN, true)),
      'field',
      /round/,
    );
  });

  it('a clientId that is not a short printable string, and malformed names', () => {
    expectRefused(
      mutated('fp32', (l, b) => (b[l.clientId + 4] = 0x07)),
      'field',
      /clientId must be 1-128 printable/,
    );
    const empty = mutated('fp32', (l) => l.view.setUint16(l.clientId, 0, true));
    expectRefused(empty, 'field', /clientId length 0 is outside \[1, 128\]/);
    const long = mutated('fp32', (l) => l.view.setUint16(l.clientId, 5000, true));
    expectRefused(long, 'field', /clientId length 5000/);
    const badName = mutated('fp32', (l, b) => (b[query(l).name + 3] = 0xff));
    expectRefused(badName, 'name', /adapter 0 name must be 1-256 printable ASCII/);
  });

  it('an unknown precision code and a non-positive scale', () => {
    expectRefused(
      mutated('fp32', (l, b) => (b[value(l).A.precision] = 7)),
      'field',
      /"layer0\/value" A has unknown precision code 7/,
    );
    expectRefused(
      mutated('fp32', (l) => l.view.setFloat64(query(l).scale, 0, true)),
      'field',
      /"layer0\/query" scale/,
    );
    expectRefused(
      mutated('fp32', (l) => l.view.setFloat64(query(l).scale, Infinity, true)),
      'field',
      /scale/,
    );
  });

  it('something that is not a Uint8Array', () => {
    let caught: unknown;
    try {
      decodeUpdate([1, 2, 3] as unknown as Uint8Array, LIMITS);
    } catch (error) {
      caught = error;
    }
    expect((caught as CodecError).code).toBe('input');
  });
});

describe('decodeUpdate under random mutation', () => {
  it('500 mutated messages either decode to a valid update or throw CodecError, quickly', () => {
    const random = seededRandom('codec-fuzz');
    const int = (n: number) => Math.floor(random() * n);
    const bases = (['fp32', 'fp16', 'int8'] as const).map((precision) => encodeUpdate(UPDATE, { precision }));
    const interesting = [0, 1, 2, 5, 6, 0x7fffffff, 0xffffffff, 8192, 65536];
    const outcomes = { decoded: 0, refused: new Map<string, number>() };
    const started = performance.now();
    for (let trial = 0; trial < 500; trial++) {
      const base = bases[trial % bases.length]!;
      let bytes = base.slice();
      const kind = int(6);
      if (kind === 0) {
        for (let flips = 1 + int(3); flips > 0; flips--) bytes[int(bytes.length)]! ^= 1 << int(8);
      } else if (kind === 1) {
        bytes[int(bytes.length)] = int(256);
      } else if (kind === 2) {
        bytes = bytes.slice(0, int(bytes.length));
      } else if (kind === 3) {
        const at = int(bytes.length - 4);
        new DataView(bytes.buffer).setUint32(at, interesting[int(interesting.length)]!, true);
      } else if (kind === 4) {
        const at = int(bytes.length);
        bytes = Uint8Array.from([...bytes.slice(0, at), int(256), ...bytes.slice(at)]);
      } else {
        const at = int(bytes.length);
        bytes = Uint8Array.from([...bytes.slice(0, at), ...bytes.slice(at + 1)]);
      }
      try {
        const decoded = decodeUpdate(bytes, LIMITS);
        // Valid means its own encoder, which validates everything, accepts it and it round-trips.
        expect(decodeUpdate(encodeUpdate(decoded, { precision: 'fp32' }), LIMITS)).toEqual(decoded);
        outcomes.decoded++;
      } catch (error) {
        if (!(error instanceof CodecError)) throw new Error(`trial ${trial} threw ${String(error)}`);
        outcomes.refused.set(error.code, (outcomes.refused.get(error.code) ?? 0) + 1);
      }
    }
    expect(performance.now() - started).toBeLessThan(10_000);
    // Both paths were exercised: value bits decode fine, structural damage is refused.
    expect(outcomes.decoded).toBeGreaterThan(20);
    expect(outcomes.refused.size).toBeGreaterThan(4);
    console.log(`fuzz: ${outcomes.decoded} decoded, refused by code`, Object.fromEntries(outcomes.refused));
  });
});
