import { describe, expect, it } from 'vitest';
import {
  FedAvgFullStrategy,
  FedAvgLoraStrategy,
  FloraStrategy,
  HetLoraStrategy,
  initialLora,
  LocalOnlyStrategy,
  lowRankProduct,
  PROTOCOL_VERSION,
  type ClientOffer,
  type ClientUpdate,
  type DenseTensor,
  type HeadParams,
  type LowRankFactors,
  type MaskedFactors,
  type ModelSchema,
} from '../src/index';
import { clientProfile, head } from './helpers/fixtures';

const SCHEMA: ModelSchema = {
  adapted: [{ name: 'q', dOut: 4, dIn: 3 }],
  dense: [
    { name: 'w', shape: [2, 2] },
    { name: 'b', shape: [2] },
  ],
  embeddingSize: 2,
  numClasses: 2,
  rank: 2,
  alpha: 2,
};

const profile = (clientId: string, budget = 1, exampleCount = 1) =>
  clientProfile(clientId, budget, exampleCount);

const HEAD_A = head([1, 2, 3, 4], [1, 1]);
const HEAD_B = head([5, 6, 7, 8], [-1, 3]);

/** All-rows factors of a 4 x 3 weight: B [4, rank] and A [rank, 3]. */
function full(B: number[], A: number[], scale: number): MaskedFactors {
  const rank = A.length / 3;
  return {
    dOut: 4,
    dIn: 3,
    rank,
    rows: Int32Array.of(0, 1, 2, 3),
    B: Float32Array.from(B),
    A: Float32Array.from(A),
    scale,
  };
}

function loraUpdate(clientId: string, round: number, q: MaskedFactors, h: HeadParams, n = 1): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round,
    exampleCount: n,
    adapters: new Map([['q', q]]),
    dense: new Map(),
    head: h,
  };
}

function denseUpdate(
  clientId: string,
  round: number,
  w: number[],
  b: number[],
  h: HeadParams,
  n: number,
): ClientUpdate {
  const dense = new Map<string, DenseTensor>([
    ['w', { shape: [2, 2], data: Float32Array.from(w) }],
    ['b', { shape: [2], data: Float32Array.from(b) }],
  ]);
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round,
    exampleCount: n,
    adapters: new Map(),
    dense,
    head: h,
  };
}

function trainOffer(offer: ClientOffer) {
  if (offer.kind !== 'train') throw new Error(`expected a train offer, got a skip: ${offer.reason}`);
  return offer;
}

function mixtureFactors(offer: ClientOffer): LowRankFactors {
  const { adapters } = trainOffer(offer).payload;
  if (adapters.kind !== 'mixture') throw new Error('expected mixture factors');
  return adapters.factors.get('q')!;
}

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>) => {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 5);
};

describe('FedAvg, full fine-tuning', () => {
  it('sends the global dense delta and adds the N_k-weighted mean of the clients deltas', () => {
    const strategy = new FedAvgFullStrategy(SCHEMA);
    const offer = trainOffer(strategy.offer(profile('a', 0.25), 0));
    expect(offer.plan).toEqual({
      mode: 'full',
      rank: 0,
      adapterStart: 'merge',
      maskMode: 'none',
      budget: 0.25,
    });
    expect(Array.from(offer.payload.dense.get('w')!.data)).toEqual([0, 0, 0, 0]);
    strategy.offer(profile('b'), 0);
    strategy.receive(denseUpdate('a', 0, [1, 2, 3, 4], [1, 0], HEAD_A, 1), profile('a', 0.25));
    strategy.receive(denseUpdate('b', 0, [5, 6, 7, 8], [-3, 4], HEAD_B, 3), profile('b'));
    const summary = strategy.finishRound(0);
    // (1 x a + 3 x b) / 4
    expect(Array.from(summary.clusterModels[0]!.dense.get('w')!)).toEqual([4, 5, 6, 7]);
    expect(Array.from(summary.clusterModels[0]!.dense.get('b')!)).toEqual([-2, 3]);
    expect(Array.from(summary.clusterModels[0]!.head.kernel)).toEqual([4, 5, 6, 7]);
    expect(Array.from(summary.clusterModels[0]!.head.bias)).toEqual([-0.5, 2.5]);
    // Round 1: the download is the accumulated delta, and a new mean adds to it.
    const next = trainOffer(strategy.offer(profile('a'), 1));
    expect(Array.from(next.payload.dense.get('w')!.data)).toEqual([4, 5, 6, 7]);
    strategy.receive(denseUpdate('a', 1, [1, 1, 1, 1], [1, 1], HEAD_A, 2), profile('a'));
    expect(Array.from(strategy.finishRound(1).clusterModels[0]!.dense.get('w')!)).toEqual([5, 6, 7, 8]);
  });

  it('refuses adapters, unknown or misshapen tensors', () => {
    const strategy = new FedAvgFullStrategy(SCHEMA);
    strategy.offer(profile('a'), 0);
    const good = denseUpdate('a', 0, [1, 2, 3, 4], [1, 0], HEAD_A, 1);
    const misshapen = {
      ...good,
      dense: new Map([...good.dense, ['b', { shape: [1, 2], data: Float32Array.of(1, 0) }]]),
    };
    expect(() => strategy.receive(misshapen, profile('a'))).toThrow(/shape \[1, 2\], expected \[2\]/);
    const extra = {
      ...good,
      dense: new Map([...good.dense, ['x', { shape: [1], data: Float32Array.of(1) }]]),
    };
    expect(() => strategy.receive(extra, profile('a'))).toThrow(/unknown dense weight "x"/);
    const withAdapters = { ...good, adapters: new Map([['q', full([0, 0, 0, 0], [0, 0, 0], 1)]]) };
    expect(() => strategy.receive(withAdapters, profile('a'))).toThrow(/no adapters/);
    expect(() => new FedAvgFullStrategy({ ...SCHEMA, dense: [] })).toThrow(/schema.dense/);
  });
});

