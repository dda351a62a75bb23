import type { ReportedRoundMetrics, RoundNotice } from '@fedhft/core';
import type { OpenRound, RoundRecord } from './federation-types';

/** What a closed round's record says whatever its outcome, and what each of its clients is told. */

export type RoundRecordBase = Omit<RoundRecord, 'status' | 'memberships' | 'diagnostics' | 'reason'>;

export function roundRecordBase(
  open: OpenRound,
  closedBy: RoundRecord['closedBy'],
  closedAt: number,
): RoundRecordBase {
  const training = [...open.offers].filter(([, o]) => o.offerId !== null).map(([id]) => id);
  const clientMetrics: Record<string, ReportedRoundMetrics> = {};
  for (const [id, r] of open.received) if (r.metrics) clientMetrics[id] = r.metrics;
  return {
    round: open.round,
    attempt: open.attempt,
    startedAt: open.startedAt,
    offeredAt: open.offeredAt,
    deadline: open.deadline,
    closedAt,
    closedBy,
    selected: [...open.offers.keys()],
    skipped: [...open.offers]
      .filter(([, o]) => o.message.kind === 'skip')
      .map(([clientId, o]) => ({ clientId, reason: o.message.kind === 'skip' ? o.message.reason : '' })),
    participants: [...open.received.keys()],
    missing: training.filter((id) => !open.received.has(id)),
    bytes: {
      upload: [...open.received.values()].reduce((sum, r) => sum + r.bytes, 0),
      download: [...open.offers.values()].reduce((sum, o) => sum + o.payloadBytes, 0),
    },
    budgets: Object.fromEntries([...open.offers].map(([id, o]) => [id, o.profile.budget])),
    clientMetrics,
    personalizedAccuracy: weightedAccuracy(Object.values(clientMetrics)),
  };
}

/** The notice a client selected for the round receives when it closes. */
export function roundNotice(federation: string, record: RoundRecord, clientId: string): RoundNotice {
  const memberships = record.memberships[clientId];
  const aggregated = record.status === 'aggregated';
  return {
    federation,
    round: record.round,
    status: record.status,
    participants: aggregated ? record.participants.length : 0,
    included: aggregated && record.participants.includes(clientId),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
    ...(memberships === undefined ? {} : { memberships }),
  };
}

/** Participants' personalized accuracy weighted by their held-out sizes; null when none reported one. */
export function weightedAccuracy(metrics: readonly ReportedRoundMetrics[]): number | null {
  let total = 0;
  let sum = 0;
  for (const m of metrics) {
    if (m.accuracy === undefined) continue;
    const weight = m.heldOutExamples ?? 1;
    total += weight;
    sum += weight * m.accuracy;
  }
  return total === 0 ? null : sum / total;
}
