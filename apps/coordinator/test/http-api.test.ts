import { describe, expect, it } from 'vitest';
import { importPeftAdapter, SafetensorsFile } from '@fedhft/adapters';
import { TinyEncoder } from '../../../packages/adapters/test/fixtures/tiny-encoder';
import { attachWeb } from '../src/http/index';
import type { Coordinator, FederationConfigInput } from '../src/server/index';
import { BIG, SMALL, TestClient, nextEvent, startServer, tempDir } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const ADMIN = 'admin-token-0123456';

const env = testEnvironment();

async function serve(federations: Partial<FederationConfigInput>[] = [{ adminToken: ADMIN }]) {
  const tmp = await tempDir();
  env.cleanup = tmp.remove;
  env.coordinator = await startServer(tmp.dir, federations);
  env.web = await attachWeb(env.coordinator, { pages: false });
  return env.coordinator;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON replies, checked by the expectations
type Json = Record<string, any>;

async function getJson(path: string, init: RequestInit = {}) {
  const response = await fetch(`${env.coordinator!.url}${path}`, init);
  return { status: response.status, body: (await response.json()) as Json };
}

function post(path: string, token?: string) {
  return getJson(path, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Plays one round with both clients, reporting accuracy and peak memory; resolves when it closed. */
async function playRound(c: Coordinator, players: TestClient[], round: number, accuracy: number[]) {
  const closed = nextEvent(c, 'round-closed', (e) => e.record.round === round);
  await Promise.all(
    players.map(async (client, i) => {
      const offer = await client.offerFor(round);
      const bytes = await client.train(offer);
      const metrics = { accuracy: accuracy[i], heldOutExamples: 8, loss: 0.5, peakBytes: 1000 * (i + 1) };
      expect(await client.upload(offer, bytes, { metrics })).toMatchObject({ ok: true });
    }),
  );
  return closed;
}

describe('coordinator HTTP API', () => {
  it('serves state and per-round metrics after a real round, and the adapters as valid PEFT files', async () => {
    const c = await serve();
    const a = await TestClient.ready(c.url, 1, BIG);
    const b = await TestClient.ready(c.url, 2, SMALL);
    env.clients.push(a, b);
    await playRound(c, [a, b], 0, [0.5, 1]);

    const list = await getJson('/api/federations');
    expect(list.status).toBe(200);
    expect(list.body.federations).toEqual([
      expect.objectContaining({
        id: 'sentiment',
        strategy: 'fedhft',
        clients: 2,
        connected: 2,
        paused: false,
      }),
    ]);

    const state = await getJson('/api/federations/sentiment');
    expect(state.body.clients.map((x: { clientId: string }) => x.clientId).sort()).toEqual(
      [a.clientId, b.clientId].sort(),
    );
    expect(state.body.history).toHaveLength(1);
    expect(state.body.refusals).toMatchObject({ total: 0 });

    const { body: metrics } = await getJson('/api/federations/sentiment/metrics');
    expect(metrics.clusters).toBe(2);
    const [round] = metrics.rounds;
    expect(round).toMatchObject({ round: 0, status: 'aggregated', participants: 2, selected: 2 });
    expect(round.bytes.upload).toBeGreaterThan(0);
    expect(round.bytes.download).toBeGreaterThan(0);
    // Equal held-out sizes; warm-up memberships are uniform, so every cluster sees the plain mean.
    expect(round.accuracy.overall).toBeCloseTo(0.75);
    expect(round.accuracy.perCluster).toEqual([expect.closeTo(0.75), expect.closeTo(0.75)]);
    expect(round.memoryByBudget).toEqual({
      '0.25': { clients: 1, meanPeakBytes: 2000, maxPeakBytes: 2000 },
      '1': { clients: 1, meanPeakBytes: 1000, maxPeakBytes: 1000 },
    });
    expect(Object.keys(round.memberships).sort()).toEqual([a.clientId, b.clientId].sort());
    expect(metrics.budgets['1']).toMatchObject({
      clients: 1,
      connected: 1,
      meanMemoryBytes: BIG.memoryBytes,
    });

    // Adapters: one per cluster, exported after the round.
    const index = await getJson('/api/federations/sentiment/adapters');
    expect(index.status).toBe(200);
    expect(index.body).toMatchObject({ round: 0, rank: 4, alpha: 8 });
    expect(index.body.clusters).toHaveLength(2);
    const base = `${c.url}/api/federations/sentiment/adapters/1`;
    const config = (await (await fetch(`${base}/adapter_config.json`)).json()) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    const response = await fetch(`${base}/adapter_model.safetensors`);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    const weights = new Uint8Array(await response.arrayBuffer());
    // The safetensors header, read back by hand: u64 length, then JSON naming every factor.
    const headerLength = Number(new DataView(weights.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + headerLength))) as Record<
      string,
      { shape?: number[] }
    >;
    const encoder = new TinyEncoder();
    try {
      for (const w of encoder.adaptableWeights().filter((x) => /query|value/.test(x.kind))) {
        expect(header[`base_model.model.${w.name}.lora_A.weight`]?.shape).toEqual([4, w.dIn]);
        expect(header[`base_model.model.${w.name}.lora_B.weight`]?.shape).toEqual([w.dOut, 4]);
      }
      expect(new SafetensorsFile(weights, 'adapter_model.safetensors').metadata).toMatchObject({
        'fedhft.federation': 'sentiment',
        'fedhft.round': '0',
        'fedhft.cluster': '1',
      });
      const imported = importPeftAdapter(encoder, config, weights);
      expect(imported.lora).toMatchObject({ rank: 4, alpha: 8 });
      // (alpha / r) B A reproduces the cluster's delta up to the truncation error the listing reports.
      const model = c.federations.get('sentiment')!.clusterModels()!.models[1]!;
      let error = 0;
      let norm = 0;
      for (const [name, f] of imported.factors) {
        const delta = model.deltas.get(name)!;
        for (let i = 0; i < f.dOut; i++) {
          const row = f.rows.indexOf(i);
          for (let j = 0; j < f.dIn; j++) {
            let v = 0;
            if (row >= 0) for (let r = 0; r < f.rank; r++) v += f.B[row * f.rank + r]! * f.A[r * f.dIn + j]!;
            error += (f.scale * v - delta[i * f.dIn + j]!) ** 2;
            norm += delta[i * f.dIn + j]! ** 2;
          }
        }
      }
      expect(norm).toBeGreaterThan(0);
      expect(Math.sqrt(error / norm)).toBeCloseTo(index.body.clusters[1].relativeError, 3);
    } finally {
      encoder.dispose();
    }
    const head = await getJson('/api/federations/sentiment/adapters/0/head.json');
    expect(head.body).toMatchObject({ format: 'fedhft-head', cluster: 0, numClasses: 2 });
    expect(head.body.bias).toHaveLength(2);

    expect((await getJson('/api/federations/sentiment/adapters/7')).status).toBe(404);
    expect((await getJson('/api/federations/sentiment/adapters/x')).status).toBe(400);
    expect((await getJson('/api/federations/sentiment/adapters/0/model.bin')).status).toBe(404);
    expect((await getJson('/api/federations/nope')).status).toBe(404);
    expect((await getJson('/api/federations/bad%20id')).body.error).toMatch(/letters, digits/);
    expect((await getJson('/api/nothing')).status).toBe(404);
  });

  it('says why there are no adapters before the first aggregated round', async () => {
    await serve();
    const { status, body } = await getJson('/api/federations/sentiment/adapters');
    expect(status).toBe(404);
    expect(body.error).toMatch(/no aggregated round yet/);
  });

  it('refuses the controls without the admin token, with a reason', async () => {
    await serve([{ adminToken: ADMIN }, { id: 'open', token: 'another-token-1' }]);
    const missing = await post('/api/federations/sentiment/pause');
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatch(/Authorization: Bearer/);
    const wrong = await post('/api/federations/sentiment/pause', 'test-token-0123'); // the join token
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatch(/wrong admin token/);
    const disabled = await post('/api/federations/open/start', ADMIN);
    expect(disabled.status).toBe(403);
    expect(disabled.body.error).toMatch(/no adminToken/);
    const get = await getJson('/api/federations/sentiment/start');
    expect(get.status).toBe(405);
    expect(env.coordinator!.federations.get('sentiment')!.state().paused).toBe(false);
  });

  it('starts and pauses a run: no round before start, the open round finishes after pause', async () => {
    const c = await serve([{ adminToken: ADMIN, autoStart: false }]);
    const federation = c.federations.get('sentiment')!;
    const a = await TestClient.ready(c.url, 1, BIG);
    const b = await TestClient.ready(c.url, 2, BIG);
    env.clients.push(a, b);
    await new Promise((resolve) => setTimeout(resolve, 300)); // roundDelayMs is 50
    expect(federation.state()).toMatchObject({ phase: 'waiting', paused: true, openRound: null });

    const started = nextEvent(c, 'round-started', (e) => e.round === 0);
    expect(await post('/api/federations/sentiment/start', ADMIN)).toMatchObject({
      status: 200,
      body: { ok: true, paused: false },
    });
    await started;
    expect(await post('/api/federations/sentiment/pause', ADMIN)).toMatchObject({
      status: 200,
      body: { paused: true, phase: 'training' },
    });
    const closed = await playRound(c, [a, b], 0, [0.5, 0.5]);
    expect(closed.record.status).toBe('aggregated');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(federation.state()).toMatchObject({ phase: 'waiting', paused: true, round: 1, openRound: null });

    const next = nextEvent(c, 'round-started', (e) => e.round === 1);
    await post('/api/federations/sentiment/start', ADMIN);
    await next;
  });

  it('serves the USE Lite files and a manifest naming them', async () => {
    await serve([{}, { id: 'lite', token: 'another-token-1', encoder: 'use-lite' }]);
    const model = await fetch(`${env.coordinator!.url}/models/use-lite/model.json`);
    expect(model.status).toBe(200);
    expect(model.headers.get('content-type')).toMatch(/application\/json/);
    const json = (await model.json()) as { weightsManifest?: unknown[] };
    expect(Array.isArray(json.weightsManifest)).toBe(true);
    expect((await fetch(`${env.coordinator!.url}/models/use-lite/..%2fpackage.json`)).status).toBe(403);
    expect((await fetch(`${env.coordinator!.url}/models/use-lite/none.bin`)).status).toBe(404);
    expect(
      (await fetch(`${env.coordinator!.url}/models/use-lite/model.json`, { method: 'PUT' })).status,
    ).toBe(405);

    const lite = await getJson('/api/federations/lite/manifest');
    expect(lite.body).toMatchObject({
      encoder: { name: 'use-lite', modelUrl: '/models/use-lite/' },
      federation: { id: 'lite', rank: 4 },
      socket: { path: '/socket.io/' },
      demo: null,
    });
    const tiny = await getJson('/api/federations/sentiment/manifest');
    expect(tiny.body.encoder).toMatchObject({ name: 'tiny-test', modelUrl: null });
  });
});
