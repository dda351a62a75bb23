import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  gaussianFrom,
  keptRowCount,
  PROTOCOL_VERSION,
  seededRandom,
  STRATEGY_NAMES,
  type ClientOffer,
  type ClientProfile,
  type ClientUpdate,
  type DenseTensor,
  type MaskedFactors,
  type ModelSchema,
  type Strategy,
  type StrategyName,
} from '../src/index';

const SCHEMA: ModelSchema = {
  adapted: [
    { name: 'q', dOut: 4, dIn: 3 },
    { name: 'v', dOut: 6, dIn: 5 },
  ],
  dense: [
    { name: 'w', shape: [2, 3] },
    { name: 'b', shape: [3] },
  ],
  embeddingSize: 3,
  numClasses: 2,
  rank: 2,
  alpha: 4,
};

const CLIENTS: ClientProfile[] = [
  { clientId: 'c0', budget: 0.25, exampleCount: 5 },
  { clientId: 'c1', budget: 0.5, exampleCount: 9 },
  { clientId: 'c2', budget: 1, exampleCount: 3 },
  { clientId: 'c3', budget: 0.75, exampleCount: 7 },
];

/** Seeded, so that a restored strategy draws the same noise. */
const DP = {
  noiseMultiplier: 1,
  clipNorm: 1,
  delta: 1e-5,
  expectedParticipants: 4,
  samplingRate: 0.5,
  seed: 1,
};

/** Every strategy, with options that exercise its state (clusters past warm-up, stacking, drops). */
const CONFIGS: readonly { readonly name: StrategyName; readonly options: object }[] = [
  { name: 'fedhft', options: { clusters: 2, warmupRounds: 1, seed: 3 } },
  { name: 'fedhft', options: { clusters: 3, warmupRounds: 0, download: 'exact', maskTiming: 'post' } },
  { name: 'fedhft', options: { clusters: 1, normalizer: 'count', weightByExamples: false, clipNorm: 0.5 } },
  { name: 'heterofl', options: { clusters: 2, warmupRounds: 1 } },
  { name: 'fedhft', options: { clusters: 2, warmupRounds: 1, robust: { kind: 'trimmed-mean', trim: 0.25 } } },
  {
    name: 'fedhft',
    options: {
      clusters: 2,
      warmupRounds: 1,
      maskTiming: 'post',
      robust: { kind: 'norm-bounded', bound: 'median' },
    },
  },
  { name: 'heterofl', options: { clusters: 2, warmupRounds: 1, robust: { kind: 'norm-bounded', bound: 1 } } },
  { name: 'fedhft', options: { clusters: 2, warmupRounds: 1, dp: { ...DP, seed: 5 } } },
  { name: 'fedavg-full', options: {} },
  { name: 'fedavg-full', options: { dp: DP } },
  { name: 'fedavg-full', options: { robust: { kind: 'trimmed-mean', trim: 0.25 } } },
  { name: 'fedavg-full', options: { robust: { kind: 'norm-bounded', bound: 'median' } } },
  { name: 'fedavg-lora', options: { seed: 4 } },
  { name: 'fedavg-lora-drop', options: {} },
  { name: 'hetlora', options: {} },
  { name: 'flora', options: {} },
  { name: 'flora', options: { refactorRank: 3 } },
  { name: 'local-only', options: {} },
];

function create(name: StrategyName, options: object): Strategy {
  return createStrategy(name, SCHEMA, options as never);
}

/** What a client would upload after training on its offer, with seeded values. */
function fakeUpdate(offer: ClientOffer, client: ClientProfile, round: number): ClientUpdate {
  if (offer.kind !== 'train') throw new Error('not a train offer');
  const normal = gaussianFrom(seededRandom(`${client.clientId}/${round}`));
  const values = (length: number) => Float32Array.from({ length }, normal);
  const { plan, payload } = offer;
  const adapters = new Map<string, MaskedFactors>();
  const dense = new Map<string, DenseTensor>();
  if (plan.mode === 'full') {
    for (const { name, shape } of SCHEMA.dense)
      dense.set(name, { shape, data: values(shape.reduce((s, d) => s * d)) });
  } else {
    for (const { name, dOut, dIn } of SCHEMA.adapted) {
      let rows: Int32Array = Int32Array.from({ length: dOut }, (_, i) => i);
      if (plan.maskMode === 'pre') rows = payload.preMasks.get(name)!.rows;
      if (plan.maskMode === 'post') rows = rows.slice(dOut - keptRowCount(dOut, plan.budget));
      const { rank } = plan;
      adapters.set(name, {
        dOut,
        dIn,
        rank,
        rows,
        A: values(rank * dIn),
        B: values(rows.length * rank),
        scale: plan.scale ?? SCHEMA.alpha / rank,
      });
    }
  }
  const head = { embeddingSize: 3, numClasses: 2, kernel: values(6), bias: values(2) };
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: client.clientId,
    round,
    exampleCount: client.exampleCount,
    adapters,
    dense,
    head,
  };
}

