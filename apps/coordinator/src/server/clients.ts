import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CapabilityReport } from '@fedhft/core';

/**
 * A federation's clients: stable ids with reconnect secrets (only their SHA-256 is kept: a leaked registry file
 * does not let anyone take over an identity), budgets from capability reports, and participation counters.
 * The persistent part survives restarts; `connected`, `status` and `progress` are live only.
 */

export interface ClientRecord {
  readonly clientId: string;
  readonly secretHash: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** s_k from the last capability report (undefined: not reported yet, so not selectable). */
  budget?: number;
  capabilities?: CapabilityReport;
  /** N_k from the last accepted update. */
  exampleCount: number;
  /** Rounds whose aggregate included this client's update. */
  roundsIncluded: number;
  lastRound?: number;
}

export interface LiveClientState {
  connected: boolean;
  status?: string;
  progress?: number;
}

/** The JSON shape of a client in registry files and dashboard state (the secret's hash left out there). */
export type ClientView = Omit<ClientRecord, 'secretHash'> & LiveClientState;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class ClientRegistry {
  private readonly records = new Map<string, ClientRecord>();
  private readonly live = new Map<string, LiveClientState>();

  /** A new identity; the secret is returned once and never stored. */
  create(now = Date.now()): { record: ClientRecord; secret: string } {
    let clientId: string;
    do clientId = `c-${randomBytes(9).toString('base64url')}`;
    while (this.records.has(clientId));
    const secret = randomBytes(32).toString('base64url');
    const record: ClientRecord = {
      clientId,
      secretHash: sha256(secret).toString('hex'),
      createdAt: now,
      lastSeenAt: now,
      exampleCount: 0,
      roundsIncluded: 0,
    };
    this.records.set(clientId, record);
    return { record, secret };
  }

  /** The record when `secret` is this client's, else null (constant-time comparison of the hashes). */
  authenticate(clientId: string, secret: string): ClientRecord | null {
    const record = this.records.get(clientId);
    if (!record) return null;
    const expected = Buffer.from(record.secretHash, 'hex');
    const given = sha256(secret);
    return expected.length === given.length && timingSafeEqual(expected, given) ? record : null;
  }

  get(clientId: string): ClientRecord | undefined {
    return this.records.get(clientId);
  }

  get size(): number {
    return this.records.size;
  }

  all(): ClientRecord[] {
    return [...this.records.values()];
  }

  liveState(clientId: string): LiveClientState {
    let state = this.live.get(clientId);
    if (!state) {
      state = { connected: false };
      this.live.set(clientId, state);
    }
    return state;
  }

  /** Whether at least `count` clients are ready (stops counting there: called at every report). */
  hasReady(count: number): boolean {
    let ready = 0;
    for (const record of this.records.values()) {
      if (record.budget !== undefined && this.live.get(record.clientId)?.connected && ++ready >= count)
        return true;
    }
    return ready >= count;
  }

  /** Connected clients with a budget, sorted by id (what a round may select). */
  ready(): ClientRecord[] {
    return this.all()
      .filter((r) => r.budget !== undefined && this.liveState(r.clientId).connected)
      .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }

  view(): ClientView[] {
    return this.all().map(({ secretHash: _hash, ...record }) => ({
      ...record,
      ...this.liveState(record.clientId),
    }));
  }

  toJSON(): ClientRecord[] {
    return this.all();
  }

  /** Restores records saved by toJSON (checked field by field: the file is external input). */
  static fromJSON(value: unknown): ClientRegistry {
    const registry = new ClientRegistry();
    if (!Array.isArray(value)) throw new Error('client registry: expected an array');
    for (const [i, item] of value.entries()) {
      const r = item as Partial<ClientRecord> | null;
      if (
        r === null ||
        typeof r !== 'object' ||
        typeof r.clientId !== 'string' ||
        typeof r.secretHash !== 'string' ||
        !/^[0-9a-f]{64}$/.test(r.secretHash) ||
        typeof r.createdAt !== 'number' ||
        typeof r.lastSeenAt !== 'number' ||
        typeof r.exampleCount !== 'number' ||
        typeof r.roundsIncluded !== 'number' ||
        (r.budget !== undefined && typeof r.budget !== 'number')
      ) {
        throw new Error(`client registry: entry ${i} is malformed`);
      }
      registry.records.set(r.clientId, { ...(r as ClientRecord) });
    }
    return registry;
  }
}

/** Budget level from a capability report: the highest level whose memory and throughput minima are met. */
export function budgetFor(
  report: CapabilityReport,
  levels: readonly { budget: number; minMemoryBytes: number; minTokensPerSecond: number }[],
): number {
  const sorted = [...levels].sort((a, b) => b.budget - a.budget);
  const met = sorted.find(
    (l) => report.memoryBytes >= l.minMemoryBytes && report.tokensPerSecond >= l.minTokensPerSecond,
  );
  // A client below every level still gets the smallest one: it may train slowly, but it is not shut out.
  return (met ?? sorted[sorted.length - 1]!).budget;
}
