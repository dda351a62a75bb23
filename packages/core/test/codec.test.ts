import { describe, expect, it } from 'vitest';
import {
  CodecError,
  PROTOCOL_VERSION,
  decodeUpdate,
  encodeUpdate,
  encodedSize,
  fromHalfBits,
  gaussianFrom,
  seededRandom,
  toHalfBits,
  updateFloatCount,
} from '../src/index';
import type { ClientUpdate, HeadParams, MaskedFactors, Precision } from '../src/index';

const LIMITS = { maxBytes: 1 << 24 };

function randomArray(length: number, seed: string, std = 0.05): Float32Array {
  const gaussian = gaussianFrom(seededRandom(seed));
  return Float32Array.from({ length }, () => gaussian() * std);
}

function factors(dOut: number, dIn: number, rank: number, rows: number[], seed: string): MaskedFactors {
  return {
    dOut,
    dIn,
    rank,
    rows: Int32Array.from(rows),
    A: randomArray(rank * dIn, `${seed}-A`),
    B: randomArray(rows.length * rank, `${seed}-B`),
    scale: 32 / rank,
  };
}

function head(embeddingSize: number, numClasses: number): HeadParams {
  return {
    embeddingSize,
    numClasses,
    kernel: randomArray(embeddingSize * numClasses, 'head-kernel', 0.3),
    bias: randomArray(numClasses, 'head-bias', 0.3),
  };
}

function smallUpdate(): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: 'client-7',
    round: 3,
    exampleCount: 120,
    adapters: new Map([
      ['layer0/query', factors(6, 5, 2, [1, 4], 'q')],
      ['layer0/value', factors(4, 5, 2, [0, 2, 3], 'v')],
    ]),
    dense: new Map(),
    head: head(5, 3),
  };
}

/** USE Lite shapes: 4 adapted weights (256x256 twice, 512x512 twice), rank 32, budget 0.25, head 512x2. */
function useLiteUpdate(): ClientUpdate {
  const adapters = new Map<string, MaskedFactors>();
  for (const [i, d] of [256, 256, 512, 512].entries()) {
    const kept = Math.ceil(0.25 * d);
    const rows = Array.from({ length: kept }, (_, k) => k * 4 + (i % 4));
    adapters.set(
      `encoder/layer_${i}/attention/${i % 2 === 0 ? 'query' : 'value'}`,
      factors(d, d, 32, rows, `w${i}`),
    );
  }
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: 'browser-client-0042',
    round: 12,
    exampleCount: 3200,
    adapters,
    dense: new Map(),
    head: head(512, 2),
  };
}

/** Largest |x - y| / bound over paired arrays, where `bound(i)` is the allowed error of element i. */
function worstRatio(x: Float32Array, y: Float32Array, bound: (i: number) => number): number {
  expect(y.length).toBe(x.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / bound(i));
  return worst;
}

/** Per-element int8 bound: half the row's scale (max|row| / 127), plus float32 rounding of the product. */
function int8Bound(data: Float32Array, cols: number, rowOf = (i: number) => Math.floor(i / cols)) {
  const rowMax = new Map<number, number>();
  data.forEach((value, i) => rowMax.set(rowOf(i), Math.max(rowMax.get(rowOf(i)) ?? 0, Math.abs(value))));
  return (i: number) => {
    const scale = Math.fround(rowMax.get(rowOf(i))! / 127);
    return scale / 2 + Math.abs(data[i]!) * 2 ** -23 + 1e-30;
  };
}

/** fp16: relative 1e-3 for normal halves (|x| >= 2^-14); subnormals are spaced 2^-24, so absolute 2^-25. */
function fp16Bound(data: Float32Array) {
  return (i: number) => (Math.abs(data[i]!) >= 2 ** -14 ? Math.abs(data[i]!) * 1e-3 : 2 ** -25);
}