describe('FedAvg-LoRA (homogeneous)', () => {
  const schema: ModelSchema = { ...SCHEMA, rank: 1, alpha: 1 };

  it('starts from a PEFT-style init and lets everyone continue at full rank', () => {
    const strategy = new FedAvgLoraStrategy(schema, { seed: 7 });
    const offer = trainOffer(strategy.offer(profile('a', 0.25), 0));
    expect(offer.plan).toEqual({
      mode: 'lora',
      rank: 1,
      adapterStart: 'continue',
      maskMode: 'none',
      budget: 0.25,
      scale: 1,
    });
    expect(offer.payload.preMasks.size).toBe(0);
    const q = mixtureFactors(offer);
    expect(Array.from(q.B)).toEqual([0, 0, 0, 0]);
    expect(q.A).toEqual(initialLora(schema, 7).get('q')!.A);
    for (const a of q.A) expect(Math.abs(a)).toBeLessThanOrEqual(1 / Math.sqrt(3));
    expect(new Set(q.A).size).toBe(3);
  });

  it('averages A and B separately by N_k, which is not the average of the products', () => {
    const strategy = new FedAvgLoraStrategy(schema);
    strategy.offer(profile('a'), 0);
    strategy.offer(profile('b'), 0);
    const a = full([1, 0, 0, 0], [1, 0, 0], 1); // B_a A_a: 1 at (0, 0)
    const b = full([0, 1, 0, 0], [0, 1, 0], 1); // B_b A_b: 1 at (1, 1)
    strategy.receive(loraUpdate('a', 0, a, HEAD_A), profile('a'));
    strategy.receive(loraUpdate('b', 0, b, HEAD_B), profile('b'));
    const summary = strategy.finishRound(0);
    const q = mixtureFactors(strategy.offer(profile('a'), 1));
    expect(Array.from(q.A)).toEqual([0.5, 0.5, 0]);
    expect(Array.from(q.B)).toEqual([0.5, 0.5, 0, 0]);
    // Product of averages: 0.25 in each of (0,0), (0,1), (1,0), (1,1); average of products: 0.5 at (0,0),
    // (1,1).
    const product = summary.clusterModels[0]!.deltas.get('q')!;
    expect(Array.from(product)).toEqual([0.25, 0.25, 0, 0.25, 0.25, 0, 0, 0, 0, 0, 0, 0]);
    const averageOfProducts = [0.5, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0];
    expect(Array.from(product)).not.toEqual(averageOfProducts);
    expect(Array.from(summary.clusterModels[0]!.head.kernel)).toEqual([3, 4, 5, 6]);
  });

  it('weights the factors by N_k', () => {
    const strategy = new FedAvgLoraStrategy(schema);
    strategy.offer(profile('a'), 0);
    strategy.offer(profile('b'), 0);
    strategy.receive(loraUpdate('a', 0, full([4, 0, 0, 0], [4, 0, 0], 1), HEAD_A, 1), profile('a'));
    strategy.receive(loraUpdate('b', 0, full([0, 0, 0, 0], [0, 0, 0], 1), HEAD_B, 3), profile('b'));
    strategy.finishRound(0);
    const q = mixtureFactors(strategy.offer(profile('a'), 1));
    expect(Array.from(q.A)).toEqual([1, 0, 0]);
    expect(Array.from(q.B)).toEqual([1, 0, 0, 0]);
  });

  it('refuses masked rows, another rank or another scale', () => {
    const strategy = new FedAvgLoraStrategy(schema);
    strategy.offer(profile('a'), 0);
    const masked = {
      ...full([1, 0, 0, 0], [1, 0, 0], 1),
      rows: Int32Array.of(0, 1, 2),
      B: Float32Array.of(1, 0, 0),
    };
    expect(() => strategy.receive(loraUpdate('a', 0, masked, HEAD_A), profile('a'))).toThrow(
      /needs all of them/,
    );
    const rank2 = full([1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], 1);
    expect(() => strategy.receive(loraUpdate('a', 0, rank2, HEAD_A), profile('a'))).toThrow(
      /rank 2, expected 1/,
    );
    const scaled = full([1, 0, 0, 0], [1, 0, 0], 2);
    expect(() => strategy.receive(loraUpdate('a', 0, scaled, HEAD_A), profile('a'))).toThrow(/scale/);
  });

  it('the drop variant tells clients with budget < 1 to skip and refuses their updates', () => {
    const strategy = new FedAvgLoraStrategy(schema, { dropUnaffordable: true });
    expect(strategy.name).toBe('fedavg-lora-drop');
    const skipped = strategy.offer(profile('poor', 0.5), 0);
    expect(skipped).toEqual({ kind: 'skip', reason: expect.stringMatching(/budget 0.5 < 1/) });
    expect(trainOffer(strategy.offer(profile('rich', 1), 0)).plan.rank).toBe(1);
    const upload = loraUpdate('poor', 0, full([1, 0, 0, 0], [1, 0, 0], 1), HEAD_A);
    expect(() => strategy.receive(upload, profile('poor', 0.5))).toThrow(/told to skip/);
    strategy.receive(loraUpdate('rich', 0, full([1, 0, 0, 0], [1, 0, 0], 1), HEAD_A), profile('rich'));
    expect(strategy.finishRound(0).participants).toEqual(['rich']);
  });
});

