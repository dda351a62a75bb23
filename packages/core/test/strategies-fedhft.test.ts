import { describe, expect, it } from 'vitest';
import {
  chooseRows,
  createStrategy,
  FedHftStrategy,
  gaussianFrom,
  HeteroFlStrategy,
  lowRankProduct,
  mixFactors,
  mixtureDelta,
  PROTOCOL_VERSION,
  seededRandom,
  type ClientUpdate,
  type FedHftOptions,
  type HeadParams,
  type MaskedFactors,
  type ModelSchema,
  type ClientOffer,
} from '../src/index';
import { clientProfile, head } from './helpers/fixtures';

const SCHEMA: ModelSchema = {
  adapted: [{ name: 'q', dOut: 4, dIn: 3 }],
  dense: [],
  embeddingSize: 2,
  numClasses: 2,
  rank: 1,
  alpha: 1,
};

const profile = (clientId: string, budget = 0.5, exampleCount = 1) =>
  clientProfile(clientId, budget, exampleCount);

function factors(rows: number[], B: number[], A: number[], dOut = 4, dIn = 3): MaskedFactors {
  const rank = A.length / dIn;
  return {
    dOut,
    dIn,
    rank,
    rows: Int32Array.from(rows),
    B: Float32Array.from(B),
    A: Float32Array.from(A),
    scale: 1,
  };
}

function update(
  clientId: string,
  round: number,
  adapters: Record<string, MaskedFactors>,
  h: HeadParams,
  exampleCount = 1,
): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round,
    exampleCount,
    adapters: new Map(Object.entries(adapters)),
    dense: new Map(),
    head: h,
  };
}

/** Two uploads with hand-checkable deltas: a covers rows 0, 1 and b rows 1, 2 of q (rank 1, scale 1). */
const UPLOAD_A = factors([0, 1], [1, 2], [1, 2, 3]); // rows [1,2,3], [2,4,6]
const UPLOAD_B = factors([1, 2], [3, 1], [1, 0, -1]); // rows [3,0,-3], [1,0,-1]
const HEAD_A = head([1, 2, 3, 4], [1, 1]);
const HEAD_B = head([5, 6, 7, 8], [-1, 3]);

function trainOffer(offer: ClientOffer) {
  if (offer.kind !== 'train') throw new Error('expected a train offer');
  return offer;
}

/** Sets memberships through a snapshot (the way a checkpoint would carry them). */
function setMemberships(strategy: FedHftStrategy, memberships: Record<string, number[]>): void {
  const snapshot = JSON.parse(JSON.stringify(strategy.snapshot()));
  snapshot.state.memberships = memberships;
  strategy.restore(snapshot);
}

function runRound(
  strategy: FedHftStrategy,
  round: number,
  clients: { id: string; budget?: number; n?: number; upload: MaskedFactors; head: HeadParams }[],
) {
  const offers = clients.map((c) =>
    trainOffer(strategy.offer(profile(c.id, c.budget ?? 0.5, c.n ?? 1), round)),
  );
  for (const c of clients) {
    strategy.receive(
      update(c.id, round, { q: c.upload }, c.head, c.n ?? 1),
      profile(c.id, c.budget ?? 0.5, c.n ?? 1),
    );
  }
  return { offers, summary: strategy.finishRound(round) };
}

const rowsOf = (data: Float32Array, dIn = 3) =>
  Array.from({ length: data.length / dIn }, (_, d) => Array.from(data.subarray(d * dIn, (d + 1) * dIn)));

