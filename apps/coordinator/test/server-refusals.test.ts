import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createStrategy, decodeLimits, decodeUpdate, type StrategyName } from '@fedhft/core';
import { federationStrategyOptions } from '../src/server/index';
import {
  BIG,
  SMALL,
  TestClient,
  federationConfig,
  nextEvent,
  startServer,
  tempDir,
  tinySchema,
} from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

const env = testEnvironment();

const LIMIT = 64 * 1024;

describe('coordinator server: bad messages', () => {
  it('refuses and counts every bad message while the round completes exactly as without them', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    const overrides = { rounds: 1, roundDelayMs: 300, maxUpdateBytes: LIMIT };
    env.coordinator = await startServer(tmp.dir, [overrides]);
    const federation = env.coordinator.federations.get('sentiment')!;
    const started = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const [a, b] = await Promise.all([
      TestClient.ready(env.coordinator.url, 1, BIG),
      TestClient.ready(env.coordinator.url, 2, SMALL),
    ]);
    env.clients.push(a!, b!);
    const { selected } = await started;
    expect(selected).toHaveLength(2);

    // Before any join.
    const intruder = await TestClient.connect(env.coordinator.url, 9);
    env.clients.push(intruder);
    expect(await intruder.request('update', {}, new Uint8Array(4))).toMatchObject({ code: 'not-joined' });
    expect(await intruder.request('join', { federation: 'sentiment' })).toMatchObject({ code: 'malformed' });
    expect(
      await intruder.request('join', { protocolVersion: 99, federation: 'sentiment', token: 'x' }),
    ).toMatchObject({
      code: 'version',
    });
    expect(await intruder.request('steal-model', { please: true })).toMatchObject({ code: 'unknown-event' });
    intruder.socket.emit('heartbeat', {});
    // Joined, but never reported capabilities, and never offered anything.
    expect(await intruder.join()).toMatchObject({ ok: true });
    const aOffer = await a!.offerFor(0);
    const bOffer = await b!.offerFor(0);
    const aBytes = await a!.train(aOffer);
    const bBytes = await b!.train(bOffer);
    expect(await intruder.upload(aOffer, aBytes)).toMatchObject({ code: 'not-ready' });
    expect(
      await intruder.request('capabilities', { backend: 'wasm', memoryBytes: -1, tokensPerSecond: 1 }),
    ).toMatchObject({
      code: 'malformed',
    });
    expect(await intruder.request('capabilities', SMALL)).toMatchObject({ ok: true });
    // Uploading for someone else's id, or with someone else's offer.
    const asA = await intruder.request(
      'update',
      { federation: 'sentiment', clientId: a!.clientId, round: 0, offerId: 'x' },
      aBytes,
    );
    expect(asA).toMatchObject({ code: 'wrong-client' });
    expect(await intruder.upload(aOffer, aBytes)).toMatchObject({ code: 'not-offered' });

    // The selected client's own mistakes.
    expect(await a!.upload(aOffer, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toMatchObject({
      code: 'bad-payload',
    });
    const truncated = await a!.upload(aOffer, aBytes.subarray(0, aBytes.length - 7));
    expect(truncated).toMatchObject({ code: 'bad-payload' });
    expect(truncated.reason).toMatch(/does not decode: (truncated|size)/);
    expect(await a!.upload(aOffer, new Uint8Array(LIMIT + 1))).toMatchObject({ code: 'too-large' });
    expect(
      await a!.request('update', { federation: 'sentiment', clientId: a!.clientId, round: 0, offerId: 'x' }),
    ).toMatchObject({
      code: 'malformed',
    });
    expect(await a!.upload(aOffer, aBytes, { round: 7 })).toMatchObject({ code: 'wrong-round' });
    expect(await a!.upload(aOffer, aBytes, { offerId: 'stale-offer' })).toMatchObject({
      code: 'not-offered',
    });
    // b's update (encoded for b) sent on a's connection.
    expect(await a!.upload(aOffer, bBytes)).toMatchObject({ code: 'wrong-client' });
    expect(await a!.request('heartbeat', { progress: 3 })).toMatchObject({ code: 'malformed' });

    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    expect(await a!.upload(aOffer, aBytes)).toMatchObject({ ok: true, received: 1 });
    expect(await a!.upload(aOffer, aBytes)).toMatchObject({ code: 'duplicate' });
    expect(await b!.upload(bOffer, bBytes)).toMatchObject({ ok: true, received: 2 });
    const { record } = await closed;
    expect(record).toMatchObject({
      status: 'aggregated',
      participants: [a!.clientId, b!.clientId],
      missing: [],
    });

    // The same round in-process, with only the good updates: the state must be identical.
    const schema = await tinySchema();
    const config = federationConfig(overrides);
    const reference = createStrategy(
      config.strategy as StrategyName,
      schema,
      federationStrategyOptions(config) as never,
    );
    const profiles = [...selected].map((clientId) => ({
      clientId,
      budget: clientId === a!.clientId ? 1 : 0.25,
      exampleCount: 0,
    }));
    for (const profile of profiles) reference.offer(profile, 0);
    const limits = decodeLimits(schema);
    reference.receive(
      decodeUpdate(aBytes, limits),
      profiles.find((p) => p.clientId === a!.clientId)!,
    );
    reference.receive(
      decodeUpdate(bBytes, limits),
      profiles.find((p) => p.clientId === b!.clientId)!,
    );
    reference.finishRound(0);
    expect(JSON.stringify(federation.strategySnapshot())).toBe(JSON.stringify(reference.snapshot()));

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(intruder.refused).toEqual([
      expect.objectContaining({ ok: false, code: 'no-ack', event: 'heartbeat' }),
    ]);
    const state = env.coordinator.state();
    expect(state.refusals.byCode).toEqual({
      'not-joined': 1,
      malformed: 1,
      version: 1,
      'unknown-event': 1,
      'no-ack': 1,
    });
    expect(state.federations[0]!.refusals.byCode).toEqual({
      'not-ready': 1,
      malformed: 3,
      'wrong-client': 2,
      'not-offered': 2,
      'bad-payload': 2,
      'too-large': 1,
      'wrong-round': 1,
      duplicate: 1,
    });
    await federation.store.flush();
    const logged = (await readFile(federation.store.refusalsFile, 'utf8')).trim().split('\n');
    expect(logged).toHaveLength(13);
    expect(JSON.parse(logged[0]!)).toMatchObject({
      federation: 'sentiment',
      event: 'update',
      code: 'not-ready',
    });
  });
});
