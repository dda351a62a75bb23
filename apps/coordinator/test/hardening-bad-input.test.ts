import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLimits, decodeUpdate, encodeUpdate, PROTOCOL_VERSION } from '@fedhft/core';
import { Coordinator, type CoordinatorOptions, type FederationConfigInput } from '../src/server/index';
import { replayInProcess } from './helpers/replay';
import {
  BIG,
  SMALL,
  TOKEN,
  TestClient,
  federationConfig,
  nextEvent,
  startServer,
  tempDir,
  tinySchema,
} from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

/**
 * Hostile and malformed messages the refusal test (server-refusals.test.ts) does not send: broken tensors
 * (shapes, row indices, NaN/Inf, duplicate rows, trailing bytes, non-ASCII ids), a replayed update in a later
 * round, a flood of joins, huge strings, invalid UTF-8, wrong JSON types in every field, wrong tokens and
 * identities, and an update aimed at a federation the connection did not join. Each must be refused with a
 * code and a reason naming the problem while an honest two-round run completes with exactly the aggregate of
 * an in-process run of the good updates, and the checkpoint on disk must hold that aggregate.
 */

const env = testEnvironment();

const LIMIT = 256 * 1024;
const HUGE = 'x'.repeat(1_000_000);

interface AdapterLayout {
  readonly name: string;
  readonly dOut: number;
  readonly dIn: number;
  readonly kept: number;
  /** Byte offsets in the message. */
  readonly dInAt: number;
  readonly rowsAt: number;
  /** First fp32 value of A. */
  readonly aValuesAt: number;
}

/** Walks an fp32-encoded update (layout in core's codec/client-update.ts) to the offsets the tests patch. */
function layout(bytes: Uint8Array): {
  exampleCountAt: number;
  clientIdAt: number;
  adapters: AdapterLayout[];
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  const clientIdAt = at + 2;
  at += 2 + view.getUint16(at, true);
  const exampleCountAt = at + 8;
  at += 16;
  const count = view.getUint32(at, true);
  at += 4;
  const adapters: AdapterLayout[] = [];
  for (let w = 0; w < count; w++) {
    const nameLength = view.getUint16(at, true);
    const name = String.fromCharCode(...bytes.subarray(at + 2, at + 2 + nameLength));
    at += 2 + nameLength;
    const dOut = view.getUint32(at, true);
    const dIn = view.getUint32(at + 4, true);
    const kept = view.getUint32(at + 12, true);
    const dInAt = at + 4;
    at += 24;
    const rowsAt = at;
    at += kept * 4;
    expect(view.getUint8(at)).toBe(0); // fp32
    const aValuesAt = at + 5;
    at += 5 + view.getUint32(at + 1, true);
    at += 5 + view.getUint32(at + 1, true);
    adapters.push({ name, dOut, dIn, kept, dInAt, rowsAt, aValuesAt });
  }
  return { exampleCountAt, clientIdAt, adapters };
}

function patched(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer, copy.byteOffset, copy.byteLength));
  return copy;
}

let refusalsSent = 0;

function expectRefusal(reply: Record<string, unknown>, code: string, reason: RegExp): void {
  expect(reply).toMatchObject({ ok: false, code });
  expect(typeof reply.reason).toBe('string');
  expect(reply.reason as string).toMatch(reason);
  expect((reply.reason as string).length).toBeLessThan(1000); // a huge field is not echoed back
  refusalsSent++;
}

/**
 * A coordinator (one federation of one round, `overrides` on the test federation, `options` for the server)
 * and two honest clients playing round 0 in the background, while a test sends its hostile traffic;
 * `completed()` checks that the round aggregated both honest updates.
 */
async function honestRound(
  options: Partial<CoordinatorOptions>,
  overrides: Partial<FederationConfigInput> = {},
) {
  const tmp = await tempDir();
  env.cleanup = tmp.remove;
  const config = federationConfig({ rounds: 1, roundDelayMs: 300, ...overrides });
  const coordinator = await Coordinator.start({
    dataDir: tmp.dir,
    port: 0,
    federations: [{ config, schema: await tinySchema() }],
    ...options,
  });
  env.coordinator = coordinator;
  const closed = nextEvent(coordinator, 'round-closed', (e) => e.record.round === 0);
  const [a, b] = await Promise.all([
    TestClient.ready(coordinator.url, 1, BIG),
    TestClient.ready(coordinator.url, 2, SMALL),
  ]);
  env.clients.push(a, b);
  const play = Promise.all([a.playRound(0), b.playRound(0)]);
  return {
    coordinator,
    url: coordinator.url,
    async completed() {
      expect(await play).toEqual([
        expect.objectContaining({ ok: true }),
        expect.objectContaining({ ok: true }),
      ]);
      expect((await closed).record).toMatchObject({ status: 'aggregated', missing: [] });
    },
  };
}

