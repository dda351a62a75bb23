import { describe, expect, it } from 'vitest';
import { runOnWorkers, type PoolTask } from '../src/bench/pool';
import type { CellOutcome } from '../src/bench/run-cell';
import { parseConfig } from '../src/simulate/config';
import { runSimulation } from '../src/simulate/run';

/** A federation small enough to run three times in a test: 2 clients, 1 round, 8 tokens, rank 2. */
const TINY = {
  dataset: 'spam-assassin',
  maxTextChars: 120,
  clients: 2,
  examplesPerClient: 12,
  testExamples: 12,
  rounds: 1,
  localEpochs: 1,
  batchSize: 8,
  maxSeqLen: 8,
  rank: 2,
  alpha: 4,
  strategy: 'fedavg-lora',
  budgets: { levels: [1, 0.5] },
  seeds: [3],
};

describe('benchmark worker pool', () => {
  it('runs tasks on worker processes with the same figures as in-process, and reports a failing task', async () => {
    const good = parseConfig(TINY);
    const tasks: PoolTask[] = [
      { index: 0, name: 'tiny', config: good },
      // Valid to the schema, unreadable at run time: its failure must come back, not stop the pool.
      { index: 1, name: 'missing file', config: parseConfig({ ...TINY, dataset: '/nonexistent/data.csv' }) },
    ];
    const outcomes = new Map<number, CellOutcome>();
    await runOnWorkers(tasks, 2, 'use-lite', (task, outcome) => outcomes.set(task.index, outcome));
    expect([...outcomes.keys()].sort()).toEqual([0, 1]);

    const failed = outcomes.get(1)!;
    expect('error' in failed || 'skipped' in failed).toBe(true);
    expect(JSON.stringify(failed)).toContain('/nonexistent/data.csv');

    const pooled = outcomes.get(0)!;
    if (!('result' in pooled)) throw new Error(`pooled run failed: ${JSON.stringify(pooled)}`);
    const local = await runSimulation(good);
    const figures = (r: typeof local) =>
      r.runs[0]!.rounds.map((round) => ({
        clients: round.clients.map((c) => [c.clientId, c.uploadBytes, c.downloadBytes, c.meanLoss]),
        personalized: round.personalized,
        global: round.global,
      }));
    expect(figures(pooled.result)).toEqual(figures(local));
  }, 180_000);
});
