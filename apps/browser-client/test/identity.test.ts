import { describe, expect, it } from 'vitest';
import { BrowserIdentityStore, identityKey } from '../src/identity';
import { MemoryLocks, MemoryStorage } from './fake-browser';

const KEY = identityKey('http://127.0.0.1:8080/', 'demo');

/** One browser: shared localStorage and locks; each tab has its own sessionStorage. */
function browser() {
  const local = new MemoryStorage();
  const locks = new MemoryLocks();
  const tab = (session = new MemoryStorage()) => ({
    session,
    store: new BrowserIdentityStore(KEY, { local, session, locks, reloadWaitMs: 200 }),
  });
  return { local, locks, tab };
}

describe('which identity a tab rejoins with', () => {
  it('is keyed by the coordinator origin and the federation', () => {
    expect(identityKey('http://127.0.0.1:8080/?token=x', 'demo')).toBe(
      'fedhft.identity.http://127.0.0.1:8080.demo',
    );
    expect(identityKey('http://127.0.0.1:8080', 'other')).not.toBe(KEY);
  });

  it('a reload resumes the tab its identity; a second tab gets none (it joins anew)', async () => {
    const { tab } = browser();
    const first = tab();
    expect(await first.store.claim()).toBeNull();
    await first.store.save({ clientId: 'c-1', secret: 's-1' });

    // Another tab while the first is open: c-1 is held, so it must be a new client.
    const second = tab();
    expect(await second.store.claim()).toBeNull();
    await second.store.save({ clientId: 'c-2', secret: 's-2' });

    // The first tab reloads: same sessionStorage; its old page lets go of the lock a moment later.
    const reloaded = tab(first.session);
    const claimed = reloaded.store.claim();
    setTimeout(() => first.store.releaseHeld(), 50);
    expect(await claimed).toEqual({ clientId: 'c-1', secret: 's-1' });
  });

  it('a tab opened after another closed takes over the free identity; a stale one is forgotten', async () => {
    const { tab, local } = browser();
    const first = tab();
    await first.store.claim();
    await first.store.save({ clientId: 'c-1', secret: 's-1' });
    first.store.releaseHeld(); // the tab closed
    await new Promise((resolve) => setTimeout(resolve, 0));

    const next = tab();
    expect(await next.store.claim()).toEqual({ clientId: 'c-1', secret: 's-1' });
    expect(next.session.getItem(KEY)).toBe('c-1');
    await next.store.forget('c-1');
    expect(JSON.parse(local.getItem(KEY)!)).toEqual([]);
    expect(next.session.getItem(KEY)).toBeNull();
  });

  it('ignores an unreadable pool and keeps entries of tabs saving at once', async () => {
    const { tab, local } = browser();
    local.setItem(KEY, '{not json');
    const a = tab();
    const b = tab();
    expect(await a.store.claim()).toBeNull();
    await Promise.all([
      a.store.save({ clientId: 'c-a', secret: 's-a' }),
      b.store.save({ clientId: 'c-b', secret: 's-b' }),
    ]);
    const pool = JSON.parse(local.getItem(KEY)!) as { clientId: string }[];
    expect(pool.map((i) => i.clientId).sort()).toEqual(['c-a', 'c-b']);
  });

  it('without Web Locks, only the tab its own identity is reused', async () => {
    const local = new MemoryStorage();
    const session = new MemoryStorage();
    const store = new BrowserIdentityStore(KEY, { local, session, locks: null });
    await store.save({ clientId: 'c-1', secret: 's-1' });
    expect(await store.claim()).toEqual({ clientId: 'c-1', secret: 's-1' });
    const other = new BrowserIdentityStore(KEY, { local, session: new MemoryStorage(), locks: null });
    expect(await other.claim()).toBeNull();
  });
});