describe('float16 conversion', () => {
  it('maps known values to their IEEE half bit patterns, rounding to nearest even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519, 0x7bff], // just under the rounding boundary
      [65520, 0x7c00], // rounds up past the largest half: Infinity
      [Infinity, 0x7c00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal steps: even is 2
      [1 + 2 ** -11, 0x3c00], // tie: stays on the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to the even mantissa
      [2 ** -26, 0x0000],
    ];
    for (const [value, bits] of cases) expect(toHalfBits(value), `toHalfBits(${value})`).toBe(bits);
    expect(toHalfBits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(Number.isNaN(fromHalfBits(0x7e00))).toBe(true);
    expect(fromHalfBits(0xfc00)).toBe(-Infinity);
  });

  it('round-trips every finite half bit pattern exactly', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) !== 0x7c00 && toHalfBits(fromHalfBits(bits)) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });
});

describe('encodeUpdate / decodeUpdate round trips', () => {
  it('fp32 is exact, metadata included, and the output never aliases the input bytes', () => {
    const update = smallUpdate();
    const bytes = encodeUpdate(update, { precision: 'fp32' });
    const decoded = decodeUpdate(bytes, LIMITS);
    expect(decoded).toEqual(update);
    expect([...decoded.adapters.keys()]).toEqual([...update.adapters.keys()]);
    bytes.fill(0);
    expect(decoded).toEqual(update);
  });

  it('decodes a message that sits at an odd offset inside a larger buffer', () => {
    const update = smallUpdate();
    const bytes = encodeUpdate(update, { precision: 'fp32' });
    const host = new Uint8Array(bytes.length + 7);
    host.set(bytes, 3);
    expect(decodeUpdate(host.subarray(3, 3 + bytes.length), LIMITS)).toEqual(update);
  });

  it('fp16 keeps relative error <= 1e-3 on every float (normal range)', () => {
    const update = useLiteUpdate();
    const decoded = decodeUpdate(encodeUpdate(update, { precision: 'fp16' }), LIMITS);
    for (const [name, original] of update.adapters) {
      const got = decoded.adapters.get(name)!;
      expect(got.rows).toEqual(original.rows);
      expect(got.scale).toBe(original.scale);
      expect(worstRatio(original.A, got.A, fp16Bound(original.A))).toBeLessThanOrEqual(1);
      expect(worstRatio(original.B, got.B, fp16Bound(original.B))).toBeLessThanOrEqual(1);
    }
    const { kernel, bias } = update.head;
    expect(worstRatio(kernel, decoded.head.kernel, fp16Bound(kernel))).toBeLessThanOrEqual(1);
    expect(worstRatio(bias, decoded.head.bias, fp16Bound(bias))).toBeLessThanOrEqual(1);
  });

  it('int8 keeps every element within half its row scale (A, B by row; head kernel per class)', () => {
    const update = useLiteUpdate();
    const decoded = decodeUpdate(encodeUpdate(update, { precision: 'int8' }), LIMITS);
    for (const [name, original] of update.adapters) {
      const got = decoded.adapters.get(name)!;
      expect(got.rows).toEqual(original.rows);
      expect(worstRatio(original.A, got.A, int8Bound(original.A, original.dIn))).toBeLessThanOrEqual(1);
      expect(worstRatio(original.B, got.B, int8Bound(original.B, original.rank))).toBeLessThanOrEqual(1);
      // Not all zeros: quantisation actually kept the signal.
      expect(worstRatio(original.A, got.A, (i) => Math.abs(original.A[i]!) + 1e-3)).toBeLessThan(1);
    }
    const { kernel, bias, numClasses } = update.head;
    const perClass = int8Bound(kernel, numClasses, (i) => i % numClasses);
    expect(worstRatio(kernel, decoded.head.kernel, perClass)).toBeLessThanOrEqual(1);
    expect(worstRatio(bias, decoded.head.bias, int8Bound(bias, bias.length))).toBeLessThanOrEqual(1);
  });

  it('int8 sends all-zero rows (fresh B) as exact zeros', () => {
    const update = smallUpdate();
    const q = update.adapters.get('layer0/query')!;
    const zeroB = {
      ...smallUpdate(),
      adapters: new Map([['layer0/query', { ...q, B: new Float32Array(q.B.length) }]]),
    };
    const decoded = decodeUpdate(encodeUpdate(zeroB, { precision: 'int8' }), LIMITS);
    expect(decoded.adapters.get('layer0/query')!.B).toEqual(new Float32Array(q.B.length));
  });

  it('headPrecision overrides the precision of the head only', () => {
    const update = useLiteUpdate();
    const decoded = decodeUpdate(encodeUpdate(update, { precision: 'int8', headPrecision: 'fp32' }), LIMITS);
    expect(decoded.head).toEqual(update.head);
    const a = update.adapters.values().next().value!.A;
    expect(decoded.adapters.values().next().value!.A).not.toEqual(a);
  });

  it('round-trips dense tensors (1-D to 3-D), int8 scaled per row over the last axis', () => {
    const dense = new Map([
      ['encoder/bias', { shape: [7], data: randomArray(7, 'd1') }],
      ['encoder/kernel', { shape: [4, 6], data: randomArray(24, 'd2') }],
      ['encoder/conv', { shape: [2, 3, 5], data: randomArray(30, 'd3') }],
    ]);
    const update: ClientUpdate = { ...smallUpdate(), adapters: new Map(), dense };
    expect(decodeUpdate(encodeUpdate(update, { precision: 'fp32' }), LIMITS)).toEqual(update);
    const decoded = decodeUpdate(encodeUpdate(update, { precision: 'int8' }), LIMITS);
    for (const [name, tensor] of dense) {
      const got = decoded.dense.get(name)!;
      expect(got.shape).toEqual(tensor.shape);
      const cols = tensor.shape[tensor.shape.length - 1]!;
      expect(worstRatio(tensor.data, got.data, int8Bound(tensor.data, cols))).toBeLessThanOrEqual(1);
    }
  });

  it('round-trips many small fields (the writer grows across scalar writes)', () => {
    const adapters = new Map<string, MaskedFactors>();
    for (let i = 0; i < 300; i++)
      adapters.set(`block_${i}/attention/query/kernel`, factors(2, 1, 1, [i % 2], `s${i}`));
    const update: ClientUpdate = { ...smallUpdate(), adapters };
    for (const precision of ['fp32', 'fp16', 'int8'] as const) {
      const decoded = decodeUpdate(encodeUpdate(update, { precision }), LIMITS);
      expect([...decoded.adapters.keys()]).toEqual([...adapters.keys()]);
    }
    expect(decodeUpdate(encodeUpdate(update, { precision: 'fp32' }), LIMITS)).toEqual(update);
  });

  it('keeps tiny subnormal-range values sensible at fp16 and exact zeros', () => {
    const update = smallUpdate();
    const q = update.adapters.get('layer0/query')!;
    const A = Float32Array.from(q.A, (_, i) => [0, -0, 1e-7, -3e-6, 6e-5][i % 5]!);
    const tiny = { ...update, adapters: new Map([['layer0/query', { ...q, A }]]) };
    const got = decodeUpdate(encodeUpdate(tiny, { precision: 'fp16' }), LIMITS).adapters.get('layer0/query')!;
    expect(worstRatio(A, got.A, fp16Bound(A))).toBeLessThanOrEqual(1);
    expect(Object.is(got.A[1], -0)).toBe(true);
  });
});