describe('FedHFT aggregation', () => {
  it('folds masked updates into each cluster by soft membership, row by row (membership normaliser)', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', weightByExamples: false });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    const { summary } = runRound(strategy, 0, [
      { id: 'a', upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', upload: UPLOAD_B, head: HEAD_B },
    ]);
    const [g0, g1] = summary.clusterModels.map((m) => rowsOf(m.deltas.get('q')!));
    // Row 1: (0.75 [2,4,6] + 0.25 [3,0,-3]) / 1 in cluster 0, (0.25 [2,4,6] + 0.75 [3,0,-3]) / 1 in cluster
    // 1.
    expect(g0).toEqual([
      [1, 2, 3],
      [2.25, 3, 3.75],
      [1, 0, -1],
      [0, 0, 0],
    ]);
    expect(g1).toEqual([
      [1, 2, 3],
      [2.75, 1, -0.75],
      [1, 0, -1],
      [0, 0, 0],
    ]);
    // H_0 = 0.75 H_a + 0.25 H_b, H_1 = 0.25 H_a + 0.75 H_b.
    expect(Array.from(summary.clusterModels[0]!.head.kernel)).toEqual([2, 3, 4, 5]);
    expect(Array.from(summary.clusterModels[0]!.head.bias)).toEqual([0.5, 1.5]);
    expect(Array.from(summary.clusterModels[1]!.head.kernel)).toEqual([4, 5, 6, 7]);
    expect(summary.participants).toEqual(['a', 'b']);
  });

  it('accumulates G_j += dG_j over rounds and keeps clusters in separate buffers', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', weightByExamples: false });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    const clients = [
      { id: 'a', upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', upload: UPLOAD_B, head: HEAD_B },
    ];
    const first = runRound(strategy, 0, clients).summary;
    const once = first.clusterModels.map((m) => Array.from(m.deltas.get('q')!));
    const second = runRound(strategy, 1, clients).summary;
    second.clusterModels.forEach((m, j) => {
      expect(Array.from(m.deltas.get('q')!)).toEqual(once[j]!.map((v) => 2 * v));
    });
    // Published state is replaced, never mutated: the first summary still shows round 0.
    expect(Array.from(first.clusterModels[0]!.deltas.get('q')!)).toEqual(once[0]);
    const [m0, m1] = second.clusterModels;
    expect(m0!.deltas.get('q')!.buffer).not.toBe(m1!.deltas.get('q')!.buffer);
    expect(m0!.head.kernel.buffer).not.toBe(m1!.head.kernel.buffer);
  });

  it("'count' normaliser divides by the covering count, shrinking soft clusters (the authors' variant)", () => {
    const strategy = new FedHftStrategy(SCHEMA, {
      clusters: 2,
      maskTiming: 'post',
      weightByExamples: false,
      normalizer: 'count',
    });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    const { summary } = runRound(strategy, 0, [
      { id: 'a', upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', upload: UPLOAD_B, head: HEAD_B },
    ]);
    expect(rowsOf(summary.clusterModels[0]!.deltas.get('q')!)).toEqual([
      [0.75, 1.5, 2.25],
      [1.125, 1.5, 1.875],
      [0.25, 0, -0.25],
      [0, 0, 0],
    ]);
  });

  it('weights by N_k as well as membership when weightByExamples (the default)', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post' });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    const { summary } = runRound(strategy, 0, [
      { id: 'a', n: 1, upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', n: 3, upload: UPLOAD_B, head: HEAD_B },
    ]);
    // Cluster 0: w_a = 0.75, w_b = 0.25 * 3 = 0.75, so row 1 is the plain mean of [2,4,6] and [3,0,-3].
    expect(rowsOf(summary.clusterModels[0]!.deltas.get('q')!)[1]).toEqual([2.5, 2, 1.5]);
  });

  it('K_c = 1 is masked FedAvg of the deltas (row-wise N_k-weighted mean over covering clients)', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 1, maskTiming: 'post' });
    const { summary } = runRound(strategy, 0, [
      { id: 'a', n: 1, upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', n: 3, upload: UPLOAD_B, head: HEAD_B },
    ]);
    expect(summary.clusterModels).toHaveLength(1);
    expect(rowsOf(summary.clusterModels[0]!.deltas.get('q')!)).toEqual([
      [1, 2, 3],
      [11 / 4, 1, -3 / 4],
      [1, 0, -1],
      [0, 0, 0],
    ]);
    expect(Array.from(summary.clusterModels[0]!.head.kernel)).toEqual([4, 5, 6, 7]);
    expect(summary.memberships.get('a')).toEqual(Float64Array.of(1));
  });

  it('keeps a cluster that got no weight unchanged, head included', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', initialHead: HEAD_B });
    setMemberships(strategy, { a: [1, 0] });
    const { summary } = runRound(strategy, 0, [{ id: 'a', upload: UPLOAD_A, head: HEAD_A }]);
    expect(Array.from(summary.clusterModels[1]!.deltas.get('q')!)).toEqual(new Array(12).fill(0));
    expect(summary.clusterModels[1]!.head).toEqual(HEAD_B);
    expect(summary.clusterModels[0]!.head).toEqual(HEAD_A);
  });
});