/** One round with every client: the offers and the summary. */
function playRound(strategy: Strategy, round: number) {
  const offers = CLIENTS.map((client) => strategy.offer(client, round));
  CLIENTS.forEach((client, k) => {
    const offer = offers[k]!;
    if (offer.kind === 'train') strategy.receive(fakeUpdate(offer, client, round), client);
  });
  return { offers, summary: strategy.finishRound(round) };
}

const json = (value: unknown) => JSON.parse(JSON.stringify(value));

describe.each(CONFIGS)('$name $options', ({ name, options }) => {
  it('snapshot -> JSON -> restore gives bit-identical offers, summaries and state', () => {
    const original = create(name, options);
    for (let round = 0; round < 3; round++) playRound(original, round);
    const snapshot = json(original.snapshot());
    // The privacy accountant's state: one step per finished round.
    expect(snapshot.state.dpSteps).toBe('dp' in options ? 3 : undefined);
    const restored = create(name, options);
    restored.restore(snapshot);
    expect(json(restored.snapshot())).toEqual(snapshot);
    for (let round = 3; round < 5; round++) {
      const a = playRound(original, round);
      const b = playRound(restored, round);
      expect(b.offers).toEqual(a.offers);
      expect(b.summary).toEqual(a.summary);
    }
    expect(JSON.stringify(restored.snapshot())).toBe(JSON.stringify(original.snapshot()));
  });

  it('a bad update throws and leaves the state as if it never came', () => {
    const strategy = create(name, options);
    const reference = create(name, options);
    playRound(strategy, 0);
    playRound(reference, 0);
    const round = 1;
    const offers = CLIENTS.map((client) => strategy.offer(client, round));
    CLIENTS.forEach((client) => reference.offer(client, round));
    const k = offers.findIndex((o) => o.kind === 'train');
    const client = CLIENTS[k]!;
    const good = fakeUpdate(offers[k]!, client, round);
    const bad: [ClientUpdate, RegExp][] = [
      [{ ...good, round: 0 }, /is for round 0/],
      [{ ...good, protocolVersion: PROTOCOL_VERSION + 1 }, /protocol version/],
      [{ ...good, exampleCount: 0 }, /exampleCount/],
      [{ ...good, clientId: 'someone-else' }, /does not match the client profile/],
      [{ ...good, head: { ...good.head, bias: Float32Array.of(1) } }, /head.bias/],
      [
        { ...good, head: { ...good.head, kernel: good.head.kernel.map((v, i) => (i === 2 ? NaN : v)) } },
        /not finite/,
      ],
    ];
    if (good.dense.size > 0) {
      const [first, tensor] = [...good.dense][0]!;
      const withFirst = (t: DenseTensor) => ({ ...good, dense: new Map([...good.dense, [first, t]]) });
      bad.push([withFirst({ ...tensor, shape: [tensor.data.length] }), /expected \[2, 3\]/]);
      bad.push([withFirst({ ...tensor, data: tensor.data.map(() => Infinity) }), /not finite/]);
      bad.push([{ ...good, dense: new Map([...good.dense].slice(1)) }, /lacks dense weight "w"/]);
    } else {
      const [first, f] = [...good.adapters][0]!;
      const withFirst = (q: MaskedFactors) => ({
        ...good,
        adapters: new Map([...good.adapters, [first, q]]),
      });
      bad.push([withFirst({ ...f, B: f.B.map((v, i) => (i === f.B.length - 1 ? NaN : v)) }), /not finite/]);
      bad.push([withFirst({ ...f, dOut: f.dOut + 1 }), /is 5 x 3, expected 4 x 3/]);
      bad.push([withFirst({ ...f, rows: f.rows.map((r, i) => (i === 0 ? f.dOut : r)) }), /outside \[0, 4\)/]);
      bad.push([withFirst({ ...f, A: f.A.subarray(1) }), /A must be a Float32Array/]);
      bad.push([{ ...good, adapters: new Map([...good.adapters].slice(1)) }, /lacks adapted weight "q"/]);
      bad.push([{ ...good, adapters: new Map([...good.adapters, ['k', f]]) }, /unknown adapted weight "k"/]);
      bad.push([
        { ...good, dense: new Map([['w', { shape: [1], data: Float32Array.of(1) }]]) },
        /no dense tensors/,
      ]);
    }
    for (const [update, message] of bad) expect(() => strategy.receive(update, client)).toThrow(message);
    // Now the genuine round, identical on both.
    CLIENTS.forEach((c, i) => {
      const offer = offers[i]!;
      if (offer.kind !== 'train') return;
      strategy.receive(fakeUpdate(offer, c, round), c);
      reference.receive(fakeUpdate(offer, c, round), c);
    });
    expect(() => strategy.receive(good, client)).toThrow(/already received/);
    expect(strategy.finishRound(round)).toEqual(reference.finishRound(round));
    expect(strategy.snapshot()).toEqual(reference.snapshot());
  });
});

