import { describe, expect, it } from 'vitest';
import {
  adjustedRandIndex,
  chooseClusterCount,
  clientFeatures,
  FeatureExtractor,
  gaussianFrom,
  GaussianProjection,
  hardLabels,
  MembershipUpdater,
  PROTOCOL_VERSION,
  RankOneSketch,
  seededRandom,
  standardizeFeatures,
  type ClientUpdate,
  type HeadParams,
  type MaskedFactors,
  type MembershipParticipant,
} from '../src/index';

function update(
  clientId: string,
  head: HeadParams,
  adapters = new Map<string, MaskedFactors>(),
): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round: 0,
    exampleCount: 10,
    adapters,
    dense: new Map(),
    head,
  };
}

function norm(x: ArrayLike<number>): number {
  return Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return norm(Array.from(a, (v, i) => v - b[i]!));
}

/** Clients in `groups` groups: features = group prototype + noise (prototypes spread `separation`). */
function groupedClients(groups: number, perGroup: number, dim: number, seed: string) {
  const normal = gaussianFrom(seededRandom(`prototypes:${seed}`));
  const prototypes = Array.from({ length: groups }, () => Array.from({ length: dim }, () => 2 * normal()));
  const clients = Array.from({ length: groups * perGroup }, (_, i) => ({
    clientId: `c${i}`,
    group: i % groups,
  }));
  const round = (r: number): MembershipParticipant[] => {
    const noise = gaussianFrom(seededRandom(`noise:${seed}:${r}`));
    return clients.map(({ clientId, group }) => ({
      clientId,
      features: Float64Array.from(prototypes[group]!, (p) => p + noise()),
    }));
  };
  return { clients, round };
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

describe('clientFeatures', () => {
  const head = (seed: string, embeddingSize = 4, numClasses = 3): HeadParams => {
    const normal = gaussianFrom(seededRandom(seed));
    return {
      embeddingSize,
      numClasses,
      kernel: Float32Array.from({ length: embeddingSize * numClasses }, normal),
      bias: Float32Array.from({ length: numClasses }, normal),
    };
  };

  it('flattens a small head exactly: kernel, then bias', () => {
    const h = head('small');
    const features = clientFeatures(update('a', h));
    expect(Array.from(features)).toEqual([...h.kernel, ...h.bias]);
  });

  it('projects a large head to maxDim, the same way for every client, keeping distances (JL)', () => {
    const extractor = new FeatureExtractor({ maxDim: 256, seed: 5 });
    const heads = Array.from({ length: 6 }, (_, i) => head(`large:${i}`, 256, 8));
    const features = heads.map((h, i) => extractor.extract(update(`c${i}`, h)));
    expect(features[0]!.length).toBe(256);
    expect(clientFeatures(update('c0', heads[0]!), { maxDim: 256, seed: 5 })).toEqual(features[0]);
    const flat = heads.map((h) => [...h.kernel, ...h.bias]);
    for (let i = 0; i < 6; i++) {
      for (let j = i + 1; j < 6; j++) {
        const ratio = distance(features[i]!, features[j]!) / distance(flat[i]!, flat[j]!);
        expect(ratio).toBeGreaterThan(0.8);
        expect(ratio).toBeLessThan(1.2);
      }
    }
  });

  it('flattens small adapter deltas exactly as scale * B_full A, ordered by name', () => {
    const factors: MaskedFactors = {
      dOut: 3,
      dIn: 2,
      rank: 1,
      rows: Int32Array.from([0, 2]),
      A: Float32Array.from([1, 2]),
      B: Float32Array.from([3, -1]),
      scale: 0.5,
    };
    const other: MaskedFactors = {
      ...factors,
      dOut: 1,
      rows: Int32Array.from([0]),
      B: Float32Array.from([2]),
    };
    const u = update(
      'a',
      head('h'),
      new Map([
        ['z', factors],
        ['b', other],
      ]),
    );
    // b: [[1, 2]]; z: [[1.5, 3], [0, 0], [-0.5, -1]].
    expect(Array.from(clientFeatures(u, { source: 'adapters' }))).toEqual([1, 2, 1.5, 3, 0, 0, -0.5, -1]);
  });

  it('sketches large adapter deltas through the factors exactly as through the dense delta', () => {
    const normal = gaussianFrom(seededRandom('factors'));
    const [dOut, dIn, rank] = [40, 30, 4];
    const rows = Int32Array.from([1, 5, 7, 20, 39]);
    const A = Float32Array.from({ length: rank * dIn }, normal);
    const B = Float32Array.from({ length: rows.length * rank }, normal);
    const sketch = new RankOneSketch(dOut, dIn, 64, 'same');
    const viaFactors = new Float64Array(64);
    sketch.addFactors(viaFactors, rows, B, A, rank, 0.25);
    // The kept rows of scale * B A as a [rows, dIn] "B" against an identity "A".
    const dense = new Float32Array(rows.length * dIn);
    for (let k = 0; k < rows.length; k++) {
      for (let j = 0; j < dIn; j++) {
        let sum = 0;
        for (let p = 0; p < rank; p++) sum += B[k * rank + p]! * A[p * dIn + j]!;
        dense[k * dIn + j] = 0.25 * sum;
      }
    }
    const identity = Float32Array.from({ length: dIn * dIn }, (_, i) => (i % (dIn + 1) === 0 ? 1 : 0));
    const viaDense = new Float64Array(64);
    sketch.addFactors(viaDense, rows, dense, identity, dIn, 1);
    viaFactors.forEach((v, i) => expect(v).toBeCloseTo(viaDense[i]!, 4));
    // Unbiased in squared norm: average ||f||^2 / ||X||^2 over sketch seeds is about 1.
    const ratios = Array.from({ length: 400 }, (_, s) => {
      const out = new Float64Array(64);
      new RankOneSketch(dOut, dIn, 64, s).addFactors(out, rows, B, A, rank, 0.25);
      return norm(out) ** 2 / norm(dense) ** 2;
    });
    expect(ratios.reduce((a, b) => a + b) / ratios.length).toBeCloseTo(1, 1);
  });

  it('recovers client groups from large heads end to end (project, standardise, BIC)', () => {
    const [groups, perGroup, embeddingSize, numClasses] = [3, 12, 128, 4];
    const normal = gaussianFrom(seededRandom('heads'));
    const prototypes = Array.from({ length: groups }, () =>
      head(`prototype:${normal()}`, embeddingSize, numClasses),
    );
    const extractor = new FeatureExtractor({ seed: 1 });
    const labels: number[] = [];
    const features = Array.from({ length: groups * perGroup }, (_, i) => {
      const p = prototypes[i % groups]!;
      labels.push(i % groups);
      const noisy: HeadParams = {
        ...p,
        kernel: p.kernel.map((v) => v + normal()),
        bias: p.bias.map((v) => v + normal()),
      };
      return extractor.extract(update(`c${i}`, noisy));
    });
    expect(features[0]!.length).toBe(256);
    const choice = chooseClusterCount(standardizeFeatures(features).rows, 6, 2);
    expect(choice.k).toBe(groups);
    expect(adjustedRandIndex(labels, hardLabels(choice.fit.responsibilities))).toBeGreaterThanOrEqual(0.9);
  });

  it('validates options and updates', () => {
    expect(() => new FeatureExtractor({ maxDim: 0 })).toThrow(/maxDim/);
    expect(() => new FeatureExtractor({ source: 'x' as 'head' })).toThrow(/source/);
    expect(() => clientFeatures(update('a', head('v')), { source: 'adapters' })).toThrow(/no adapters/);
    const bad = { ...head('w'), bias: new Float32Array(2) };
    expect(() => clientFeatures(update('a', bad))).toThrow(/head kernel\/bias sizes/);
    expect(() => new GaussianProjection(0, 3, 1)).toThrow(/inputDim/);
  });
});

describe('MembershipUpdater', () => {
  it('starts uniform and leaves memberships alone during warm-up', () => {
    const { round } = groupedClients(3, 8, 20, 'warmup');
    const updater = new MembershipUpdater({ clusters: 3, warmupRounds: 5, seed: 1 });
    expect(Array.from(updater.membership('c0'))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    for (let r = 0; r < 5; r++) {
      expect(updater.update(r, round(r)).updated).toBe(false);
      expect(updater.clientIds()).toEqual([]);
    }
    const result = updater.update(5, round(5));
    expect(result.updated).toBe(true);
    expect(result.componentCount).toBe(3);
    expect(updater.clientIds()).toHaveLength(24);
  });

  it('sets participants to responsibilities that sum to 1 and leaves the others alone', () => {
    const { round } = groupedClients(3, 8, 20, 'partial');
    const updater = new MembershipUpdater({ clusters: 3, warmupRounds: 0, seed: 2 });
    const participants = round(0).slice(0, 12);
    updater.update(0, participants);
    for (const { clientId } of participants) {
      const pi = updater.membership(clientId);
      expect(pi.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      expect(Math.max(...pi)).toBeGreaterThan(0.99); // well-separated groups: confident
    }
    expect(Array.from(updater.membership('c20'))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(updater.clientIds()).toHaveLength(12);
  });

  it('recovers the groups and keeps cluster labels consistent across rounds', () => {
    const { clients, round } = groupedClients(4, 8, 30, 'alignment');
    const updater = new MembershipUpdater({ clusters: 4, warmupRounds: 0, seed: 3 });
    updater.update(0, round(0));
    const slots = clients.map(({ clientId }) => argmax(updater.membership(clientId)));
    expect(
      adjustedRandIndex(
        clients.map((c) => c.group),
        slots,
      ),
    ).toBeGreaterThanOrEqual(0.9);
    const mappings = new Set<string>();
    for (let r = 1; r <= 6; r++) {
      // Fresh noise, participants in a different order, and only part of the federation in odd rounds.
      let participants = round(r).reverse();
      if (r % 2 === 1) participants = participants.filter((_, i) => i % 3 !== 0);
      const result = updater.update(r, participants);
      mappings.add(Array.from(result.componentSlots).join(','));
      clients.forEach(({ clientId }, i) => expect(argmax(updater.membership(clientId))).toBe(slots[i]));
    }
    // The raw component order did change between rounds: the alignment did the work.
    expect(mappings.size).toBeGreaterThan(1);
  });

  it('forms clusters dynamically by BIC, leaving spare slots empty', () => {
    const { clients, round } = groupedClients(3, 10, 20, 'dynamic');
    const updater = new MembershipUpdater({ clusters: 6, warmupRounds: 0, dynamic: true, seed: 4 });
    const result = updater.update(0, round(0));
    expect(result.componentCount).toBe(3);
    expect(result.candidates.map((c) => c.k)).toEqual([1, 2, 3, 4, 5, 6]);
    const used = new Set(clients.map(({ clientId }) => argmax(updater.membership(clientId))));
    expect(used.size).toBe(3);
    for (const slot of [0, 1, 2, 3, 4, 5].filter((s) => !used.has(s))) {
      for (const { clientId } of clients) expect(updater.membership(clientId)[slot]).toBe(0);
    }
  });

  it('fits no more components than participants', () => {
    const updater = new MembershipUpdater({ clusters: 4, warmupRounds: 0 });
    const result = updater.update(0, [
      { clientId: 'a', features: [0, 1] },
      { clientId: 'b', features: [3, 1] },
    ]);
    expect(result.componentCount).toBe(2);
  });

  it('is deterministic, and its JSON state restores an updater that continues identically', () => {
    const { round } = groupedClients(3, 8, 20, 'state');
    const a = new MembershipUpdater({ clusters: 3, warmupRounds: 1, seed: 'x', mixture: { restarts: 3 } });
    const b = new MembershipUpdater({ clusters: 3, warmupRounds: 1, seed: 'x', mixture: { restarts: 3 } });
    for (const u of [a, b]) for (let r = 0; r < 3; r++) u.update(r, round(r));
    expect(b.state()).toEqual(a.state());
    const restored = MembershipUpdater.fromState(JSON.parse(JSON.stringify(a.state())));
    expect(restored.state()).toEqual(a.state());
    a.update(3, round(3));
    restored.update(3, round(3));
    expect(restored.state()).toEqual(a.state());
  });

  it('validates rounds, participants and state', () => {
    const updater = new MembershipUpdater({ clusters: 2, warmupRounds: 0 });
    expect(() => new MembershipUpdater({ clusters: 0 })).toThrow(/clusters must be a positive integer/);
    expect(() => updater.update(-1, [{ clientId: 'a', features: [1] }])).toThrow(/round/);
    expect(() => updater.update(0, [])).toThrow(/non-empty/);
    const twice = [
      { clientId: 'a', features: [1] },
      { clientId: 'a', features: [2] },
    ];
    expect(() => updater.update(0, twice)).toThrow(/client a appears twice/);
    const state = updater.state();
    expect(() => MembershipUpdater.fromState({ ...state, memberships: { a: [0.5, 0.6] } })).toThrow(
      /sums to 1.1/,
    );
    expect(() => MembershipUpdater.fromState({ ...state, memberships: { a: [1] } })).toThrow(/array of 2/);
    expect(() => MembershipUpdater.fromState({ ...state, version: 2 as 1 })).toThrow(/version 2/);
  });
});
