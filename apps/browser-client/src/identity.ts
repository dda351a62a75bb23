import { z } from 'zod';

/**
 * Which federation identity (client id + reconnect secret) this tab uses. A reload must come back as the same
 * client (same budget, memberships, demo shard), while two tabs of one browser must be two clients: both read
 * the same localStorage, so an identity there alone would make them fight over one id (the server keeps only
 * the newest connection of a client).
 *
 * So localStorage keeps a pool of identities per coordinator and federation, and a tab holds a Web Lock named
 * after the identity it uses for as long as it lives (the browser frees it when the tab closes or reloads).
 * sessionStorage, which survives a reload but belongs to one tab, remembers which identity this tab had. A tab
 * claims: its own previous identity (waiting a moment for the reloaded page's lock to be freed), else a free
 * one from the pool (a tab closed earlier: the same device comes back as the same client), else none, and then
 * joins anew and saves what the coordinator issued.
 */

export interface StoredIdentity {
  readonly clientId: string;
  readonly secret: string;
}

export interface IdentityStore {
  /** An identity for this tab to rejoin with, held until the tab goes away; null: join anew. */
  claim(): Promise<StoredIdentity | null>;
  /** Keeps a newly issued identity (for reloads) and holds it for this tab. */
  save(identity: StoredIdentity): Promise<void>;
  /** Drops an identity the coordinator no longer knows. */
  forget(clientId: string): Promise<void>;
}

const identitySchema = z.strictObject({
  clientId: z.string().min(1).max(128),
  secret: z.string().min(1).max(512),
});
const poolSchema = z.array(identitySchema).max(64);

/** The subset of the Web Locks API used here (navigator.locks). */
export interface Locks {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown> | unknown,
  ): Promise<unknown>;
}

export interface IdentityStoreOptions {
  readonly local: Pick<Storage, 'getItem' | 'setItem'>;
  readonly session: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  /** Without locks (an old browser) only this tab's own identity is reused, never another tab's. */
  readonly locks: Locks | null;
  /** How long to wait for this tab's own identity to be freed by the page it replaces (ms). */
  readonly reloadWaitMs?: number;
}

/** Storage key of a coordinator's federation: identities are per server and federation. */
export function identityKey(coordinatorUrl: string, federation: string): string {
  const url = new URL(coordinatorUrl);
  return `fedhft.identity.${url.origin}${url.pathname.replace(/\/$/, '')}.${federation}`;
}

export class BrowserIdentityStore implements IdentityStore {
  /** Releases the lock this tab holds (never called while the tab lives; tests use it). */
  private release: (() => void) | null = null;

  constructor(
    private readonly key: string,
    private readonly options: IdentityStoreOptions,
  ) {}

  async claim(): Promise<StoredIdentity | null> {
    const pool = this.readPool();
    const own = this.options.session.getItem(this.key);
    const mine = pool.find((identity) => identity.clientId === own);
    const { locks } = this.options;
    if (!locks) return mine ?? null;
    if (mine && (await this.hold(mine.clientId, this.options.reloadWaitMs ?? 3000))) return mine;
    for (const identity of pool) {
      if (identity === mine) continue;
      if (await this.hold(identity.clientId, 0)) {
        this.options.session.setItem(this.key, identity.clientId);
        return identity;
      }
    }
    return null;
  }

  async save(identity: StoredIdentity): Promise<void> {
    const parsed = identitySchema.parse(identity);
    // Held before it enters the pool, so no other tab can claim it in between.
    if (this.options.locks) await this.hold(parsed.clientId, 0);
    await this.updatePool((pool) => [...pool.filter((i) => i.clientId !== parsed.clientId), parsed]);
    this.options.session.setItem(this.key, parsed.clientId);
  }

  async forget(clientId: string): Promise<void> {
    await this.updatePool((pool) => pool.filter((i) => i.clientId !== clientId));
    if (this.options.session.getItem(this.key) === clientId) this.options.session.removeItem(this.key);
    this.release?.();
    this.release = null;
  }

  /** Lets go of the held identity (tests; a tab never needs to). */
  releaseHeld(): void {
    this.release?.();
    this.release = null;
  }

  private readPool(): StoredIdentity[] {
    const raw = this.options.local.getItem(this.key);
    if (raw === null) return [];
    try {
      const parsed = poolSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : [];
    } catch {
      return []; // unreadable: start a new pool rather than fail to join
    }
  }

  /** Read-modify-write of the pool under a lock, so tabs joining at once do not drop each other's entries. */
  private async updatePool(change: (pool: StoredIdentity[]) => StoredIdentity[]): Promise<void> {
    const write = () => {
      const next = change(this.readPool()).slice(-64);
      this.options.local.setItem(this.key, JSON.stringify(next));
    };
    if (this.options.locks) await this.options.locks.request(`${this.key}#pool`, {}, write);
    else write();
  }

  /**
   * Takes the identity's lock and keeps it for the life of the tab. waitMs 0: only if free now; otherwise
   * waits up to waitMs for it.
   */
  private hold(clientId: string, waitMs: number): Promise<boolean> {
    const locks = this.options.locks!;
    const name = `${this.key}#${clientId}`;
    return new Promise<boolean>((resolve) => {
      const options = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
      locks
        .request(name, options, (lock) => {
          if (lock === null) {
            resolve(false);
            return undefined;
          }
          this.release?.();
          resolve(true);
          // The lock lasts as long as this promise is pending: for the life of the tab.
          return new Promise<void>((done) => (this.release = done));
        })
        .catch(() => resolve(false)); // timed out: another tab has it
    });
  }
}
