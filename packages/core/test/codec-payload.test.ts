import { describe, expect, it } from 'vitest';
import {
  CodecError,
  PROTOCOL_VERSION,
  decodeModelPayload,
  encodeModelPayload,
  encodeUpdate,
  encodedSize,
  gaussianFrom,
  modelPayloadFloatCount,
  seededRandom,
} from '../src/index';
import type { DecodeLimits, FactorSet, LowRankFactors, ModelPayload } from '../src/index';

const LIMITS: DecodeLimits = { maxBytes: 1 << 24 };

function randomArray(length: number, seed: string): Float32Array {
  const gaussian = gaussianFrom(seededRandom(seed));
  return Float32Array.from({ length }, () => gaussian() * 0.05);
}

function lowRank(dOut: number, dIn: number, rank: number, seed: string): LowRankFactors {
  return {
    dOut,
    dIn,
    rank,
    B: randomArray(dOut * rank, `${seed}B`),
    A: randomArray(rank * dIn, `${seed}A`),
    scale: 1,
  };
}

function factorSet(seed: string, rank = 3): FactorSet {
  return new Map([
    ['layer0/query', lowRank(8, 6, rank, `${seed}q`)],
    ['layer0/value', lowRank(8, 6, rank, `${seed}v`)],
  ]);
}

const HEAD = { embeddingSize: 6, numClasses: 2, kernel: randomArray(12, 'k'), bias: randomArray(2, 'b') };

function mixture(): ModelPayload {
  return {
    protocolVersion: PROTOCOL_VERSION,
    round: 4,
    adapters: { kind: 'mixture', factors: factorSet('m') },
    preMasks: new Map([
      ['layer0/query', { dOut: 8, rows: Int32Array.from([0, 3, 7]) }],
      ['layer0/value', { dOut: 8, rows: Int32Array.from([2, 5]) }],
    ]),
    head: HEAD,
    dense: new Map(),
  };
}

function clusters(): ModelPayload {
  return {
    ...mixture(),
    adapters: {
      kind: 'clusters',
      clusters: [factorSet('c0'), factorSet('c1', 2), factorSet('c2')],
      membership: Float64Array.from([0.5, 0.3, 0.2]),
    },
  };
}

function clustersOf(payload: ModelPayload) {
  if (payload.adapters.kind !== 'clusters') throw new Error('expected the clusters mode');
  return payload.adapters;
}

function expectCodecError(run: () => unknown, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a CodecError').toBeInstanceOf(CodecError);
  expect((caught as CodecError).code).toBe(code);
  expect((caught as CodecError).message).toMatch(message);
}

describe('encodeModelPayload / decodeModelPayload', () => {
  it('round-trips a personalized mixture with pre-masks exactly at fp32', () => {
    const payload = mixture();
    expect(decodeModelPayload(encodeModelPayload(payload, { precision: 'fp32' }), LIMITS)).toEqual(payload);
  });

  it('round-trips the exact alternative (per-cluster factors, ranks may differ, and memberships)', () => {
    const payload = clusters();
    const decoded = decodeModelPayload(encodeModelPayload(payload, { precision: 'fp32' }), LIMITS);
    expect(decoded).toEqual(payload);
  });

  it('round-trips a full fine-tuning payload (dense deltas, no factors)', () => {
    const payload: ModelPayload = {
      ...mixture(),
      adapters: { kind: 'mixture', factors: new Map() },
      preMasks: new Map(),
      dense: new Map([['encoder/kernel', { shape: [6, 8], data: randomArray(48, 'd') }]]),
    };
    expect(decodeModelPayload(encodeModelPayload(payload, { precision: 'fp32' }), LIMITS)).toEqual(payload);
  });

  it('fp16 and int8 shrink the download with bounded error; pre-masks and memberships stay exact', () => {
    const payload = clusters();
    const fp32 = encodeModelPayload(payload, { precision: 'fp32' });
    for (const precision of ['fp16', 'int8'] as const) {
      const bytes = encodeModelPayload(payload, { precision });
      const decoded = decodeModelPayload(bytes, LIMITS);
      expect(decoded.preMasks).toEqual(payload.preMasks);
      expect(clustersOf(decoded).membership).toEqual(Float64Array.from([0.5, 0.3, 0.2]));
      const original = clustersOf(payload).clusters[1]!.get('layer0/value')!;
      const got = clustersOf(decoded).clusters[1]!.get('layer0/value')!;
      // Loose bound for both: half a row scale is at most max|B| / 254.
      const maxAbs = Math.max(...original.B.map(Math.abs));
      for (let i = 0; i < original.B.length; i++) {
        expect(Math.abs(got.B[i]! - original.B[i]!)).toBeLessThanOrEqual(maxAbs / 254 + 1e-9);
      }
      expect(encodedSize(bytes)).toBeLessThan(encodedSize(fp32));
    }
    // At realistic sizes: 512x512 at rank 32, 2 clusters.
    const big: ModelPayload = {
      ...payload,
      adapters: {
        kind: 'clusters',
        clusters: [0, 1].map((j) => new Map([['layer0/query', lowRank(512, 512, 32, `big${j}`)]])),
        membership: Float64Array.from([0.25, 0.75]),
      },
      preMasks: new Map(),
    };
    const size = (precision: 'fp32' | 'fp16' | 'int8') => encodedSize(encodeModelPayload(big, { precision }));
    expect(size('fp16') / size('fp32')).toBeLessThan(0.51);
    expect(size('int8') / size('fp32')).toBeLessThan(0.27);
    expect(modelPayloadFloatCount(payload)).toBe(3 * 2 * (8 * 3 + 3 * 6) - 2 * (8 + 6) + 14);
  });
});

