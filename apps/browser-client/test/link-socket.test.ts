import { describe, expect, it } from 'vitest';
import { runClientRound } from '@fedhft/adapters';
import { decodeModelPayload, encodeUpdate } from '@fedhft/core';
import { TinyEncoder } from '../../../packages/adapters/test/fixtures/tiny-encoder';
import {
  BIG,
  SMALL,
  TOKEN,
  TestClient,
  nextEvent,
  sentimentSet,
  startServer,
  tempDir,
} from '../../coordinator/test/helpers/server-client';
import { BrowserIdentityStore, identityKey } from '../src/identity';
import { LinkRefusal, type RoundNotice, type SkipOffer, type TrainOffer } from '../src/link';
import { SocketLink } from '../src/link-socket';
import { MemoryLocks, MemoryStorage } from './fake-browser';
import { testEnvironment } from '../../coordinator/test/helpers/teardown';

/**
 * The page's socket.io link against a real coordinator (the server tests' tiny encoder): join with the token,
 * capability report, an offer with its binary payload, the update and its acknowledgement, the round notice
 * with this client's memberships; a reload resumes the stored identity; refusals arrive as LinkRefusal.
 */

const env = testEnvironment();

function tabStore(local: MemoryStorage, locks: MemoryLocks, session = new MemoryStorage()) {
  const key = identityKey(env.coordinator!.url, 'sentiment');
  return { session, store: new BrowserIdentityStore(key, { local, session, locks, reloadWaitMs: 100 }) };
}

function link(store: BrowserIdentityStore, federation = 'sentiment', token = TOKEN): SocketLink {
  const created = new SocketLink({ url: env.coordinator!.url, token, federation, identities: store });
  env.sockets.push(created);
  return created;
}

function nextOffer(
  target: SocketLink,
): Promise<{ offer: TrainOffer | SkipOffer; payload: Uint8Array | null }> {
  return new Promise((resolve) => {
    const off = target.onOffer((offer, payload) => {
      off();
      resolve({ offer, payload });
    });
  });
}

async function trainOffer(offer: TrainOffer, payload: Uint8Array, clientId: string): Promise<Uint8Array> {
  const encoder = new TinyEncoder();
  try {
    const result = await runClientRound(
      encoder,
      { payload: decodeModelPayload(payload, { maxBytes: payload.byteLength }), plan: offer.plan },
      sentimentSet(16, 7),
      offer.train,
      { clientId, round: offer.round, seed: offer.seed },
    );
    return encodeUpdate(result.update, { precision: offer.precision });
  } finally {
    encoder.dispose();
  }
}

describe('SocketLink', () => {
  it('joins, trains an offered round through the protocol and rejoins as the same client', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [{ minClients: 2, rounds: 2 }]);
    const local = new MemoryStorage();
    const locks = new MemoryLocks();
    const tab = tabStore(local, locks);
    const page = link(tab.store);
    const joined = await page.connect();
    expect(joined).toMatchObject({ resumed: false, federation: { id: 'sentiment', numClasses: 2, rank: 4 } });
    expect(await page.reportCapabilities(SMALL)).toEqual({ budget: 0.25 });

    const offered = nextOffer(page);
    const notices: RoundNotice[] = [];
    page.onRound((notice) => notices.push(notice));
    const other = await TestClient.ready(env.coordinator.url, 2, BIG);
    env.clients.push(other);
    const { offer, payload } = await offered;
    expect(offer.kind).toBe('train');
    if (offer.kind !== 'train') return;
    expect(offer.plan.budget).toBe(0.25);
    expect(payload!.byteLength).toBeGreaterThan(100);

    const closed = nextEvent(env.coordinator, 'round-closed', (e) => e.record.round === 0);
    const bytes = await trainOffer(offer, payload!, joined.clientId);
    const meta = { federation: 'sentiment', clientId: joined.clientId, round: 0, offerId: offer.offerId };
    const [ack] = await Promise.all([page.sendUpdate(meta, bytes), other.playRound(0)]);
    expect(ack.round).toBe(0);
    const { record } = await closed;
    expect(record.participants).toContain(joined.clientId);
    await expect.poll(() => notices.length).toBe(1);
    expect(notices[0]).toMatchObject({ round: 0, status: 'aggregated', included: true });
    expect(notices[0]!.memberships).toEqual(record.memberships[joined.clientId]);

    // A second copy of the same update is refused, and the refusal names its code.
    await expect(page.sendUpdate(meta, bytes)).rejects.toMatchObject({ code: 'wrong-round' });
    // No demo corpus in this federation.
    const demo = page.requestDemoShard().catch((error: unknown) => error);
    expect(await demo).toBeInstanceOf(LinkRefusal);
    expect(await demo).toMatchObject({ code: 'unavailable' });

    // A reload: the old page goes, the new one (same sessionStorage) resumes the identity and its budget.
    page.close();
    tab.store.releaseHeld();
    const reloaded = link(tabStore(local, locks, tab.session).store);
    expect(await reloaded.connect()).toMatchObject({
      clientId: joined.clientId,
      resumed: true,
      budget: 0.25,
    });
    // Another tab of the same browser is another client.
    const second = link(tabStore(local, locks).store);
    const secondJoined = await second.connect();
    expect(secondJoined.clientId).not.toBe(joined.clientId);
    expect(JSON.parse(local.getItem(identityKey(env.coordinator.url, 'sentiment'))!)).toHaveLength(2);
  });

  it('a page reloaded mid-round gets its offer again, kept until the session listens', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir, [{ minClients: 2, rounds: 1 }]);
    const local = new MemoryStorage();
    const locks = new MemoryLocks();
    const tab = tabStore(local, locks);
    const page = link(tab.store);
    const joined = await page.connect();
    await page.reportCapabilities(BIG);
    const first = nextOffer(page);
    const other = await TestClient.ready(env.coordinator.url, 2, BIG);
    env.clients.push(other);
    const { offer } = await first;
    expect(offer.kind).toBe('train');

    // The page reloads before training: the new page rejoins, and the offer it missed arrives before the
    // session subscribes (it first loads its data); the link keeps it for the listener.
    page.close();
    tab.store.releaseHeld();
    const reloaded = link(tabStore(local, locks, tab.session).store);
    expect(await reloaded.connect()).toMatchObject({ clientId: joined.clientId, resumed: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await nextOffer(reloaded);
    expect(again.offer).toEqual(offer);
    expect(again.payload!.byteLength).toBeGreaterThan(100);
  });

  it('forgets an identity the coordinator does not know and refuses a wrong token', async () => {
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    env.coordinator = await startServer(tmp.dir);
    const local = new MemoryStorage();
    const key = identityKey(env.coordinator.url, 'sentiment');
    local.setItem(key, JSON.stringify([{ clientId: 'c-from-another-run', secret: 'old-secret' }]));
    const page = link(tabStore(local, new MemoryLocks()).store);
    const joined = await page.connect();
    expect(joined.resumed).toBe(false);
    expect(joined.clientId).not.toBe('c-from-another-run');
    const pool = JSON.parse(local.getItem(key)!) as { clientId: string }[];
    expect(pool.map((i) => i.clientId)).toEqual([joined.clientId]);

    const wrong = link(tabStore(new MemoryStorage(), new MemoryLocks()).store, 'sentiment', 'not-the-token');
    await expect(wrong.connect()).rejects.toMatchObject({ code: 'bad-token' });
  });
});