describe('FedHFT offers', () => {
  it('starts every client from zero factors, the initial head and a merge plan', () => {
    const strategy = new FedHftStrategy(SCHEMA, { initialHead: HEAD_A });
    const offer = trainOffer(strategy.offer(profile('a'), 0));
    expect(offer.plan).toEqual({
      mode: 'lora',
      rank: 1,
      adapterStart: 'merge',
      maskMode: 'pre',
      budget: 0.5,
      scale: 1,
    });
    expect(offer.payload.adapters.kind).toBe('mixture');
    if (offer.payload.adapters.kind !== 'mixture') return;
    expect(Array.from(lowRankProduct(offer.payload.adapters.factors.get('q')!))).toEqual(
      new Array(12).fill(0),
    );
    expect(offer.payload.head).toEqual(HEAD_A);
  });

  it('pre-masks round 0 by a seeded draw: ceil(s dOut) rows, deterministic, different per client', () => {
    const schema: ModelSchema = { ...SCHEMA, adapted: [{ name: 'q', dOut: 64, dIn: 3 }] };
    const rowsFor = (seed: number, client: string) => {
      const offer = trainOffer(new FedHftStrategy(schema, { seed }).offer(profile(client, 0.25), 0));
      return Array.from(offer.payload.preMasks.get('q')!.rows);
    };
    expect(rowsFor(1, 'a')).toHaveLength(16);
    expect(rowsFor(1, 'a')).toEqual(rowsFor(1, 'a'));
    expect(rowsFor(1, 'a')).not.toEqual(rowsFor(1, 'b'));
    expect(rowsFor(1, 'a')).not.toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('pre-masks later rounds by the importance of the personalized mixture rows', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', weightByExamples: false });
    setMemberships(strategy, { a: [0.75, 0.25], b: [0.25, 0.75] });
    runRound(strategy, 0, [
      { id: 'a', upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', upload: UPLOAD_B, head: HEAD_B },
    ]);
    // Same state, pre-masks: a's mixture 0.75 G_0 + 0.25 G_1 has row importances 14, 18.78, 2, 0.
    const pre = new FedHftStrategy(SCHEMA, { clusters: 2, weightByExamples: false });
    const snapshot = JSON.parse(JSON.stringify(strategy.snapshot()));
    snapshot.config.options.maskTiming = 'pre';
    pre.restore(snapshot);
    const rows = (budget: number, id = 'a') =>
      Array.from(trainOffer(pre.offer(profile(id, budget), 1)).payload.preMasks.get('q')!.rows);
    expect(rows(0.25)).toEqual([1]);
    const fresh = new FedHftStrategy(SCHEMA, { clusters: 2, weightByExamples: false });
    fresh.restore(snapshot);
    expect(
      Array.from(trainOffer(fresh.offer(profile('a', 0.75), 1)).payload.preMasks.get('q')!.rows),
    ).toEqual([0, 1, 2]);
  });

  it('chooseRows falls back from the mixture to the previous update, then to a seeded draw', () => {
    const mixture = [0, 5, 0, 0, 1, 0];
    const previous = [9, 0, 0, 3, 0, 0];
    expect(Array.from(chooseRows([mixture, previous], 6, 2, 's'))).toEqual([1, 4]);
    expect(Array.from(chooseRows([mixture, previous], 6, 3, 's'))).toEqual([0, 1, 4]);
    expect(Array.from(chooseRows([mixture, previous], 6, 4, 's'))).toEqual([0, 1, 3, 4]);
    // Two informative sources rank only four rows: the fifth is drawn, by seed, from rows 2 and 5.
    const five = Array.from(chooseRows([mixture, previous], 6, 5, 's'));
    expect(five).toHaveLength(5);
    expect(five).toEqual(expect.arrayContaining([0, 1, 3, 4]));
    expect(five).toEqual(Array.from(chooseRows([mixture, previous], 6, 5, 's')));
    const drawn = Array.from(chooseRows([undefined, undefined], 6, 3, 's'));
    expect(drawn).toHaveLength(3);
    expect(drawn).toEqual([...drawn].sort((x, y) => x - y));
  });

  it('pre mode uses the previous update when the mixture has no information (one-hot to an empty cluster)', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, weightByExamples: false });
    setMemberships(strategy, { a: [1, 0] });
    const offer = trainOffer(strategy.offer(profile('a', 0.5), 0));
    const rows = Array.from(offer.payload.preMasks.get('q')!.rows);
    // a's update: row importances only on its pre-mask rows, the larger on the second.
    const upload = factors(rows, [1, 2], [1, 1, 1]);
    strategy.receive(update('a', 0, { q: upload }, HEAD_A), profile('a', 0.5));
    strategy.finishRound(0);
    // Move a to the cluster nobody updated: its mixture is zero, so its own previous update decides.
    setMemberships(strategy, { a: [0, 1] });
    const next = trainOffer(strategy.offer(profile('a', 0.25), 1));
    expect(Array.from(next.payload.preMasks.get('q')!.rows)).toEqual([rows[1]]);
  });

  it('post mode sends no pre-masks, and refuses more rows than the budget allows', () => {
    const strategy = new FedHftStrategy(SCHEMA, { maskTiming: 'post' });
    const offer = trainOffer(strategy.offer(profile('a', 0.5), 0));
    expect(offer.payload.preMasks.size).toBe(0);
    expect(offer.plan.maskMode).toBe('post');
    const tooMany = factors([0, 1, 2], [1, 1, 1], [1, 0, 0]);
    expect(() => strategy.receive(update('a', 0, { q: tooMany }, HEAD_A), profile('a', 0.5))).toThrow(
      /budget allows 2/,
    );
  });

  it('pre mode refuses rows outside the pre-mask', () => {
    const strategy = new FedHftStrategy(SCHEMA, { seed: 3 });
    const offer = trainOffer(strategy.offer(profile('a', 0.25), 0));
    const row = offer.payload.preMasks.get('q')!.rows[0]!;
    const other = (row + 1) % 4;
    expect(() =>
      strategy.receive(update('a', 0, { q: factors([other], [1], [1, 0, 0]) }, HEAD_A), profile('a', 0.25)),
    ).toThrow(/outside its pre-mask/);
    expect(() =>
      strategy.receive(update('a', 0, { q: factors([row], [1], [1, 0, 0]) }, HEAD_A), profile('a', 0.25)),
    ).not.toThrow();
  });

  it('exact and mixture downloads agree when the rank suffices', () => {
    const schema: ModelSchema = { ...SCHEMA, rank: 3, alpha: 3 };
    const uploads = {
      a: factors([0, 1], [1, 0, 2, 1, 0, 1], [1, 2, 3, 0, 1, 0, 2, 0, 1]),
      b: factors([1, 3], [1, 1, 1, 0, 2, 0], [1, 0, -1, 3, 1, 0, 0, 0, 2]),
    };
    const results = (['mixture', 'exact'] as const).map((download) => {
      const strategy = new FedHftStrategy(schema, { clusters: 2, maskTiming: 'post', download });
      setMemberships(strategy, { a: [0.7, 0.3], b: [0.2, 0.8] });
      const { summary } = runRound(strategy, 0, [
        { id: 'a', upload: uploads.a, head: HEAD_A },
        { id: 'b', upload: uploads.b, head: HEAD_B },
      ]);
      return { summary, offer: trainOffer(strategy.offer(profile('a'), 1)) };
    });
    const [mixture, exact] = results as [(typeof results)[0], (typeof results)[0]];
    if (
      mixture.offer.payload.adapters.kind !== 'mixture' ||
      exact.offer.payload.adapters.kind !== 'clusters'
    ) {
      throw new Error('unexpected download kinds');
    }
    const expected = mixtureDelta(
      mixture.summary.clusterModels.map((m) => new Map([['q', { shape: [4, 3], data: m.deltas.get('q')! }]])),
      [0.7, 0.3],
    ).get('q')!.data;
    const fromMixture = lowRankProduct(mixture.offer.payload.adapters.factors.get('q')!);
    const { clusters, membership } = exact.offer.payload.adapters;
    expect(Array.from(membership)).toEqual([0.7, 0.3]);
    const fromExact = lowRankProduct(mixFactors(clusters, membership).get('q')!);
    for (let i = 0; i < 12; i++) {
      expect(fromMixture[i]).toBeCloseTo(expected[i]!, 4);
      expect(fromExact[i]).toBeCloseTo(expected[i]!, 4);
    }
  });

  it('downloadRank sends factors of that rank: truncation error at rank r, exact once it suffices', () => {
    // Two rank-1 uploads on different rows make a rank-2 cluster delta; the schema's r is 1.
    const uploads = [
      { id: 'a', upload: factors([0, 1], [1, 2], [1, 2, 3]), head: HEAD_A },
      { id: 'b', upload: factors([2, 3], [3, 1], [1, 0, -1]), head: HEAD_B },
    ];
    const offers = [undefined, 2].map((downloadRank) => {
      const strategy = new FedHftStrategy(SCHEMA, {
        clusters: 1,
        maskTiming: 'post',
        ...(downloadRank === undefined ? {} : { downloadRank }),
      });
      const { summary } = runRound(strategy, 0, uploads);
      const offer = trainOffer(strategy.offer(profile('a'), 1));
      if (offer.payload.adapters.kind !== 'mixture') throw new Error('expected a mixture download');
      const factorsOfQ = offer.payload.adapters.factors.get('q')!;
      const target = summary.clusterModels[0]!.deltas.get('q')!;
      const product = lowRankProduct(factorsOfQ);
      const error = Math.hypot(...Array.from(target, (v, i) => v - product[i]!)) / Math.hypot(...target);
      // The client still trains a fresh rank-r LoRA whatever the download's rank.
      return { rank: factorsOfQ.rank, planRank: offer.plan.rank, error };
    });
    expect(offers[0]).toMatchObject({ rank: 1, planRank: 1 });
    expect(offers[0]!.error).toBeGreaterThan(0.1);
    expect(offers[1]).toMatchObject({ rank: 2, planRank: 1 });
    expect(offers[1]!.error).toBeLessThan(1e-5);
    expect(() => new FedHftStrategy(SCHEMA, { downloadRank: 0 })).toThrow(/downloadRank/);
  });

  it('computes the exact per-cluster factors once per round and shares them between clients', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 3, download: 'exact' });
    const a = trainOffer(strategy.offer(profile('a'), 0)).payload.adapters;
    const b = trainOffer(strategy.offer(profile('b'), 0)).payload.adapters;
    if (a.kind !== 'clusters' || b.kind !== 'clusters') throw new Error('expected exact downloads');
    expect(a.clusters).toHaveLength(3);
    expect(a.clusters).toBe(b.clusters);
    expect(Array.from(a.membership)).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });

  it('offers the membership mixture of cluster heads', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, maskTiming: 'post', weightByExamples: false });
    setMemberships(strategy, { a: [1, 0], b: [0, 1] });
    runRound(strategy, 0, [
      { id: 'a', upload: UPLOAD_A, head: HEAD_A },
      { id: 'b', upload: UPLOAD_B, head: HEAD_B },
    ]);
    setMemberships(strategy, { c: [0.5, 0.5] });
    const offer = trainOffer(strategy.offer(profile('c'), 1));
    expect(Array.from(offer.payload.head.kernel)).toEqual([3, 4, 5, 6]);
    expect(Array.from(offer.payload.head.bias)).toEqual([0, 2]);
  });
});

