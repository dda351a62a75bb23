import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { budgetFor, parseCoordinatorConfig, startConfig } from '../src/server/index';
import { tempDir } from './helpers/server-client';

describe('coordinator start: configuration', () => {
  it('builds one federation from flags, with a token from --token, $FEDHFT_TOKEN or a random one', async () => {
    const { config, generatedToken } = await startConfig(
      { port: 9000, federation: 'spam', strategy: 'flora', rounds: 4, minClients: 3 },
      {},
    );
    expect(generatedToken).toBe(true);
    expect(config).toMatchObject({ host: '127.0.0.1', port: 9000, dataDir: 'coordinator-data' });
    expect(config.federations).toEqual([
      expect.objectContaining({
        id: 'spam',
        strategy: 'flora',
        rounds: 4,
        minClients: 3,
        encoder: 'use-lite',
      }),
    ]);
    expect(config.federations[0]!.token.length).toBeGreaterThanOrEqual(8);
    const fromEnv = await startConfig({}, { FEDHFT_TOKEN: 'from-the-environment' });
    expect(fromEnv.generatedToken).toBe(false);
    expect(fromEnv.config.federations[0]).toMatchObject({ id: 'default', token: 'from-the-environment' });
  });

  it('reads several federations from a file, flags overriding where it listens', async () => {
    const tmp = await tempDir();
    try {
      const file = path.join(tmp.dir, 'coordinator.json');
      await writeFile(
        file,
        JSON.stringify({
          port: 8081,
          federations: [
            { id: 'a', token: 'token-aaaaaaaa', clusters: 2 },
            {
              id: 'b',
              token: 'token-bbbbbbbb',
              strategy: 'fedavg-lora',
              levers: { '0.25': { checkpoint: true } },
            },
          ],
        }),
      );
      const { config } = await startConfig({ config: file, port: 9001, dataDir: 'elsewhere' }, {});
      expect(config).toMatchObject({ port: 9001, dataDir: 'elsewhere' });
      expect(config.federations.map((f) => f.id)).toEqual(['a', 'b']);
      await expect(startConfig({ config: file, token: 'x' }, {})).rejects.toThrow(/--token/);
    } finally {
      await tmp.remove();
    }
  });

  it('refuses bad configurations with every problem named', () => {
    const twice = { id: 'x', token: 'token-xxxxxxxx' };
    expect(() => parseCoordinatorConfig({ federations: [twice, twice] })).toThrow(/duplicate id "x"/);
    expect(() => parseCoordinatorConfig({ federations: [{ id: 'x', token: 'short' }] })).toThrow(/token/);
    expect(() =>
      parseCoordinatorConfig({ federations: [{ ...twice, strategy: 'flora', clusters: 2, colour: 1 }] }),
    ).toThrow(/colour/);
    expect(() => parseCoordinatorConfig({ federations: [{ ...twice, levers: { '0.3': {} } }] })).toThrow(
      /not one of the budget levels/,
    );
  });

  it('maps capability reports to the highest budget level they qualify for', () => {
    const levels = [
      { budget: 0.25, minMemoryBytes: 0, minTokensPerSecond: 0 },
      { budget: 1, minMemoryBytes: 2e9, minTokensPerSecond: 500 },
      { budget: 0.5, minMemoryBytes: 1e9, minTokensPerSecond: 0 },
    ];
    expect(budgetFor({ backend: 'webgpu', memoryBytes: 3e9, tokensPerSecond: 900 }, levels)).toBe(1);
    expect(budgetFor({ backend: 'wasm', memoryBytes: 3e9, tokensPerSecond: 100 }, levels)).toBe(0.5);
    expect(budgetFor({ backend: 'wasm', memoryBytes: 1e8, tokensPerSecond: 100 }, levels)).toBe(0.25);
    expect(budgetFor({ backend: 'wasm', memoryBytes: 1e8, tokensPerSecond: 0 }, levels.slice(1))).toBe(0.5);
  });
});
