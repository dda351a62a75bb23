import { describe, expect, it } from 'vitest';
import { buildProgram, overrides, type SimulateFlags } from '../src/cli';
import { parseConfig } from '../src/simulate/config';

async function parseFlags(argv: string[]): Promise<SimulateFlags> {
  const silent = { writeErr: () => {}, writeOut: () => {} };
  const program = buildProgram().exitOverride().configureOutput(silent);
  const simulate = program.commands.find((c) => c.name() === 'simulate')!.configureOutput(silent);
  let captured: SimulateFlags | undefined;
  simulate.exitOverride().action((flags: SimulateFlags) => {
    captured = flags;
  });
  await program.parseAsync(['node', 'cli.ts', 'simulate', ...argv]);
  return captured!;
}

describe('fedhft-coordinator simulate flags', () => {
  it('map onto config keys, and flags not given leave the file values alone', async () => {
    const flags = await parseFlags([
      '--dataset',
      'sst2',
      '--clients',
      '4',
      '--dirichlet-alpha',
      'iid',
      '--budgets',
      '1,0.5',
      '--budget-proportions',
      '0.25,0.75',
      '--strategy',
      'hetlora',
      '--strategy-options',
      '{"seed":3}',
      '--seeds',
      '1,2',
      '--lr',
      '0.01',
      '--epochs',
      '1',
      '--lora-alpha',
      '16',
      '--precision',
      'int8',
    ]);
    const config = parseConfig(overrides(flags));
    expect(config).toMatchObject({
      dataset: 'sst2',
      clients: 4,
      dirichletAlpha: 'iid',
      budgets: { levels: [1, 0.5], proportions: [0.25, 0.75] },
      strategy: 'hetlora',
      strategyOptions: { seed: 3 },
      seeds: [1, 2],
      learningRate: 0.01,
      localEpochs: 1,
      alpha: 16,
      precision: 'int8',
    });
    const none = overrides(await parseFlags([]));
    expect(Object.values(none).every((v) => v === undefined)).toBe(true);
  });

  it('refuses malformed numbers and unknown choices', async () => {
    await expect(parseFlags(['--clients', 'ten'])).rejects.toThrow(/not a number/);
    await expect(parseFlags(['--strategy', 'fedprox'])).rejects.toThrow(/fedprox/);
    await expect(parseFlags(['--strategy-options', '{bad'])).rejects.toThrow(/JSON/);
  });
});
