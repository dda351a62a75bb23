import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, strategyOptions } from '../src/simulate/config';
import { federate, type SourceData } from '../src/simulate/data';
import { selectClients, trainConfig } from '../src/simulate/run';
import { spread, summarizeRuns, weightedEvaluation } from '../src/simulate/summary';

describe('simulation config', () => {
  it('fills every default from an empty object', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      dataset: 'spam-assassin',
      encoder: 'use-lite',
      strategy: 'fedhft',
      clients: 10,
      participation: 1,
      rounds: 10,
      localEpochs: 2,
      batchSize: 32,
      maxSeqLen: 128,
      rank: 32,
      alpha: 32,
      dirichletAlpha: 1,
      budgets: { levels: [1, 0.5, 0.25] },
      seeds: [0],
      precision: 'fp32',
    });
  });

  it('refuses unknown keys, bad values and inconsistent budgets, naming each problem', () => {
    expect(() => parseConfig({ rouns: 3 })).toThrow(/rouns/);
    expect(() => parseConfig({ strategy: 'fedprox' })).toThrow(/strategy/);
    expect(() => parseConfig({ participation: 0 })).toThrow(/participation/);
    expect(() => parseConfig({ budgets: { levels: [1, 0.5], proportions: [1] } })).toThrow(/proportions/);
    expect(() => parseConfig({ budgets: { levels: [1, 0.5], proportions: [0.6, 0.6] } })).toThrow(/sum/);
    expect(() => parseConfig({ budgets: { levels: [1.5] } })).toThrow(/budgets.levels/);
    expect(parseConfig({ dirichletAlpha: 'iid' }).dirichletAlpha).toBe('iid');
  });

  it('applies memory levers by budget level', () => {
    const config = parseConfig({
      microBatchSize: 8,
      levers: { '0.25': { microBatchSize: 1, checkpoint: true }, '1': { microBatchSize: null } },
    });
    expect(trainConfig(config, 0.25)).toMatchObject({ microBatchSize: 1, checkpoint: true });
    expect(trainConfig(config, 0.5)).toMatchObject({ microBatchSize: 8, checkpoint: false });
    expect(trainConfig(config, 1)).not.toHaveProperty('microBatchSize');
    expect(() => parseConfig({ levers: { '0.3': { checkpoint: true } } })).toThrow(/levers.0.3/);
  });

  it('merges flags over a JSON file', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'fedhft-sim-'));
    const file = path.join(folder, 'config.json');
    await writeFile(file, JSON.stringify({ clients: 4, rounds: 3, strategy: 'hetlora' }));
    const config = await loadConfig(file, { rounds: 5, seeds: [1, 2], dataset: undefined });
    expect(config).toMatchObject({ clients: 4, rounds: 5, strategy: 'hetlora', seeds: [1, 2] });
    await writeFile(file, '[1]');
    await expect(loadConfig(file)).rejects.toThrow(/JSON object/);
  });

  it('puts clusters into the FedHFT options and refuses it elsewhere', () => {
    expect(strategyOptions(parseConfig({ clusters: 3, strategyOptions: { warmupRounds: 1 } }))).toEqual({
      clusters: 3,
      warmupRounds: 1,
    });
    expect(() => strategyOptions(parseConfig({ strategy: 'flora', clusters: 2 }))).toThrow(/fedhft/);
    expect(() => strategyOptions(parseConfig({ clusters: 2, strategyOptions: { clusters: 3 } }))).toThrow(
      /disagrees/,
    );
  });
});

describe('federation data', () => {
  const source: SourceData = {
    name: 'toy',
    labelNames: ['a', 'b', 'c'],
    pool: {
      name: 'toy',
      labelNames: ['a', 'b', 'c'],
      texts: Array.from({ length: 300 }, (_, i) => `text ${i}`),
      labels: Array.from({ length: 300 }, (_, i) => i % 3),
    },
    test: {
      name: 'toy-test',
      labelNames: ['a', 'b', 'c'],
      texts: Array.from({ length: 60 }, (_, i) => `test ${i}`),
      labels: Array.from({ length: 60 }, (_, i) => i % 3),
    },
    testSource: 'test split',
  };

  it('is fixed by the seed, disjoint, and keeps the test set out of every client', () => {
    const config = parseConfig({ clients: 5, examplesPerClient: 40, dirichletAlpha: 0.3, testExamples: 30 });
    const a = federate(source, config, 1);
    expect(federate(source, config, 1)).toEqual(a);
    expect(federate(source, config, 2)).not.toEqual(a);
    const seen = new Set<string>();
    for (const client of a.clients) {
      expect(client.train.texts.length + client.heldOut.texts.length).toBeGreaterThanOrEqual(5);
      for (const text of [...client.train.texts, ...client.heldOut.texts]) {
        expect(seen.has(text)).toBe(false);
        expect(text.startsWith('text')).toBe(true);
        seen.add(text);
      }
    }
    expect(seen.size).toBe(200);
    expect(a.test.texts).toHaveLength(30);
    expect(a.clients.map((c) => c.clientId)).toEqual([
      'client-0',
      'client-1',
      'client-2',
      'client-3',
      'client-4',
    ]);
  });
});

describe('round helpers', () => {
  it('selects round(participation x clients) clients, at least one, reproducibly', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    expect(selectClients(ids, 1, 0, 0)).toEqual(ids);
    const picked = selectClients(ids, 0.3, 7, 2);
    expect(picked).toHaveLength(3);
    expect(selectClients(ids, 0.3, 7, 2)).toEqual(picked);
    expect(selectClients(ids, 0.01, 7, 2)).toHaveLength(1);
  });

  it('weights personalized figures by held-out size', () => {
    const result = weightedEvaluation([
      { accuracy: 1, macroF1: 1, loss: 0, count: 3 },
      { accuracy: 0, macroF1: 0.5, loss: 1, count: 1 },
    ]);
    expect(result).toEqual({ accuracy: 0.75, macroF1: 0.875, loss: 0.25, count: 4, clients: 2 });
    expect(weightedEvaluation([])).toBeNull();
    expect(spread([1, 3])).toEqual({ mean: 2, std: Math.SQRT2, values: [1, 3] });
    expect(summarizeRuns([]).seeds).toBe(0);
  });
});
