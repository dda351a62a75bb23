import { PROTOCOL_VERSION, type ClientUpdate } from '@fedhft/core';
import { describe, expect, it } from 'vitest';
import { attackUpdate, hostileClients } from '../src/simulate/attack';
import { parseConfig } from '../src/simulate/config';

function update(): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId: 'client-3',
    round: 2,
    exampleCount: 10,
    adapters: new Map([
      [
        'layer0.query',
        {
          dOut: 4,
          dIn: 3,
          rank: 2,
          rows: Int32Array.from([0, 2]),
          A: Float32Array.from([1, 2, 3, 4, 5, 6]),
          B: Float32Array.from([0.1, -0.2, 0.3, 0.4]),
          scale: 1,
        },
      ],
    ]),
    dense: new Map(),
    head: {
      embeddingSize: 2,
      numClasses: 2,
      kernel: Float32Array.from([1, -1, 0.5, 2]),
      bias: Float32Array.from([0.25, -0.5]),
    },
  };
}

const norm = (values: Float32Array) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));

describe('hostile clients', () => {
  const ids = Array.from({ length: 20 }, (_, i) => `client-${i}`);

  it('picks round(fraction x n) clients, the same for a seed and different across seeds', () => {
    const a = hostileClients(ids, { fraction: 0.1, kind: 'scale' }, 0);
    expect(a.size).toBe(2);
    for (const id of a) expect(ids).toContain(id);
    expect([...hostileClients([...ids].reverse(), { fraction: 0.1, kind: 'scale' }, 0)].sort()).toEqual(
      [...a].sort(),
    );
    const picks = new Set(
      [0, 1, 2, 3, 4].map((seed) =>
        [...hostileClients(ids, { fraction: 0.1, kind: 'random' }, seed)].sort().join(),
      ),
    );
    expect(picks.size).toBeGreaterThan(1);
    expect(hostileClients(ids, { fraction: 0.25, kind: 'scale' }, 0).size).toBe(5);
    expect(hostileClients(ids, { fraction: 0, kind: 'scale' }, 0).size).toBe(0);
    expect(hostileClients(ids, undefined, 0).size).toBe(0);
  });

  it("'scale' multiplies B and the head by the factor and keeps A", () => {
    const honest = update();
    const attacked = attackUpdate(honest, { fraction: 0.1, kind: 'scale', factor: 20 }, 0, 2);
    const factors = attacked.adapters.get('layer0.query')!;
    expect([...factors.B]).toEqual(
      [...honest.adapters.get('layer0.query')!.B].map((v) => Math.fround(v * 20)),
    );
    expect([...factors.A]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...factors.rows]).toEqual([0, 2]);
    expect([...attacked.head.kernel]).toEqual([20, -20, 10, 40]);
    expect([...attacked.head.bias]).toEqual([5, -10]);
    // The honest update is untouched; the default factor is -10.
    expect([...honest.head.bias]).toEqual([0.25, -0.5]);
    expect([...attackUpdate(honest, { fraction: 0.1, kind: 'scale' }, 0, 2).head.bias]).toEqual([-2.5, 5]);
  });

  it("'random' replaces B and the head with seeded Gaussian noise of the given scale", () => {
    const honest = update();
    const attack = { fraction: 0.1, kind: 'random', factor: 100 } as const;
    const a = attackUpdate(honest, attack, 0, 2);
    const b = attackUpdate(honest, attack, 0, 2);
    expect([...a.head.kernel]).toEqual([...b.head.kernel]);
    expect([...a.adapters.get('layer0.query')!.B]).toEqual([...b.adapters.get('layer0.query')!.B]);
    expect([...attackUpdate(honest, attack, 0, 3).head.kernel]).not.toEqual([...a.head.kernel]);
    expect([...a.adapters.get('layer0.query')!.A]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(norm(a.head.kernel)).toBeGreaterThan(10 * norm(honest.head.kernel));
    expect(norm(a.adapters.get('layer0.query')!.B)).toBeGreaterThan(10);
    expect(a.head.kernel.length).toBe(4);
  });

  it('is a validated config option', () => {
    expect(parseConfig({ attack: { fraction: 0.1, kind: 'scale', factor: -10 } }).attack).toEqual({
      fraction: 0.1,
      kind: 'scale',
      factor: -10,
    });
    expect(parseConfig({}).attack).toBeUndefined();
    expect(() => parseConfig({ attack: { fraction: 1, kind: 'scale' } })).toThrow(/attack.fraction/);
    expect(() => parseConfig({ attack: { fraction: 0.1, kind: 'flip' } })).toThrow(/attack.kind/);
  });
});
