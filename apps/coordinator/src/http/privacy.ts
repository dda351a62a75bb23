import { resolveDp } from '@fedhft/core';
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

/** The DP settings of a federation's config (read by core's own option resolver); null when DP is off. */
export function dpSettings(config: FederationConfig): DpSettings | null {
  const resolved = resolveDp(config.strategyOptions.dp, config.strategy);
  if (resolved === null) return null;
  const { noiseMultiplier, clipNorm, delta, samplingRate, expectedParticipants } = resolved;
  return { noiseMultiplier, clipNorm, delta, samplingRate, expectedParticipants };
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