describe('sizes', () => {
  /** The documented layout, summed by hand: a cross-check that the format carries nothing unaccounted for. */
  function expectedBytes(update: ClientUpdate, precision: Precision): number {
    const tensor = (rows: number, cols: number) =>
      5 +
      (precision === 'fp32'
        ? rows * cols * 4
        : precision === 'fp16'
          ? rows * cols * 2
          : rows * 4 + rows * cols);
    let total = 8 + 2 + update.clientId.length + 16 + 4;
    for (const [name, f] of update.adapters) {
      total +=
        2 + name.length + 16 + 8 + f.rows.length * 4 + tensor(f.rank, f.dIn) + tensor(f.rows.length, f.rank);
    }
    total += 4; // dense count (none)
    const { embeddingSize, numClasses } = update.head;
    return total + 8 + tensor(numClasses, embeddingSize) + tensor(1, numClasses);
  }

  it('match the layout exactly; fp16 is ~1/2 of fp32, int8 ~1/4 plus one float32 scale per row', () => {
    const update = useLiteUpdate();
    const size: Record<Precision, number> = { fp32: 0, fp16: 0, int8: 0 };
    for (const precision of ['fp32', 'fp16', 'int8'] as const) {
      const bytes = encodeUpdate(update, { precision });
      size[precision] = encodedSize(bytes);
      expect(size[precision]).toBe(bytes.length);
      expect(size[precision]).toBe(expectedBytes(update, precision));
    }
    const floats = updateFloatCount(update);
    // 2 x (32*256 + 64*32) + 2 x (32*512 + 128*32) + 512*2 + 2
    expect(floats).toBe(61440 + 1026);
    const rowIndexBytes = (64 + 64 + 128 + 128) * 4;
    expect(size.fp32).toBeGreaterThan(floats * 4 + rowIndexBytes);
    expect(size.fp32).toBeLessThan(floats * 4 + rowIndexBytes + 512); // metadata stays under 512 bytes
    expect(size.fp16 / size.fp32).toBeGreaterThan(0.5);
    expect(size.fp16 / size.fp32).toBeLessThan(0.51);
    // Scales: A has 32 rows and B its kept rows, per weight; the head has one per class plus one for the bias.
    const scaleRows = 4 * 32 + (64 + 64 + 128 + 128) + 2 + 1;
    const int8Floor = floats + scaleRows * 4 + rowIndexBytes;
    expect(size.int8).toBeGreaterThan(int8Floor);
    expect(size.int8).toBeLessThan(int8Floor + 512);
    expect(size.int8 / size.fp32).toBeLessThan(0.28);
    console.log(`USE Lite update bytes: fp32 ${size.fp32}, fp16 ${size.fp16}, int8 ${size.int8}`);
  });
});