describe('coordinator server: hostile input', () => {
  it('refuses 20+ kinds of hostile messages while two honest rounds aggregate exactly', async () => {
    refusalsSent = 0;
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    const overrides = { rounds: 2, roundDelayMs: 300, maxUpdateBytes: LIMIT };
    env.coordinator = await startServer(tmp.dir, [
      overrides,
      { id: 'other', token: 'other-token-4567', rounds: 1, minClients: 5 },
    ]);
    const federation = env.coordinator.federations.get('sentiment')!;
    const started = nextEvent(env.coordinator, 'round-started', (e) => e.round === 0);
    const [a, b] = await Promise.all([
      TestClient.ready(env.coordinator.url, 1, BIG),
      TestClient.ready(env.coordinator.url, 2, SMALL),
    ]);
    env.clients.push(a!, b!);
    const { selected } = await started;
    expect(selected).toHaveLength(2);
    const aOffer = await a!.offerFor(0);
    const bOffer = await b!.offerFor(0);
    const aBytes = await a!.train(aOffer);
    const bBytes = await b!.train(bOffer);
    const schema = await tinySchema();
    const limits = decodeLimits(schema);
    const aUpdate = decodeUpdate(aBytes, limits);
    // a's honest update re-encoded in fp32, so values and indices sit at fixed offsets to patch.
    const fp32 = encodeUpdate(aUpdate, { precision: 'fp32' });
    const map = layout(fp32);
    const target = map.adapters.find((adapter) => adapter.kept >= 2)!;
    expect(target).toBeDefined();

    // 1. Wrong tensor shape: dIn one larger than the model's weight.
    const wrongShape = patched(fp32, (v) => v.setUint32(target.dInAt, target.dIn + 1, true));
    expectRefusal(await a!.upload(aOffer, wrongShape), 'bad-payload', /does not decode: .*(dIn|shape)/);
    // 2. Out-of-range row index (= dOut), 3. a negative one.
    const rowPast = patched(fp32, (v) => v.setInt32(target.rowsAt, target.dOut, true));
    expectRefusal(await a!.upload(aOffer, rowPast), 'bad-payload', /does not decode: .*rows/);
    const rowNegative = patched(fp32, (v) => v.setInt32(target.rowsAt, -1, true));
    expectRefusal(await a!.upload(aOffer, rowNegative), 'bad-payload', /does not decode: .*rows/);
    // 4. Duplicate row indices.
    const rowTwice = patched(fp32, (v) =>
      v.setInt32(target.rowsAt + 4, v.getInt32(target.rowsAt, true), true),
    );
    expectRefusal(await a!.upload(aOffer, rowTwice), 'bad-payload', /does not decode: .*rows/);
    // 5. NaN and 6. +Infinity in A, 7. NaN as exampleCount.
    const withNaN = patched(fp32, (v) => v.setFloat32(target.aValuesAt, Number.NaN, true));
    expectRefusal(await a!.upload(aOffer, withNaN), 'bad-payload', /does not decode: .*NaN/);
    const withInf = patched(fp32, (v) => v.setFloat32(target.aValuesAt + 4, Infinity, true));
    expectRefusal(await a!.upload(aOffer, withInf), 'bad-payload', /does not decode: .*Infinity/);
    const countNaN = patched(fp32, (v) => v.setFloat64(map.exampleCountAt, Number.NaN, true));
    expectRefusal(await a!.upload(aOffer, countNaN), 'bad-payload', /does not decode: .*exampleCount .*NaN/);
    // 8. Bytes after the end of the message.
    const trailing = new Uint8Array(fp32.length + 3);
    trailing.set(fp32);
    expectRefusal(await a!.upload(aOffer, trailing), 'bad-payload', /does not decode/);
    // 9. Invalid UTF-8 (and non-ASCII) bytes in the encoded clientId.
    const badText = patched(fp32, (v) => {
      v.setUint8(map.clientIdAt, 0xff);
      v.setUint8(map.clientIdAt + 1, 0xfe);
    });
    expectRefusal(await a!.upload(aOffer, badText), 'bad-payload', /does not decode: .*clientId/);

    // 10. An update for a federation this connection did not join.
    expectRefusal(
      await a!.upload(aOffer, fp32, { federation: 'other' }),
      'wrong-client',
      /belongs to "sentiment"/,
    );

    // 11. Wrong JSON types in every field of every request.
    const wrongTypes: [string, Record<string, unknown>, unknown?][] = [
      ['update', { federation: 7, clientId: a!.clientId, round: 0, offerId: 'x' }, aBytes],
      ['update', { federation: 'sentiment', clientId: 7, round: 0, offerId: 'x' }, aBytes],
      ['update', { federation: 'sentiment', clientId: a!.clientId, round: '0', offerId: 'x' }, aBytes],
      ['update', { federation: 'sentiment', clientId: a!.clientId, round: 0, offerId: ['x'] }, aBytes],
      [
        'update',
        { federation: 'sentiment', clientId: a!.clientId, round: 0, offerId: 'x', metrics: 'x' },
        aBytes,
      ],
      ['update', { federation: 'sentiment', clientId: a!.clientId, round: 0.5, offerId: 'x' }, aBytes],
      ['capabilities', { backend: 5, memoryBytes: 1, tokensPerSecond: 1 }],
      ['capabilities', { backend: 'wasm', memoryBytes: '1', tokensPerSecond: 1 }],
      ['capabilities', { backend: 'wasm', memoryBytes: 1, tokensPerSecond: null }],
      ['capabilities', { backend: 'wasm', memoryBytes: 1, tokensPerSecond: 1, examples: 'x' }],
      ['heartbeat', { status: 5 }],
      ['heartbeat', { progress: '0.5' }],
      ['demo-shard', { shard: 1 }],
    ];
    for (const [event, body, binary] of wrongTypes) {
      const reply = await (binary === undefined ? a!.request(event, body) : a!.request(event, body, binary));
      expectRefusal(reply, 'malformed', new RegExp(event === 'demo-shard' ? 'demo-shard' : event));
    }
    // 12. A non-object where an object is expected, and an update whose attachment is text.
    expectRefusal(await a!.request('update', 'not-an-object', aBytes), 'malformed', /update/);
    expectRefusal(
      await a!.request(
        'update',
        { federation: 'sentiment', clientId: a!.clientId, round: 0, offerId: 'x' },
        'AAAA',
      ),
      'malformed',
      /binary update is missing/,
    );
    // 13. Huge strings in JSON fields (1 MB).
    expectRefusal(await a!.upload(aOffer, aBytes, { offerId: HUGE }), 'malformed', /offerId/);
    expectRefusal(await a!.upload(aOffer, aBytes, { clientId: HUGE }), 'malformed', /clientId/);
    expectRefusal(await a!.request('capabilities', { ...BIG, backend: HUGE }), 'malformed', /backend/);

    // Fresh connections: joins.
    const mallory = await TestClient.connect(env.coordinator.url, 9);
    env.clients.push(mallory);
    const join = (body: Record<string, unknown>) =>
      mallory.request('join', {
        protocolVersion: PROTOCOL_VERSION,
        federation: 'sentiment',
        token: TOKEN,
        ...body,
      });
    // 14. Wrong token, 15. missing token, 16. the other federation's token.
    expectRefusal(
      await join({ token: 'not-the-token' }),
      'bad-token',
      /wrong token for federation "sentiment"/,
    );
    expectRefusal(
      await mallory.request('join', { protocolVersion: PROTOCOL_VERSION, federation: 'sentiment' }),
      'malformed',
      /token/,
    );
    expectRefusal(await join({ token: 'other-token-4567' }), 'bad-token', /wrong token/);
    // 17. Unknown federation.
    expectRefusal(await join({ federation: 'nope' }), 'unknown-federation', /no federation "nope"/);
    // 18. Another client's id: without its secret, with a wrong one, and a 1 MB id.
    expectRefusal(await join({ clientId: a!.clientId }), 'malformed', /clientId and secret go together/);
    expectRefusal(await join({ clientId: a!.clientId, secret: 'guess' }), 'bad-identity', /wrong secret/);
    expectRefusal(await join({ clientId: HUGE, secret: 'guess' }), 'malformed', /clientId/);
    // 19. Huge token.
    expectRefusal(await join({ token: HUGE }), 'malformed', /token/);
    // 20. Invalid UTF-8: raw bytes where text is expected, and a lone surrogate in an id.
    expectRefusal(await join({ token: new Uint8Array([0xff, 0xfe, 0xc3, 0x28]) }), 'malformed', /token/);
    expectRefusal(await join({ federation: 'sentiment\ud800' }), 'malformed', /federation/);
    // 21. Wrong types in every join field.
    for (const body of [
      { protocolVersion: '1' },
      { federation: 42 },
      { token: {} },
      { clientId: [], secret: 'x' },
      { clientId: 'c', secret: 5 },
      { extra: true },
    ]) {
      expectRefusal(await join(body), 'malformed', /join/);
    }
    // 22. A flood of joins on one connection: the first succeeds, the other 199 are refused and make no identity:
    // as already joined while the connection's request budget lasts (burst 60), then as too many requests.
    expect(await join({})).toMatchObject({ ok: true });
    const clientsBefore = env.coordinator.state().federations[0]!.clients.length;
    const flood = await Promise.all(Array.from({ length: 199 }, () => join({})));
    const throttled = flood.filter((reply) => reply.code === 'too-many');
    for (const reply of throttled) expectRefusal(reply, 'too-many', /requests per second .* slow down/);
    for (const reply of flood.filter((r) => r.code !== 'too-many')) {
      expectRefusal(reply, 'malformed', /already joined "sentiment"/);
    }
    expect(throttled.length).toBeGreaterThan(100);
    expect(env.coordinator.state().federations[0]!.clients.length).toBe(clientsBefore);
    // All counted, but only the first throttled request of each second is logged: a flood is not a flood of
    // log lines.
    const summary = env.coordinator.federations.get('sentiment')!.refusals.summary();
    expect(summary.byCode['too-many']).toBe(throttled.length);
    expect(summary.recent.filter((entry) => entry.code === 'too-many').length).toBeLessThan(5);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the connection's budget refills

    // The honest round 0.
    const closed0 = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    expect(await a!.upload(aOffer, aBytes)).toMatchObject({ ok: true, received: 1 });
    expect(await b!.upload(bOffer, bBytes)).toMatchObject({ ok: true, received: 2 });
    expect((await closed0).record).toMatchObject({ status: 'aggregated', missing: [] });

    // 23. Round 1: a's accepted round-0 update replayed (under round 1's offer id and round number).
    const aOffer1 = await a!.offerFor(1);
    const bOffer1 = await b!.offerFor(1);
    expectRefusal(
      await a!.upload(aOffer1, aBytes),
      'wrong-round',
      /encoded update is for round 0, the open round is 1/,
    );
    // 24. ... and with round 0's meta: the round is over.
    expectRefusal(await a!.upload(aOffer, aBytes), 'wrong-round', /round 0/);
    const aBytes1 = await a!.train(aOffer1);
    const bBytes1 = await b!.train(bOffer1);
    // 25. b replays a's new update on its own connection (another client's update).
    expectRefusal(await b!.upload(bOffer1, aBytes1), 'wrong-client', /is for client/);
    const closed1 = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 1);
    expect(await a!.upload(aOffer1, aBytes1)).toMatchObject({ ok: true, received: 1 });
    expect(await b!.upload(bOffer1, bBytes1)).toMatchObject({ ok: true, received: 2 });
    expect((await closed1).record).toMatchObject({ status: 'aggregated', missing: [] });

    // The same two rounds in-process with only the good updates.
    const budgets = Object.fromEntries(
      [...selected].map((clientId) => [clientId, clientId === a!.clientId ? 1 : 0.25]),
    );
    const reference = replayInProcess(federationConfig(overrides), schema, [
      { selected: [...selected], budgets, uploads: [aBytes, bBytes] },
      { selected: [...selected], budgets, uploads: [aBytes1, bBytes1] },
    ]);
    const expected = JSON.stringify(reference);
    expect(JSON.stringify(federation.strategySnapshot())).toBe(expected);

    // The checkpoint on disk holds exactly that state.
    await federation.store.flush();
    const checkpoint = JSON.parse(
      await readFile(path.join(tmp.dir, 'sentiment', 'checkpoint.json'), 'utf8'),
    ) as { nextRound: number; strategy: unknown; federation: string };
    expect(checkpoint).toMatchObject({ federation: 'sentiment', nextRound: 2 });
    expect(JSON.stringify(checkpoint.strategy)).toBe(expected);

    // Every refusal was counted (server-wide or per federation) and logged with its reason.
    const state = env.coordinator.state();
    const counted = [state.refusals.byCode, ...state.federations.map((f) => f.refusals.byCode)]
      .flatMap((byCode) => Object.values(byCode))
      .reduce((sum, n) => sum + n, 0);
    expect(counted).toBe(refusalsSent);
    const logged = (await readFile(federation.store.refusalsFile, 'utf8')).trim().split('\n');
    for (const line of logged)
      expect(JSON.parse(line)).toMatchObject({ code: expect.any(String), reason: expect.any(String) });
  }, 120_000);

  it('caps the new identities one address may create: a flood of joins from many sockets is refused', async () => {
    const honest = await honestRound({ joinLimit: { perAddress: 6, windowMs: 60_000 } });
    // 30 sockets, each joining anew with the right token: 4 more identities fit the cap, 26 are refused.
    const flood = await Promise.all(
      Array.from({ length: 30 }, (_, i) => TestClient.connect(honest.url, 10 + i)),
    );
    env.clients.push(...flood);
    const replies = await Promise.all(flood.map((client) => client.join()));
    const accepted = replies.filter((reply) => reply.ok === true);
    expect(accepted).toHaveLength(4);
    for (const reply of replies.filter((r) => r.ok !== true)) {
      expect(reply).toMatchObject({ ok: false, code: 'too-many', event: 'join' });
      expect(reply.reason as string).toMatch(/created 6 new identities in the last 60000 ms/);
    }
    // A reconnect with an existing identity is not a new one: still accepted.
    const joined = flood.find((client) => client.clientId !== '')!;
    const again = await TestClient.connect(honest.coordinator.url, 99);
    env.clients.push(again);
    expect(await again.join({ clientId: joined.clientId, secret: joined.secret })).toMatchObject({
      ok: true,
      resumed: true,
    });
    await honest.completed();
    const state = honest.coordinator.state().federations[0]!;
    expect(state.clients).toHaveLength(6);
    expect(state.refusals.byCode).toEqual({ 'too-many': 26 });
  }, 120_000);

  it('caps the identities of a federation (maxClients): new joins beyond it are refused, known clients come back', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [{ maxClients: 3 }]);
    const joiners = await Promise.all(
      Array.from({ length: 5 }, (_, i) => TestClient.connect(env.coordinator!.url, i)),
    );
    env.clients.push(...joiners);
    const replies = [];
    for (const client of joiners) replies.push(await client.join());
    expect(replies.map((r) => r.ok)).toEqual([true, true, true, false, false]);
    for (const reply of replies.slice(3)) {
      expect(reply).toMatchObject({
        code: 'too-many',
        reason: expect.stringMatching(/has its 3 clients \(maxClients\)/),
      });
    }
    const again = await TestClient.connect(env.coordinator.url, 9);
    env.clients.push(again);
    const known = joiners[0]!;
    expect(await again.join({ clientId: known.clientId, secret: known.secret })).toMatchObject({
      ok: true,
      resumed: true,
    });
    expect(env.coordinator.state().federations[0]!.clients).toHaveLength(3);
  }, 60_000);

  it('records a message above the transport limit (the connection is cut) as too-large; the round goes on', async () => {
    const honest = await honestRound({}, { maxUpdateBytes: 200_000 });
    const big = await TestClient.connect(honest.coordinator.url, 3);
    env.clients.push(big);
    expect(await big.join()).toMatchObject({ ok: true });
    const cut = new Promise((resolve) => big.socket.once('disconnect', resolve));
    big.socket.emit('update', { federation: 'sentiment' }, new Uint8Array(200_000 + 1024 * 1024 + 1));
    await cut;
    await honest.completed();
    const refusals = honest.coordinator.state().federations[0]!.refusals;
    expect(refusals.byCode).toEqual({ 'too-large': 1 });
    expect(refusals.recent[0]!.reason).toMatch(
      /above the transport limit of 1248576 bytes: connection closed/,
    );
  }, 60_000);

  it('throttles a connection flooding requests and closes it, while an honest round completes', async () => {
    const honest = await honestRound({ requestLimit: { perSecond: 5, burst: 10, closeAfter: 300 } });
    const flooder = await TestClient.connect(honest.coordinator.url, 3);
    env.clients.push(flooder);
    expect(await flooder.join()).toMatchObject({ ok: true });
    const disconnected = new Promise((resolve) => flooder.socket.once('disconnect', resolve));
    // 400 heartbeats at once (and unknown events, which are throttled the same way).
    const replies = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        flooder.socket
          .timeout(5_000)
          .emitWithAck(i % 2 ? 'heartbeat' : 'no-such-event', {})
          .catch(() => ({ ok: false, code: 'no-answer' })),
      ),
    );
    const codes = replies.map((r) => (r as { code?: string }).code ?? 'ok');
    expect(codes.filter((c) => c === 'too-many').length).toBeGreaterThan(250);
    await disconnected; // closed after 300 refused in a row
    await honest.completed();
    const refusals = honest.coordinator.state().federations[0]!.refusals;
    expect(refusals.byCode['too-many']).toBeGreaterThanOrEqual(300);
    // Counted, but logged about once a second, plus the closing one.
    expect(refusals.recent.filter((r) => r.code === 'too-many').length).toBeLessThan(6);
    expect(refusals.recent.some((r) => /300 refused in a row, connection closed/.test(r.reason))).toBe(true);
  }, 120_000);
});