describe('HeteroFL preset (static nested masks)', () => {
  it('pre-masks rows [0, ceil(s dOut)) whatever the importance, everything else as FedHFT', () => {
    const strategy = createStrategy('heterofl', SCHEMA, { clusters: 1 });
    expect(strategy).toBeInstanceOf(HeteroFlStrategy);
    expect(strategy.name).toBe('heterofl');
    const rows = (id: string, budget: number) =>
      Array.from(trainOffer(strategy.offer(profile(id, budget), 0)).payload.preMasks.get('q')!.rows);
    expect(rows('a', 0.25)).toEqual([0]);
    expect(rows('b', 0.3)).toEqual([0, 1]);
    expect(rows('c', 0.5)).toEqual([0, 1]);
    expect(rows('d', 1)).toEqual([0, 1, 2, 3]);
    expect((strategy as HeteroFlStrategy).options).toMatchObject({
      rowSelection: 'nested',
      maskTiming: 'pre',
      clusters: 1,
      warmupRounds: 5,
      download: 'mixture',
    });
    expect(new HeteroFlStrategy(SCHEMA).options.clusters).toBe(new FedHftStrategy(SCHEMA).options.clusters);
  });

  it('refuses to override the row selection', () => {
    expect(() => new HeteroFlStrategy(SCHEMA, { rowSelection: 'importance' } as FedHftOptions)).toThrow(
      /fixed/,
    );
    expect(() => new FedHftStrategy(SCHEMA, { rowSelection: 'nested', maskTiming: 'post' })).toThrow(
      /needs maskTiming 'pre'/,
    );
  });
});