describe('HetLoRA', () => {
  it('truncates the global factors to r_k = ceil(s_k r) and keeps the global scale', () => {
    const strategy = new HetLoraStrategy(SCHEMA, { seed: 1 });
    const global = initialLora(SCHEMA, 1).get('q')!;
    const small = trainOffer(strategy.offer(profile('a', 0.5), 0));
    expect(small.plan).toMatchObject({ rank: 1, adapterStart: 'continue', maskMode: 'none', scale: 1 });
    const q = mixtureFactors(small);
    expect(q.rank).toBe(1);
    expect(q.scale).toBe(1);
    expect(Array.from(q.A)).toEqual(Array.from(global.A.subarray(0, 3)));
    expect(q.B).toHaveLength(4);
    expect(trainOffer(strategy.offer(profile('b', 0.51), 0)).plan.rank).toBe(2);
  });

  it('zero-pads each upload to rank r and averages A and B separately by N_k', () => {
    const strategy = new HetLoraStrategy(SCHEMA);
    strategy.offer(profile('a', 0.5), 0);
    strategy.offer(profile('b', 1), 0);
    // a: rank 1; b: rank 2 (B rows [b0, b1], A rows [a0; a1]).
    const a = full([4, 0, 0, 4], [4, 8, 0], 1);
    const b = full([0, 4, 4, 0, 0, 0, 4, 4], [0, 0, 4, 4, 4, 4], 1);
    strategy.receive(loraUpdate('a', 0, a, HEAD_A, 1), profile('a', 0.5));
    strategy.receive(loraUpdate('b', 0, b, HEAD_B, 3), profile('b', 1));
    strategy.finishRound(0);
    const q = mixtureFactors(strategy.offer(profile('b', 1), 1));
    // A = (1 [4, 8, 0; 0, 0, 0] + 3 [0, 0, 4; 4, 4, 4]) / 4
    expect(Array.from(q.A)).toEqual([1, 2, 3, 3, 3, 3]);
    // B = (1 [4, 0; 0, 0; 0, 0; 4, 0] + 3 [0, 4; 4, 0; 0, 0; 4, 4]) / 4
    expect(Array.from(q.B)).toEqual([1, 3, 3, 0, 0, 0, 4, 3]);
  });

  it('refuses an upload at a rank other than the offered one', () => {
    const strategy = new HetLoraStrategy(SCHEMA);
    strategy.offer(profile('a', 0.5), 0);
    const rank2 = full([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], 1);
    expect(() => strategy.receive(loraUpdate('a', 0, rank2, HEAD_A), profile('a', 0.5))).toThrow(
      /rank 2, expected 1/,
    );
  });
});

