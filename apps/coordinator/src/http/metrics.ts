import type { FederationState, RoundRecord } from '../server/federation';
import { privacyMetrics, roundEpsilon, type DpSettings, type PrivacyMetrics } from './privacy';

/**
 * Per-round metrics of a federation, derived from its state (plain JSON, for the API and the dashboard).
 * Accuracy is what clients reported on their own held-out split; per cluster it is weighted by the clients'
 * memberships after the round times their held-out sizes, sum_k pi_kj n_k acc_k / sum_k pi_kj n_k. Memory is
 * the peak training memory clients reported, grouped by the budget level they trained at. Privacy (with
 * strategyOptions.dp) is the strategy accountant's epsilon, per round and after the last released round.
 */

export interface MemoryStats {
  readonly clients: number;
  readonly meanPeakBytes: number | null;
  readonly maxPeakBytes: number | null;
}

export interface FederationRoundMetrics {
  readonly round: number;
  readonly attempt: number;
  readonly status: RoundRecord['status'];
  readonly closedBy: RoundRecord['closedBy'];
  readonly startedAt: number;
  readonly closedAt: number;
  readonly durationMs: number;
  readonly selected: number;
  readonly participants: number;
  readonly missing: number;
  readonly bytes: { readonly upload: number; readonly download: number };
  /** Held-out-weighted mean of the reported accuracies, and per cluster (null: nobody reported). */
  readonly accuracy: { readonly overall: number | null; readonly perCluster: (number | null)[] };
  /** Mean reported training loss. */
  readonly loss: number | null;
  /** Reported peak memory by budget level ("0.25", ...). */
  readonly memoryByBudget: Record<string, MemoryStats>;
  readonly memberships: Record<string, number[]>;
  readonly diagnostics: Record<string, number>;
  /** The accountant's epsilon after this round (null: DP off or a failed round). */
  readonly epsilon: number | null;
  readonly reason?: string;
}

export interface BudgetGroup {
  readonly clients: number;
  readonly connected: number;
  /** Mean memory the clients reported they can spend (capability reports). */
  readonly meanMemoryBytes: number | null;
  readonly meanTokensPerSecond: number | null;
}

export interface FederationMetrics {
  readonly federation: string;
  /** K_c as seen in the memberships (1 before any clustering or for strategies without clusters). */
  readonly clusters: number;
  readonly rounds: FederationRoundMetrics[];
  readonly totals: {
    readonly aggregated: number;
    readonly failed: number;
    readonly upload: number;
    readonly download: number;
  };
  /** Clients by budget level now, with their reported capabilities. */
  readonly budgets: Record<string, BudgetGroup>;
  /** Differential privacy: off, or the epsilon spent so far with the mechanism's settings. */
  readonly privacy: PrivacyMetrics;
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function clusterCount(history: readonly RoundRecord[]): number {
  let k = 1;
  for (const record of history)
    for (const pi of Object.values(record.memberships)) k = Math.max(k, pi.length);
  return k;
}

function roundMetrics(
  record: RoundRecord,
  clusters: number,
  budgetNow: ReadonlyMap<string, number>,
): FederationRoundMetrics {
  const perCluster: (number | null)[] = [];
  for (let j = 0; j < clusters; j++) {
    let weight = 0;
    let sum = 0;
    for (const [clientId, m] of Object.entries(record.clientMetrics)) {
      if (m.accuracy === undefined) continue;
      // Without memberships (failed round, no clustering) every client counts fully in cluster 0 only.
      const pi = record.memberships[clientId]?.[j] ?? (j === 0 && clusters === 1 ? 1 : 0);
      const w = pi * (m.heldOutExamples ?? 1);
      weight += w;
      sum += w * m.accuracy;
    }
    perCluster.push(weight > 0 ? sum / weight : null);
  }
  const peaks = new Map<string, number[]>();
  for (const [clientId, m] of Object.entries(record.clientMetrics)) {
    const budget = record.budgets?.[clientId] ?? budgetNow.get(clientId);
    if (budget === undefined || m.peakBytes === undefined) continue;
    const key = String(budget);
    peaks.set(key, [...(peaks.get(key) ?? []), m.peakBytes]);
  }
  const memoryByBudget: Record<string, MemoryStats> = {};
  for (const [key, values] of [...peaks].sort(([a], [b]) => Number(a) - Number(b))) {
    memoryByBudget[key] = {
      clients: values.length,
      meanPeakBytes: mean(values),
      maxPeakBytes: Math.max(...values),
    };
  }
  const losses = Object.values(record.clientMetrics).flatMap((m) => (m.loss === undefined ? [] : [m.loss]));
  return {
    round: record.round,
    attempt: record.attempt,
    status: record.status,
    closedBy: record.closedBy,
    startedAt: record.startedAt,
    closedAt: record.closedAt,
    durationMs: record.closedAt - record.startedAt,
    selected: record.selected.length,
    participants: record.participants.length,
    missing: record.missing.length,
    bytes: { ...record.bytes },
    accuracy: { overall: record.personalizedAccuracy, perCluster },
    loss: mean(losses),
    memoryByBudget,
    memberships: record.memberships,
    diagnostics: record.diagnostics,
    epsilon: roundEpsilon(record),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
  };
}

/** `dp`: the federation's DP settings (dpSettings(config)); null or absent when DP is off. */
export function federationMetrics(state: FederationState, dp: DpSettings | null = null): FederationMetrics {
  const clusters = clusterCount(state.history);
  const budgetNow = new Map(
    state.clients.flatMap((c) => (c.budget === undefined ? [] : [[c.clientId, c.budget] as const])),
  );
  const rounds = state.history.map((record) => roundMetrics(record, clusters, budgetNow));
  const groups = new Map<string, typeof state.clients>();
  for (const client of state.clients) {
    if (client.budget === undefined) continue;
    const key = String(client.budget);
    groups.set(key, [...(groups.get(key) ?? []), client]);
  }
  const budgets: Record<string, BudgetGroup> = {};
  for (const [key, members] of [...groups].sort(([a], [b]) => Number(a) - Number(b))) {
    const reports = members.flatMap((c) => (c.capabilities ? [c.capabilities] : []));
    budgets[key] = {
      clients: members.length,
      connected: members.filter((c) => c.connected).length,
      meanMemoryBytes: mean(reports.map((r) => r.memoryBytes)),
      meanTokensPerSecond: mean(reports.map((r) => r.tokensPerSecond)),
    };
  }
  return {
    federation: state.id,
    clusters,
    rounds,
    totals: {
      aggregated: rounds.filter((r) => r.status === 'aggregated').length,
      failed: rounds.filter((r) => r.status === 'failed').length,
      upload: rounds.reduce((sum, r) => sum + r.bytes.upload, 0),
      download: rounds.reduce((sum, r) => sum + r.bytes.download, 0),
    },
    budgets,
    privacy: privacyMetrics(dp, state.history),
  };
}