describe('model payload validation', () => {
  const cases: [string, () => ModelPayload, string, RegExp][] = [
    [
      'memberships that do not sum to 1',
      () => ({
        ...clusters(),
        adapters: { ...clusterAdapters(), membership: Float64Array.from([0.5, 0.3, 0.3]) },
      }),
      'field',
      /membership sums to 1\.1/,
    ],
    [
      'a NaN membership',
      () => ({
        ...clusters(),
        adapters: { ...clusterAdapters(), membership: Float64Array.from([Number.NaN, 0.5, 0.5]) },
      }),
      'nonfinite',
      /membership\[0\] is NaN/,
    ],
    [
      'one membership per cluster',
      () => ({ ...clusters(), adapters: { ...clusterAdapters(), membership: Float64Array.from([1]) } }),
      'shape',
      /membership has 1 entries for 3 clusters/,
    ],
    [
      'clusters that disagree on dims',
      () => ({
        ...clusters(),
        adapters: {
          ...clusterAdapters(),
          clusters: [factorSet('a'), new Map([...factorSet('b'), ['layer0/value', lowRank(8, 5, 3, 'x')]])],
          membership: Float64Array.from([0.5, 0.5]),
        },
      }),
      'shape',
      /cluster 1 weight "layer0\/value" is 8x5, cluster 0 has 8x6/,
    ],
    [
      'a pre-mask row equal to dOut',
      () => ({
        ...mixture(),
        preMasks: new Map([['layer0/query', { dOut: 8, rows: Int32Array.from([1, 8]) }]]),
      }),
      'index',
      /pre-mask "layer0\/query" rows holds row 8, outside \[0, 8\)/,
    ],
    [
      'a pre-mask whose dOut disagrees with its factors',
      () => ({
        ...mixture(),
        preMasks: new Map([['layer0/query', { dOut: 9, rows: Int32Array.from([1]) }]]),
      }),
      'shape',
      /pre-mask "layer0\/query" has dOut 9, its factors have 8/,
    ],
    [
      'a negative round',
      () => ({ ...mixture(), round: -2 }),
      'field',
      /round must be a non-negative integer/,
    ],
  ];
  for (const [what, make, code, message] of cases) {
    it(`the encoder refuses ${what}`, () =>
      expectCodecError(() => encodeModelPayload(make(), { precision: 'fp32' }), code, message));
  }

  const clusterAdapters = () => clustersOf(clusters());

  /** Byte offset of the first occurrence of `needle`. */
  function find(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
    outer: for (let i = from; i <= bytes.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return i;
    }
    throw new Error('pattern not found');
  }

  const f64 = (value: number) => new Uint8Array(Float64Array.of(value).buffer);
  const i32s = (...values: number[]) => new Uint8Array(Int32Array.from(values).buffer);

  it('the decoder refuses tampered memberships, mode, cluster count and pre-masks', () => {
    const bytes = encodeModelPayload(clusters(), { precision: 'int8' });
    const view = new DataView(bytes.buffer);
    const edit = (patch: (copy: Uint8Array, view: DataView) => void) => {
      const copy = bytes.slice();
      patch(copy, new DataView(copy.buffer));
      return copy;
    };
    const modeAt = 8 + 8;
    expect(view.getUint8(modeAt)).toBe(1);
    const membershipAt = find(bytes, f64(0.3));
    const maskRowsAt = find(bytes, i32s(0, 3, 7));
    const refuse = (b: Uint8Array, code: string, message: RegExp, limits = LIMITS) =>
      expectCodecError(() => decodeModelPayload(b, limits), code, message);

    refuse(
      edit((_, v) => v.setFloat64(membershipAt, 0.9, true)),
      'field',
      /membership sums to 1\.(6|59)/,
    );
    refuse(
      edit((_, v) => v.setFloat64(membershipAt, Infinity, true)),
      'nonfinite',
      /membership\[1\] is Infinity/,
    );
    refuse(
      edit((_, v) => v.setFloat64(membershipAt, -0.3, true)),
      'field',
      /membership\[1\] = -0.3 is outside \[0, 1\]/,
    );
    refuse(
      edit((c) => (c[modeAt] = 9)),
      'field',
      /adapters mode 9/,
    );
    refuse(
      edit((_, v) => v.setUint32(modeAt + 1, 1_000_000, true)),
      'shape',
      /cluster count = 1000000 is outside \[1, 64\]/,
    );
    refuse(
      edit((_, v) => v.setUint32(modeAt + 1, 0, true)),
      'shape',
      /cluster count = 0/,
    );
    refuse(bytes, 'shape', /cluster count = 3 is outside \[1, 2\]/, { ...LIMITS, maxClusters: 2 });
    refuse(
      edit((_, v) => v.setInt32(maskRowsAt + 8, 8, true)),
      'index',
      /pre-mask "layer0\/query" rows holds row 8/,
    );
    refuse(
      edit((_, v) => v.setInt32(maskRowsAt + 4, 0, true)),
      'index',
      /strictly ascending/,
    );
    // Rename the second pre-mask to the first's name.
    const secondMaskName = find(bytes, new TextEncoder().encode('layer0/value'), maskRowsAt);
    refuse(
      edit((c) => c.set(new TextEncoder().encode('layer0/query'), secondMaskName)),
      'duplicate',
      /pre-mask "layer0\/query" appears twice/,
    );
    // Rename cluster 2's value weight: the clusters no longer agree on their weights.
    const lastValue = find(
      bytes,
      new TextEncoder().encode('layer0/value'),
      find(bytes, new TextEncoder().encode('layer0/value'), membershipAt + 100) + 100,
    );
    refuse(
      edit((c) => (c[lastValue + 11] = 0x58)),
      'name',
      /cluster \d weight "layer0\/valuX" is missing from cluster 0/,
    );
    const schema = new Map([['layer0/query', { dOut: 8, dIn: 6 }]]);
    refuse(bytes, 'name', /cluster 0 "layer0\/value" is not an expected adapted weight/, {
      ...LIMITS,
      expected: schema,
    });
    const tight = new Map([...schema, ['layer0/value', { dOut: 8, dIn: 7 }]]);
    refuse(bytes, 'shape', /cluster 0 "layer0\/value" is 8x6, expected 8x7/, { ...LIMITS, expected: tight });
    refuse(bytes.slice(0, bytes.length - 5), 'truncated', /head bias/);
    refuse(bytes, 'size', /over maxBytes 64/, { maxBytes: 64 });
    const update = encodeUpdate(
      {
        protocolVersion: 1,
        clientId: 'c',
        round: 0,
        exampleCount: 1,
        adapters: new Map(),
        dense: new Map(),
        head: HEAD,
      },
      { precision: 'fp32' },
    );
    refuse(update, 'magic', /message kind 1, expected 2 \(modelPayload\)/);
  });

  it('500 mutated payloads either decode to a valid payload or throw CodecError', () => {
    const random = seededRandom('payload-fuzz');
    const int = (n: number) => Math.floor(random() * n);
    const bases = [
      encodeModelPayload(clusters(), { precision: 'fp16' }),
      encodeModelPayload(mixture(), { precision: 'int8' }),
    ];
    let decoded = 0;
    for (let trial = 0; trial < 500; trial++) {
      const bytes = bases[trial % 2]!.slice();
      if (trial % 3 === 0) bytes[int(bytes.length)] = int(256);
      else if (trial % 3 === 1) bytes[int(bytes.length)]! ^= 1 << int(8);
      else
        new DataView(bytes.buffer).setUint32(int(bytes.length - 4), [0, 1, 0xffffffff, 100][int(4)]!, true);
      try {
        const payload = decodeModelPayload(bytes, LIMITS);
        expect(decodeModelPayload(encodeModelPayload(payload, { precision: 'fp32' }), LIMITS)).toEqual(
          payload,
        );
        decoded++;
      } catch (error) {
        if (!(error instanceof CodecError)) throw new Error(`trial ${trial} threw ${String(error)}`);
      }
    }
    expect(decoded).toBeGreaterThan(20);
  });
});