describe('encodeUpdate refuses what its decoder would refuse', () => {
  const cases: [string, (u: ClientUpdate) => ClientUpdate, string, RegExp][] = [
    ['NaN in A', (u) => withQuery(u, { A: nan(u) }), 'nonfinite', /layer0\/query" A\[3\] is NaN/],
    ['unsorted rows', (u) => withQuery(u, { rows: Int32Array.from([4, 1]) }), 'index', /strictly ascending/],
    ['B of the wrong length', (u) => withQuery(u, { B: new Float32Array(3) }), 'shape', /B has 3 values/],
    ['another protocol version', (u) => ({ ...u, protocolVersion: 2 }), 'version', /protocolVersion is 2/],
    ['a negative round', (u) => ({ ...u, round: -1 }), 'field', /round must be a non-negative integer/],
    ['a fractional example count', (u) => ({ ...u, exampleCount: 1.5 }), 'field', /exampleCount/],
    ['a clientId with a newline', (u) => ({ ...u, clientId: 'a\nb' }), 'field', /clientId/],
    ['an empty weight name', (u) => ({ ...u, adapters: new Map([['', q(u)]]) }), 'name', /adapter name/],
  ];
  for (const [what, mutate, code, message] of cases) {
    it(`refuses ${what}`, () =>
      expectCodecError(() => encodeUpdate(mutate(smallUpdate()), { precision: 'fp32' }), code, message));
  }

  it('refuses values fp16 cannot hold, and unknown precisions', () => {
    const big = withQuery(smallUpdate(), { A: new Float32Array(10).fill(70000) });
    expectCodecError(() => encodeUpdate(big, { precision: 'fp16' }), 'nonfinite', /overflows fp16/);
    expect(decodeUpdate(encodeUpdate(big, { precision: 'fp32' }), LIMITS)).toEqual(big);
    expectCodecError(
      () => encodeUpdate(smallUpdate(), { precision: 'bf16' as Precision }),
      'input',
      /precision/,
    );
  });
});

function q(update: ClientUpdate): MaskedFactors {
  return update.adapters.get('layer0/query')!;
}

function nan(update: ClientUpdate): Float32Array {
  const A = q(update).A.slice();
  A[3] = Number.NaN;
  return A;
}

function withQuery(update: ClientUpdate, patch: Partial<MaskedFactors>): ClientUpdate {
  const adapters = new Map(update.adapters);
  adapters.set('layer0/query', { ...q(update), ...patch });
  return { ...update, adapters };
}

function expectCodecError(run: () => unknown, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CodecError);
  expect((caught as CodecError).code).toBe(code);
  expect((caught as CodecError).message).toMatch(message);
}
