import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * A federation's state on disk, one folder each: `checkpoint.json` (the strategy snapshot of the last completed
 * round, with its typed arrays as base64 by core's state-codec, plus the round history), `clients.json` (the
 * client registry) and `refusals.jsonl` (append-only log of refused messages). JSON files are replaced
 * atomically: written to a temporary file in the same folder, flushed, then renamed over the old one, so a
 * crash leaves either the old or the new file, never half of one.
 */

export const CHECKPOINT_FORMAT = 'fedhft-coordinator-checkpoint';
export const CHECKPOINT_VERSION = 1;

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  // Flush the folder too, so the rename itself survives a power loss (not possible on every platform).
  try {
    const folder = await open(path.dirname(file), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch {
    // best effort
  }
}

export interface Checkpoint<H = unknown> {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: typeof CHECKPOINT_VERSION;
  readonly federation: string;
  /** The round the federation runs next (the one after the last completed round). */
  readonly nextRound: number;
  readonly savedAt: number;
  /** Strategy.snapshot() of that moment. */
  readonly strategy: unknown;
  readonly history: H[];
}

export class FederationStore {
  readonly folder: string;
  /** Writes of one file happen in order; a write waiting behind another is replaced by a newer one. */
  private readonly queues = new Map<string, { running: Promise<void>; pending: (() => string) | null }>();
  private appends: Promise<void> = Promise.resolve();

  constructor(dataDir: string, federationId: string) {
    this.folder = path.resolve(dataDir, federationId);
  }

  get checkpointFile(): string {
    return path.join(this.folder, 'checkpoint.json');
  }

  get clientsFile(): string {
    return path.join(this.folder, 'clients.json');
  }

  get refusalsFile(): string {
    return path.join(this.folder, 'refusals.jsonl');
  }

  async init(): Promise<void> {
    await mkdir(this.folder, { recursive: true });
  }

  async readCheckpoint<H>(): Promise<Checkpoint<H> | null> {
    const text = await readOptional(this.checkpointFile);
    if (text === null) return null;
    const value = JSON.parse(text) as Partial<Checkpoint<H>>;
    if (value.format !== CHECKPOINT_FORMAT || value.version !== CHECKPOINT_VERSION) {
      throw new Error(
        `${this.checkpointFile}: not a ${CHECKPOINT_FORMAT} file of version ${CHECKPOINT_VERSION}`,
      );
    }
    if (!Number.isInteger(value.nextRound) || !Array.isArray(value.history)) {
      throw new Error(`${this.checkpointFile}: nextRound or history missing`);
    }
    return value as Checkpoint<H>;
  }

  async readClients(): Promise<unknown> {
    const text = await readOptional(this.clientsFile);
    return text === null ? null : (JSON.parse(text) as unknown);
  }

  writeCheckpoint<H>(checkpoint: Checkpoint<H>): Promise<void> {
    // Serialised now: the history array it holds grows after this call.
    const text = JSON.stringify(checkpoint);
    return this.enqueue(this.checkpointFile, () => text);
  }

  /**
   * Serialised when its turn comes, not per call: every join and capability report saves the registry, and
   * stringifying all N clients each time made joining N clients O(N^2) (17 of 35 s with 3,000 clients). A
   * call replaced by a newer one before its turn is never serialised; the file gets the state at write time.
   */
  writeClients(records: unknown): Promise<void> {
    return this.enqueue(this.clientsFile, () => JSON.stringify(records, null, 1));
  }

  /** Appends in call order (one chain), so the log's lines keep the order of the refusals. */
  appendRefusal(entry: unknown): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    this.appends = this.appends.then(() => appendFile(this.refusalsFile, line)).catch(() => {});
    return this.appends;
  }

  /** Resolves once every write queued so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all([...[...this.queues.values()].map((q) => q.running), this.appends]);
  }

  private enqueue(file: string, data: () => string): Promise<void> {
    const queue = this.queues.get(file);
    if (queue) {
      queue.pending = data;
      return queue.running;
    }
    const entry = { running: Promise.resolve(), pending: null as (() => string) | null };
    entry.running = (async () => {
      let next: (() => string) | null = data;
      try {
        while (next !== null) {
          entry.pending = null;
          await writeFileAtomic(file, next());
          next = entry.pending;
        }
      } finally {
        this.queues.delete(file);
      }
    })();
    this.queues.set(file, entry);
    return entry.running;
  }
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
