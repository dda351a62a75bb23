import type { FederationConfig } from '../server/config';
import type { RoundRecord } from '../server/federation';

/**
 * The privacy a federation has spent, for the metrics API and the dashboard. The numbers come from the strategy's
 * own accountant (RoundSummary.diagnostics dpEpsilon / dpSteps, kept in each round record), not recomputed here,
 * so what is shown is exactly what the strategy reports; the settings (delta, sigma, q, S) come from the
 * federation's strategyOptions.dp, which the strategy has already validated at start-up.
 */

export interface DpSettings {
  readonly noiseMultiplier: number;
  readonly clipNorm: number;
  readonly delta: number;
  readonly samplingRate: number;
  readonly expectedParticipants: number;
}

export type PrivacyMetrics =
  | { readonly enabled: false }
  | ({
      readonly enabled: true;
      /** Epsilon for `delta` after `rounds` released rounds (0 before the first). */
      readonly epsilon: number;
      /** Rounds whose noisy aggregate was released (failed rounds release nothing). */
      readonly rounds: number;
    } & DpSettings);

function numberField(dp: Record<string, unknown>, key: keyof DpSettings): number {
  const value = dp[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`strategyOptions.dp.${key} must be a number, got ${String(value)}`);
  }
  return value;
}

/** The DP settings of a federation's config; null when DP is off. */
export function dpSettings(config: FederationConfig): DpSettings | null {
  const dp = config.strategyOptions.dp;
  if (dp === undefined) return null;
  if (dp === null || typeof dp !== 'object') throw new Error('strategyOptions.dp must be an object');
  const given = dp as Record<string, unknown>;
  return {
    noiseMultiplier: numberField(given, 'noiseMultiplier'),
    clipNorm: numberField(given, 'clipNorm'),
    delta: numberField(given, 'delta'),
    samplingRate: numberField(given, 'samplingRate'),
    expectedParticipants: numberField(given, 'expectedParticipants'),
  };
}

/** The accountant's epsilon after a round (null: DP off, or a failed round, which released nothing). */
export function roundEpsilon(record: RoundRecord): number | null {
  const epsilon = record.diagnostics.dpEpsilon;
  return record.status === 'aggregated' && typeof epsilon === 'number' ? epsilon : null;
}

export function privacyMetrics(settings: DpSettings | null, history: readonly RoundRecord[]): PrivacyMetrics {
  if (settings === null) return { enabled: false };
  const last = history.findLast((record) => roundEpsilon(record) !== null);
  return {
    enabled: true,
    ...settings,
    epsilon: last === undefined ? 0 : roundEpsilon(last)!,
    rounds: last?.diagnostics.dpSteps ?? 0,
  };
}
