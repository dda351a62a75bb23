import type { Locks } from '../src/identity';

/** Browser storage and Web Locks stand-ins for Node tests of identity.ts and link-socket.ts. */

export class MemoryStorage {
  private readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** Exclusive locks by name, granted in request order, as navigator.locks does (ifAvailable and signal too). */
export class MemoryLocks implements Locks {
  private readonly held = new Set<string>();
  private readonly queues = new Map<string, (() => void)[]>();

  async request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown> | unknown,
  ): Promise<unknown> {
    if (this.held.has(name)) {
      if (options.ifAvailable) return callback(null);
      // Granted when the holder lets go: the name stays held, handed straight to this request.
      await new Promise<void>((resolve, reject) => {
        const queue = this.queues.get(name) ?? [];
        const grant = () => resolve();
        queue.push(grant);
        this.queues.set(name, queue);
        options.signal?.addEventListener('abort', () => {
          const at = queue.indexOf(grant);
          if (at >= 0) queue.splice(at, 1);
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    } else {
      this.held.add(name);
    }
    try {
      return await callback({ name });
    } finally {
      const next = this.queues.get(name)?.shift();
      if (next) next();
      else this.held.delete(name);
    }
  }

  isHeld(name: string): boolean {
    return this.held.has(name);
  }
}