describe('FedHFT memberships', () => {
  /** Eight clients in two groups whose trained heads sit far apart. */
  function groupRound(strategy: FedHftStrategy, round: number) {
    const noise = gaussianFrom(seededRandom(`noise${round}`));
    const ids = Array.from({ length: 8 }, (_, i) => `c${i}`);
    for (const id of ids) {
      const offer = trainOffer(strategy.offer(profile(id, 0.5), round));
      const rows = Array.from(offer.payload.preMasks.get('q')!.rows);
      const sign = Number(id.slice(1)) % 2 === 0 ? 1 : -1;
      const h = head(
        [0, 1, 2, 3].map((i) => sign * (4 + i) + 0.3 * noise()),
        [0, 1].map(() => sign * 3 + 0.3 * noise()),
      );
      const upload = factors(rows, [noise(), noise()], [noise(), noise(), noise()]);
      strategy.receive(update(id, round, { q: upload }, h), profile(id, 0.5));
    }
    return { ids, summary: strategy.finishRound(round) };
  }

  it('keeps memberships uniform during warm-up, then separates well-separated heads', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 2, warmupRounds: 2 });
    for (const round of [0, 1]) {
      const { ids, summary } = groupRound(strategy, round);
      expect(summary.diagnostics?.membershipsUpdated).toBe(0);
      for (const id of ids) expect(Array.from(strategy.membership(id))).toEqual([0.5, 0.5]);
    }
    const { ids, summary } = groupRound(strategy, 2);
    expect(summary.diagnostics?.membershipsUpdated).toBe(1);
    const slot = (id: string) => (strategy.membership(id)[0]! > 0.5 ? 0 : 1);
    for (const id of ids) expect(Math.max(...strategy.membership(id))).toBeGreaterThan(0.99);
    const even = ids.filter((id) => Number(id.slice(1)) % 2 === 0).map(slot);
    const odd = ids.filter((id) => Number(id.slice(1)) % 2 === 1).map(slot);
    expect(new Set(even).size).toBe(1);
    expect(new Set(odd).size).toBe(1);
    expect(even[0]).not.toBe(odd[0]);
    expect(summary.memberships.get('c0')).toEqual(strategy.membership('c0'));
  });
});

describe('FedHFT clipping hook', () => {
  it('clips each update (adapter delta and head change together) to clipNorm before folding it in', () => {
    const strategy = new FedHftStrategy(SCHEMA, { clusters: 1, maskTiming: 'post', clipNorm: 2 });
    const { summary } = runRound(strategy, 0, [{ id: 'a', upload: UPLOAD_A, head: HEAD_A }]);
    const delta = summary.clusterModels[0]!.deltas.get('q')!;
    const { kernel, bias } = summary.clusterModels[0]!.head;
    const squares = [...delta, ...kernel, ...bias].reduce((sum, v) => sum + v * v, 0);
    expect(Math.sqrt(squares)).toBeCloseTo(2, 5);
    // Direction kept: the delta is the upload's scaled by one factor.
    const factor = summary.diagnostics!.meanClipFactor!;
    expect(factor).toBeLessThan(1);
    expect(delta[1]).toBeCloseTo(2 * factor, 5);
  });
});
