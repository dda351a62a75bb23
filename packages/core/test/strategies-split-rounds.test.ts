import { describe, expect, it } from 'vitest';
import {
  FedHftStrategy,
  gaussianFrom,
  PROTOCOL_VERSION,
  seededRandom,
  type ClientUpdate,
  type FedHftOptions,
  type ModelSchema,
  type RoundSummary,
} from '../src/index';
import { clientProfile, head } from './helpers/fixtures';

/**
 * Rounds split over processes: a leader and a member replica (restored from the leader's snapshot) both offer
 * the round, each folds the updates that reached it, the leader merges the member's share and closes the
 * round. The result must equal one process folding every update, up to float32 summation order.
 */

const SCHEMA: ModelSchema = {
  adapted: [
    { name: 'q', dOut: 8, dIn: 6 },
    { name: 'v', dOut: 8, dIn: 6 },
  ],
  dense: [],
  embeddingSize: 3,
  numClasses: 2,
  rank: 2,
  alpha: 2,
};
const OPTIONS: FedHftOptions = { clusters: 2, warmupRounds: 1, seed: 'split' };
const CLIENTS = ['a', 'b', 'c', 'd', 'e', 'f'];
const profile = (id: string) => clientProfile(id, 1, 10);

/** Client `id`'s update in `round`: two groups of clients pull in opposite directions, so clusters form. */
function upload(id: string, round: number): ClientUpdate {
  const random = seededRandom(`${id}/${round}`);
  const gauss = gaussianFrom(random);
  const sign = CLIENTS.indexOf(id) % 2 === 0 ? 1 : -1;
  const factors = (name: string) => {
    const { dOut, dIn } = SCHEMA.adapted.find((w) => w.name === name)!;
    return {
      dOut,
      dIn,
      rank: SCHEMA.rank,
      rows: Int32Array.from({ length: dOut }, (_, i) => i),
      A: Float32Array.from({ length: SCHEMA.rank * dIn }, () => sign + 0.3 * gauss()),
      B: Float32Array.from({ length: dOut * SCHEMA.rank }, () => 0.5 + 0.1 * gauss()),
      scale: 1,
    };
  };
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: id,
    round,
    exampleCount: 10,
    adapters: new Map([
      ['q', factors('q')],
      ['v', factors('v')],
    ]),
    dense: new Map(),
    head: head(
      Array.from({ length: 6 }, () => sign * gauss()),
      [sign, -sign],
    ),
  };
}

function vector(summary: RoundSummary): number[] {
  return summary.clusterModels.flatMap((model) => [
    ...[...model.deltas.values()].flatMap((v) => Array.from(v)),
    ...model.head.kernel,
    ...model.head.bias,
  ]);
}

function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  actual.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThan(1e-5 * scale + 1e-7));
}

/** The member's share travels as JSON between processes. */
const overTheWire = (share: unknown) => JSON.parse(JSON.stringify(share)) as unknown;

describe('FedHFT rounds split over processes', () => {
  it('a leader merging a member replica share gives the single-process rounds, memberships included', () => {
    const single = new FedHftStrategy(SCHEMA, OPTIONS);
    const leader = new FedHftStrategy(SCHEMA, OPTIONS);
    for (let round = 0; round < 3; round++) {
      for (const id of CLIENTS) single.offer(profile(id), round);
      for (const id of CLIENTS) single.receive(upload(id, round), profile(id));
      const expected = single.finishRound(round);

      const member = new FedHftStrategy(SCHEMA, OPTIONS);
      member.restore(overTheWire(leader.snapshot()));
      for (const id of CLIENTS) leader.offer(profile(id), round);
      for (const id of CLIENTS) member.offer(profile(id), round);
      // b, d, f reach the member process; the others the leader.
      CLIENTS.forEach((id, i) => (i % 2 === 1 ? member : leader).receive(upload(id, round), profile(id)));
      leader.mergeRoundShare(overTheWire(member.exportRoundShare(round)));
      const actual = leader.finishRound(round);

      expect([...actual.participants].sort()).toEqual([...CLIENTS].sort());
      expectClose(vector(actual), vector(expected));
      for (const id of CLIENTS) {
        expectClose(Array.from(actual.memberships.get(id)!), Array.from(expected.memberships.get(id)!));
      }
      expect(actual.diagnostics?.membershipsUpdated).toBe(expected.diagnostics?.membershipsUpdated);
    }
    // The clustering did separate the two groups, so memberships were compared where they matter.
    const pi = single.membership('a');
    expect(Math.max(...pi)).toBeGreaterThan(0.9);
  });

  it('refuses shares naming clients it did not offer or already received, and changes nothing', () => {
    const leader = new FedHftStrategy(SCHEMA, OPTIONS);
    const member = new FedHftStrategy(SCHEMA, OPTIONS);
    for (const id of ['a', 'b']) leader.offer(profile(id), 0);
    for (const id of ['a', 'b', 'c']) member.offer(profile(id), 0);
    member.receive(upload('c', 0), profile('c'));
    expect(() => leader.mergeRoundShare(overTheWire(member.exportRoundShare(0)))).toThrow(
      /"c" was not offered training in round 0/,
    );

    const twin = new FedHftStrategy(SCHEMA, OPTIONS);
    twin.offer(profile('a'), 0);
    twin.receive(upload('a', 0), profile('a'));
    leader.receive(upload('a', 0), profile('a'));
    expect(() => leader.mergeRoundShare(overTheWire(twin.exportRoundShare(0)))).toThrow(/already received/);

    const tampered = overTheWire(twin.exportRoundShare(0)) as {
      aggregator: { states: { weight: number }[] };
    };
    tampered.aggregator.states[0]!.weight = -1;
    expect(() => leader.mergeRoundShare(tampered)).toThrow(/weight must be a finite number >= 0/);

    // Nothing was merged: the round holds a's update only.
    leader.receive(upload('b', 0), profile('b'));
    expect([...leader.finishRound(0).participants]).toEqual(['a', 'b']);
  });

  it('says which configurations cannot split a round', () => {
    expect(new FedHftStrategy(SCHEMA, OPTIONS).splitRoundsUnsupported()).toBeNull();
    const trimmed = new FedHftStrategy(SCHEMA, { ...OPTIONS, robust: { kind: 'trimmed-mean', trim: 0.1 } });
    expect(trimmed.splitRoundsUnsupported()).toMatch(/trimmed-mean/);
    trimmed.offer(profile('a'), 0);
    expect(() => trimmed.exportRoundShare(0)).toThrow(/cannot be split/);
  });
});
