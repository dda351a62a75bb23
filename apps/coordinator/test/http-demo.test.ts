import { describe, expect, it } from 'vitest';
import { demoShardReplySchema, PROTOCOL_VERSION } from '@fedhft/core';
import { attachWeb } from '../src/http/index';
import { Coordinator, DemoShards, startBanner, startConfig, DEMO_FEDERATION } from '../src/server/index';
import {
  federationConfig,
  sentimentSet,
  TestClient,
  tempDir,
  tinySchema,
  TOKEN,
} from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

const DEMO = {
  corpus: 'spam-assassin' as const,
  shards: 4,
  alpha: 0.5,
  examples: 64,
  maxLength: 600,
  seed: 0,
};

async function demoServer() {
  const tmp = await tempDir();
  env.cleanup = tmp.remove;
  const data = sentimentSet(64, 9);
  const demo = DemoShards.fromDataset({ name: 'sentiment', labelNames: ['neg', 'pos'], ...data }, DEMO);
  env.coordinator = await Coordinator.start({
    dataDir: tmp.dir,
    port: 0,
    federations: [
      { config: federationConfig({ demo: DEMO }), schema: await tinySchema(), demo },
      { config: federationConfig({ id: 'plain' }), schema: await tinySchema() },
    ],
  });
  env.web = await attachWeb(env.coordinator, { pages: false });
  return env.coordinator;
}

describe('demo shards', () => {
  it('gives each client its own shard, only after a join, and the same one again on request', async () => {
    const c = await demoServer();
    const a = await TestClient.connect(c.url);
    const b = await TestClient.connect(c.url);
    env.clients.push(a, b);
    expect(await a.request('demo-shard', {})).toMatchObject({ ok: false, code: 'not-joined' });
    await a.join();
    await b.join();
    const first = demoShardReplySchema.parse(await a.request('demo-shard', {}));
    const second = demoShardReplySchema.parse(await b.request('demo-shard'));
    expect(first.shard).toMatchObject({ index: 0, count: 4, labelNames: ['neg', 'pos'] });
    expect(first.shard.notice).toMatch(/demo data/);
    expect(first.shard.texts.length).toBeGreaterThanOrEqual(8);
    expect(first.shard.labels).toHaveLength(first.shard.texts.length);
    expect(second.shard.index).toBe(1);
    expect(second.shard.texts).not.toEqual(first.shard.texts);
    expect(demoShardReplySchema.parse(await a.request('demo-shard', {})).shard.index).toBe(0);
    expect(await a.request('demo-shard', { shard: 3 })).toMatchObject({ ok: false, code: 'malformed' });

    const state = (await (await fetch(`${c.url}/api/federations/sentiment`)).json()) as {
      demo: { index: number; clients: string[]; size: number }[];
    };
    expect(state.demo).toHaveLength(4);
    expect(state.demo[0]!.clients).toEqual([a.clientId]);
    expect(state.demo.reduce((sum, s) => sum + s.size, 0)).toBe(64);
    const manifest = (await (await fetch(`${c.url}/api/federations/sentiment/manifest`)).json()) as object;
    expect(manifest).toMatchObject({ demo: { corpus: 'spam-assassin', shards: 4 } });
  });

  it('refuses a demo shard where the federation has no demo corpus', async () => {
    const c = await demoServer();
    const client = await TestClient.connect(c.url);
    env.clients.push(client);
    await client.request('join', { protocolVersion: PROTOCOL_VERSION, federation: 'plain', token: TOKEN });
    expect(await client.request('demo-shard', {})).toMatchObject({
      ok: false,
      code: 'unavailable',
      reason: expect.stringMatching(/no demo corpus/),
    });
  });

  it('splits SpamAssassin into label-skewed shards', async () => {
    const shards = await DemoShards.load({ ...DEMO, examples: 400, shards: 8 }, 2);
    const summary = shards.summary();
    expect(summary).toHaveLength(8);
    expect(summary.reduce((sum, s) => sum + s.size, 0)).toBe(400);
    // Non-IID: the spam share differs between shards.
    const shares = summary.map((s) => s.labelCounts[1]! / s.size);
    expect(Math.max(...shares) - Math.min(...shares)).toBeGreaterThan(0.3);
  });
});

describe('npm start: the embedded demo federation', () => {
  it('is the demo config with generated tokens, a fresh data folder and a banner with the links', async () => {
    const { config, generatedToken, generatedAdminToken } = await startConfig({ demo: true, port: 0 }, {});
    expect(generatedToken && generatedAdminToken).toBe(true);
    const [federation] = config.federations;
    expect(federation).toMatchObject({ ...DEMO_FEDERATION, token: expect.any(String) });
    expect(federation!.adminToken).not.toBe(federation!.token);
    expect(config.dataDir).toMatch(/fedhft-demo-/);
    const again = await startConfig({ demo: true }, {});
    expect(again.config.dataDir).not.toBe(config.dataDir);
    expect(again.config.port).toBe(8080);

    const banner = startBanner({ url: 'http://127.0.0.1:8080' } as Coordinator, config, {
      clientPath: '/',
      dashboardPath: '/dashboard/',
    }).join('\n');
    expect(banner).toContain('http://127.0.0.1:8080/dashboard/');
    const query = new URLSearchParams({
      coordinator: 'http://127.0.0.1:8080',
      federation: 'demo',
      token: federation!.token,
      demo: '1',
    });
    expect(banner).toContain(`http://127.0.0.1:8080/?${query}`);
    expect(banner).toContain(federation!.adminToken);

    const env = { FEDHFT_TOKEN: 'join-token-123', FEDHFT_ADMIN_TOKEN: 'admin-token-123' };
    const fixed = await startConfig({ demo: true, strategy: 'fedavg-lora', rounds: 3 }, env);
    expect(fixed.config.federations[0]).toMatchObject({
      token: 'join-token-123',
      adminToken: 'admin-token-123',
      strategy: 'fedavg-lora',
      rounds: 3,
    });
    expect(fixed.config.federations[0]!.clusters).toBeUndefined();
    await expect(startConfig({ demo: true, resume: true }, {})).rejects.toThrow(/--data-dir/);
    await expect(
      startConfig({ demo: true, token: 'same-token-1', adminToken: 'same-token-1' }, {}),
    ).rejects.toThrow(/adminToken must differ/);
  });
});
