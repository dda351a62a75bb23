/**
 * Per-connection request rate limit: a token bucket (`perSecond` refill, `burst` capacity). An honest client
 * sends a few requests a round (join, report, update) and a heartbeat every few seconds; a flood is answered
 * with `too-many` refusals, all counted but only the first of each second logged (a flood must not turn into a
 * flood of log lines and disk writes), and a connection that keeps flooding is closed.
 */

export interface RequestLimit {
  readonly perSecond: number;
  readonly burst: number;
  /** Refused requests in one uninterrupted flood after which the connection is closed. */
  readonly closeAfter: number;
}

export const DEFAULT_REQUEST_LIMIT: RequestLimit = { perSecond: 20, burst: 60, closeAfter: 600 };

export type Admission = 'ok' | 'refuse-and-log' | 'refuse' | 'close';

export class RequestBucket {
  private tokens: number;
  private last: number;
  /** Refusals since the last admitted request. */
  private streak = 0;
  private lastLogged = -Infinity;

  constructor(
    private readonly limit: RequestLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.last = now;
  }

  admit(now: number): Admission {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.streak = 0;
      return 'ok';
    }
    this.streak++;
    if (this.streak >= this.limit.closeAfter) return 'close';
    if (now - this.lastLogged >= 1000) {
      this.lastLogged = now;
      return 'refuse-and-log';
    }
    return 'refuse';
  }
}