describe('FLoRA', () => {
  const a = full([1, 0, 2, 0], [1, 1, 0], 2); // rank 1 at scale alpha / 1 = 2
  const b = full([1, 0, 0, 1, 1, 1, 0, 0], [1, 0, 0, 0, 1, 2], 1); // rank 2 at scale 1

  function round(strategy: FloraStrategy, r: number) {
    strategy.offer(profile('a', 0.5, 1), r);
    strategy.offer(profile('b', 1, 3), r);
    strategy.receive(loraUpdate('a', r, a, HEAD_A, 1), profile('a', 0.5, 1));
    strategy.receive(loraUpdate('b', r, b, HEAD_B, 3), profile('b', 1, 3));
    return strategy.finishRound(r);
  }

  /** sum_k p_k scale_k B_k A_k with p = (1/4, 3/4). */
  const roundDelta = () => {
    const pa = lowRankProduct(a);
    const pb = lowRankProduct(b);
    return Array.from(pa, (v, i) => 0.25 * v + 0.75 * pb[i]!);
  };

  it('gives each client a fresh LoRA of rank ceil(s r) to merge, starting from zero', () => {
    const strategy = new FloraStrategy(SCHEMA);
    const offer = trainOffer(strategy.offer(profile('a', 0.5), 0));
    expect(offer.plan).toMatchObject({ rank: 1, adapterStart: 'merge', maskMode: 'none', scale: 2 });
    expect(Array.from(lowRankProduct(mixtureFactors(offer)))).toEqual(new Array(12).fill(0));
  });

  it('stacks the modules exactly: the download equals the weighted sum of products, and its rank grows', () => {
    const strategy = new FloraStrategy(SCHEMA);
    const first = round(strategy, 0);
    close(first.clusterModels[0]!.deltas.get('q')!, roundDelta());
    expect(first.diagnostics?.stackedRank).toBe(3);
    const download = mixtureFactors(strategy.offer(profile('c'), 1));
    expect(download.rank).toBe(3);
    close(lowRankProduct(download), roundDelta());
    strategy.finishRound(1);
    const second = round(strategy, 2);
    expect(second.diagnostics?.stackedRank).toBe(6);
    close(
      second.clusterModels[0]!.deltas.get('q')!,
      roundDelta().map((v) => 2 * v),
    );
    expect(Array.from(second.clusterModels[0]!.head.kernel)).toEqual([4, 5, 6, 7]);
  });

  it('with refactorRank, re-factorises the stack to a bounded rank', () => {
    const strategy = new FloraStrategy(SCHEMA, { refactorRank: 2 });
    round(strategy, 0);
    const second = round(strategy, 1);
    expect(second.diagnostics?.stackedRank).toBe(2);
    expect(mixtureFactors(strategy.offer(profile('c'), 2)).rank).toBe(2);
    expect(second.diagnostics?.refactorError).toBeGreaterThanOrEqual(0);
  });
});

describe('local-only', () => {
  it('keeps each client its own model, offered back to it only and marked local', () => {
    const strategy = new LocalOnlyStrategy(SCHEMA, { seed: 2 });
    const first = strategy.offer(profile('a', 0.5), 0);
    expect(first).toMatchObject({ kind: 'train', local: true });
    expect(trainOffer(first).plan).toMatchObject({ adapterStart: 'continue', maskMode: 'none', rank: 2 });
    expect(mixtureFactors(first).A).toEqual(initialLora(SCHEMA, 2).get('q')!.A);
    strategy.offer(profile('b'), 0);
    const qa = full([1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], 1);
    const qb = full([0, 0, 0, 0, 0, 2, 0, 0], [0, 0, 0, 0, 3, 0], 1);
    strategy.receive(loraUpdate('a', 0, qa, HEAD_A), profile('a', 0.5));
    strategy.receive(loraUpdate('b', 0, qb, HEAD_B), profile('b'));
    const summary = strategy.finishRound(0);
    expect(summary.clusterModels).toEqual([]);
    expect(summary.participants).toEqual(['a', 'b']);
    const nextA = trainOffer(strategy.offer(profile('a'), 1));
    expect(Array.from(mixtureFactors(nextA).B)).toEqual(Array.from(qa.B));
    expect(Array.from(mixtureFactors(nextA).A)).toEqual(Array.from(qa.A));
    expect(nextA.payload.head).toEqual(HEAD_A);
    expect(trainOffer(strategy.offer(profile('b'), 1)).payload.head).toEqual(HEAD_B);
    expect(mixtureFactors(strategy.offer(profile('c'), 1)).A).toEqual(initialLora(SCHEMA, 2).get('q')!.A);
    // A client that sits a round out keeps its model.
    strategy.receive(loraUpdate('b', 1, qa, HEAD_A), profile('b'));
    strategy.finishRound(1);
    expect(Array.from(strategy.clientModel('a')!.factors.get('q')!.B)).toEqual(Array.from(qa.B));
    expect(strategy.clientModel('b')!.head).toEqual(HEAD_A);
  });
});
