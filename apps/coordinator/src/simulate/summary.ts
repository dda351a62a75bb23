import type { PersonalizedEvaluation } from '@fedhft/adapters';
import type { RoundMetrics } from './run';

/** Figures of one run (one seed), from its rounds. */
export interface RunSummary {
  readonly rounds: number;
  /** Personalized figures of the last round in which anyone was evaluated. */
  readonly finalPersonalized: (PersonalizedEvaluation & { readonly clients: number }) | null;
  readonly bestPersonalizedAccuracy: number | null;
  /** Global test figures of the last evaluated round: every cluster, their mean and the best. */
  readonly finalGlobal: {
    readonly clusters: readonly (PersonalizedEvaluation & { readonly cluster: number })[];
    readonly meanAccuracy: number;
    readonly bestAccuracy: number;
  } | null;
  /** Mean over client-rounds that communicated (local-only: 0). */
  readonly uploadBytesPerClientRound: number;
  readonly downloadBytesPerClientRound: number;
  readonly totalUploadBytes: number;
  readonly totalDownloadBytes: number;
  /** Highest client peak over the run, by budget level (frozen encoder included) and its training part. */
  readonly peakBytesByBudget: Record<string, number>;
  readonly trainingBytesByBudget: Record<string, number>;
  readonly clientRounds: number;
  readonly wallSeconds: number;
}

/** Mean, sample standard deviation (0 for one value) and the values. */
export interface Spread {
  readonly mean: number;
  readonly std: number;
  readonly values: number[];
}

/** What several seeds of the same configuration give. */
export interface SeedsSummary {
  readonly seeds: number;
  readonly personalizedAccuracy: Spread | null;
  readonly personalizedMacroF1: Spread | null;
  readonly globalMeanAccuracy: Spread | null;
  readonly globalBestAccuracy: Spread | null;
  readonly uploadBytesPerClientRound: Spread;
  readonly downloadBytesPerClientRound: Spread;
  readonly peakBytesByBudget: Record<string, number>;
  readonly trainingBytesByBudget: Record<string, number>;
  readonly wallSeconds: Spread;
}

/** Size-weighted accuracy, macro-F1 and loss over evaluations (null for none or only empty ones). */
export function weightedEvaluation(
  evaluations: readonly PersonalizedEvaluation[],
): (PersonalizedEvaluation & { readonly clients: number }) | null {
  const count = evaluations.reduce((sum, e) => sum + e.count, 0);
  if (count === 0) return null;
  const weighted = (key: 'accuracy' | 'macroF1' | 'loss') =>
    evaluations.reduce((sum, e) => sum + e[key] * e.count, 0) / count;
  return {
    accuracy: weighted('accuracy'),
    macroF1: weighted('macroF1'),
    loss: weighted('loss'),
    count,
    clients: evaluations.length,
  };
}

function mergeMax(target: Record<string, number>, source: Record<string, number>): void {
  for (const [key, value] of Object.entries(source)) target[key] = Math.max(target[key] ?? 0, value);
}

export function summarizeRun(rounds: readonly RoundMetrics[]): RunSummary {
  const personalized = rounds.flatMap((r) => (r.personalized ? [r.personalized] : []));
  const lastGlobal =
    [...rounds].reverse().find((r) => r.global !== null && r.global.length > 0)?.global ?? null;
  const clientRounds = rounds.flatMap((r) => r.clients);
  const communicating = clientRounds.filter((c) => c.uploadBytes > 0 || c.downloadBytes > 0);
  const sum = (values: number[]) => values.reduce((total, v) => total + v, 0);
  const peakBytesByBudget: Record<string, number> = {};
  const trainingBytesByBudget: Record<string, number> = {};
  for (const r of rounds) {
    mergeMax(peakBytesByBudget, r.peakBytesByBudget);
    mergeMax(trainingBytesByBudget, r.trainingBytesByBudget);
  }
  const totalUploadBytes = sum(clientRounds.map((c) => c.uploadBytes));
  const totalDownloadBytes = sum(clientRounds.map((c) => c.downloadBytes));
  return {
    rounds: rounds.length,
    finalPersonalized: personalized.at(-1) ?? null,
    bestPersonalizedAccuracy: personalized.length ? Math.max(...personalized.map((p) => p.accuracy)) : null,
    finalGlobal:
      lastGlobal === null
        ? null
        : {
            clusters: lastGlobal,
            meanAccuracy: sum(lastGlobal.map((g) => g.accuracy)) / lastGlobal.length,
            bestAccuracy: Math.max(...lastGlobal.map((g) => g.accuracy)),
          },
    uploadBytesPerClientRound: communicating.length ? totalUploadBytes / communicating.length : 0,
    downloadBytesPerClientRound: communicating.length ? totalDownloadBytes / communicating.length : 0,
    totalUploadBytes,
    totalDownloadBytes,
    peakBytesByBudget,
    trainingBytesByBudget,
    clientRounds: clientRounds.length,
    wallSeconds: sum(rounds.map((r) => r.wallSeconds)),
  };
}

export function spread(values: readonly number[]): Spread {
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const variance =
    values.length < 2 ? 0 : values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance), values: [...values] };
}

function optionalSpread(values: readonly (number | null | undefined)[]): Spread | null {
  const present = values.filter((v): v is number => typeof v === 'number');
  return present.length === values.length && present.length > 0 ? spread(present) : null;
}

export function summarizeRuns(runs: readonly RunSummary[]): SeedsSummary {
  const peakBytesByBudget: Record<string, number> = {};
  const trainingBytesByBudget: Record<string, number> = {};
  for (const run of runs) {
    mergeMax(peakBytesByBudget, run.peakBytesByBudget);
    mergeMax(trainingBytesByBudget, run.trainingBytesByBudget);
  }
  return {
    seeds: runs.length,
    personalizedAccuracy: optionalSpread(runs.map((r) => r.finalPersonalized?.accuracy)),
    personalizedMacroF1: optionalSpread(runs.map((r) => r.finalPersonalized?.macroF1)),
    globalMeanAccuracy: optionalSpread(runs.map((r) => r.finalGlobal?.meanAccuracy)),
    globalBestAccuracy: optionalSpread(runs.map((r) => r.finalGlobal?.bestAccuracy)),
    uploadBytesPerClientRound: spread(runs.map((r) => r.uploadBytesPerClientRound)),
    downloadBytesPerClientRound: spread(runs.map((r) => r.downloadBytesPerClientRound)),
    peakBytesByBudget,
    trainingBytesByBudget,
    wallSeconds: spread(runs.map((r) => r.wallSeconds)),
  };
}