describe('round protocol', () => {
  it('accepts updates only from clients offered the open round, once each', () => {
    const strategy = create('fedhft', {});
    const [a, b] = CLIENTS as [ClientProfile, ClientProfile];
    const offer = strategy.offer(a, 0);
    const update = fakeUpdate(offer, a, 0);
    expect(() => strategy.receive({ ...update, clientId: b.clientId }, b)).toThrow(/not offered/);
    expect(() => strategy.offer(a, 0)).toThrow(/already has an offer/);
    expect(() => strategy.offer(b, 1)).toThrow(/round 0 is still open/);
    expect(() => strategy.snapshot()).toThrow(/between rounds/);
    expect(() => strategy.finishRound(1)).toThrow(/round 0 is open/);
    strategy.receive(update, a);
    expect(() => strategy.receive(update, a)).toThrow(/already received/);
    expect(strategy.finishRound(0).participants).toEqual([a.clientId]);
    expect(() => strategy.offer(a, 0)).toThrow(/round 0 is over/);
    expect(() => strategy.receive(update, a)).toThrow(/no round is open/);
    // Rounds without offers close empty; numbers may skip but never go back.
    expect(strategy.finishRound(3).participants).toEqual([]);
    expect(() => strategy.finishRound(2)).toThrow(/is over/);
    expect(strategy.offer(a, 4).kind).toBe('train');
  });

  it('validates client profiles', () => {
    const strategy = create('hetlora', {});
    expect(() => strategy.offer({ clientId: 'a', budget: 0, exampleCount: 1 }, 0)).toThrow(/budget/);
    expect(() => strategy.offer({ clientId: 'a', budget: 1.5, exampleCount: 1 }, 0)).toThrow(/budget/);
    expect(() => strategy.offer({ clientId: '', budget: 1, exampleCount: 1 }, 0)).toThrow(/clientId/);
    expect(() => strategy.offer({ clientId: 'a', budget: 1, exampleCount: -1 }, 0)).toThrow(/exampleCount/);
    expect(() => strategy.offer({ clientId: 'a', budget: 1, exampleCount: 1 }, -1)).toThrow(/round/);
  });
});

describe('restore', () => {
  it('refuses snapshots of another strategy, other options or corrupted arrays, and keeps its state', () => {
    const strategy = create('fedhft', { clusters: 2, warmupRounds: 0 });
    playRound(strategy, 0);
    const snapshot = json(strategy.snapshot());
    expect(() => create('heterofl', { clusters: 2, warmupRounds: 0 }).restore(snapshot)).toThrow(
      /strategy "fedhft"/,
    );
    expect(() => create('fedhft', { clusters: 2, warmupRounds: 1 }).restore(snapshot)).toThrow(
      /other options/,
    );
    const corrupted = json(snapshot);
    corrupted.state.clusters[1].deltas.v = corrupted.state.clusters[1].deltas.q;
    expect(() => strategy.restore(corrupted)).toThrow(/clusters\[1\] "v" holds 48 bytes, expected 120/);
    const badMembership = json(snapshot);
    badMembership.state.memberships = { c0: [0.5, 0.7] };
    expect(() => strategy.restore(badMembership)).toThrow(/sums to/);
    expect(() => strategy.restore({ format: 'other' })).toThrow(/not a fedhft-strategy snapshot/);
    expect(json(strategy.snapshot())).toEqual(snapshot);
  });
});

describe('createStrategy', () => {
  it('builds every named strategy', () => {
    for (const name of STRATEGY_NAMES) expect(create(name, {}).name).toBe(name);
    expect(() => create('fedsgd' as StrategyName, {})).toThrow(/unknown strategy "fedsgd"/);
  });

  it('validates options with clear errors', () => {
    expect(() => create('fedhft', { cluster: 2 })).toThrow(/unknown option "cluster"/);
    expect(() => create('fedhft', { clusters: 0 })).toThrow(/clusters must be a positive integer/);
    expect(() => create('fedhft', { download: 'dense' })).toThrow(
      /download must be one of 'mixture', 'exact'/,
    );
    expect(() => create('fedhft', { clipNorm: -1 })).toThrow(/clipNorm/);
    expect(() => create('fedhft', { warmupRounds: 1.5 })).toThrow(/warmupRounds/);
    expect(() => create('flora', { refactorRank: 0 })).toThrow(/refactorRank/);
    expect(() => create('fedavg-lora-drop', { dropUnaffordable: false })).toThrow(/fixed/);
    expect(() => create('fedavg-lora', { dropUnaffordable: 'yes' })).toThrow(/boolean/);
    expect(() => create('hetlora', { initialHead: { embeddingSize: 3, numClasses: 3 } })).toThrow(
      /initialHead/,
    );
    expect(() => createStrategy('fedhft', { ...SCHEMA, rank: 0 })).toThrow(/rank/);
    expect(() => createStrategy('fedhft', { ...SCHEMA, adapted: [] })).toThrow(/schema.adapted is empty/);
    expect(() =>
      createStrategy('fedhft', { ...SCHEMA, adapted: [SCHEMA.adapted[0]!, SCHEMA.adapted[0]!] }),
    ).toThrow(/appears twice/);
  });
});
