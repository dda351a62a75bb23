import type { RefusalCode } from '@fedhft/core';

/** Refused messages: counted by code, the recent ones kept for dashboards, each one reported to a sink. */

export interface RefusalEntry {
  readonly at: number;
  /** The federation it concerns ('' before a join named one). */
  readonly federation: string;
  readonly event: string;
  readonly code: RefusalCode;
  readonly reason: string;
  readonly clientId?: string;
  /** socket.io socket id (connection), for telling connections apart in logs. */
  readonly socketId?: string;
}

export interface RefusalSummary {
  readonly total: number;
  readonly byCode: Partial<Record<RefusalCode, number>>;
  readonly recent: readonly RefusalEntry[];
}

export class RefusalLog {
  private total = 0;
  private readonly byCode: Partial<Record<RefusalCode, number>> = {};
  private readonly recent: RefusalEntry[] = [];

  constructor(
    private readonly sink: (entry: RefusalEntry) => void,
    private readonly keep = 100,
  ) {}

  /** Counts a refusal; unless `quiet` (a throttled flood), keeps it among the recent ones and reports it. */
  record(entry: RefusalEntry, quiet = false): void {
    this.total++;
    this.byCode[entry.code] = (this.byCode[entry.code] ?? 0) + 1;
    if (quiet) return;
    this.recent.push(entry);
    if (this.recent.length > this.keep) this.recent.shift();
    this.sink(entry);
  }

  summary(): RefusalSummary {
    return { total: this.total, byCode: { ...this.byCode }, recent: [...this.recent] };
  }

  /** Counters carried over a restart (the log file keeps every entry). */
  restoreCounts(value: unknown): void {
    if (value === null || typeof value !== 'object') return;
    const saved = value as { total?: unknown; byCode?: unknown };
    if (typeof saved.total === 'number') this.total = saved.total;
    if (saved.byCode !== null && typeof saved.byCode === 'object') {
      for (const [code, count] of Object.entries(saved.byCode as Record<string, unknown>)) {
        if (typeof count === 'number') this.byCode[code as RefusalCode] = count;
      }
    }
  }
}
