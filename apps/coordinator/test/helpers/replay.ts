import {
  createStrategy,
  decodeLimits,
  decodeUpdate,
  type ClientProfile,
  type ModelSchema,
  type StrategyName,
} from '@fedhft/core';
import { federationStrategyOptions, type FederationConfig } from '../../src/server/index';

/** One round as the coordinator ran it: who was offered (in order), at which budget, and the accepted uploads. */
export interface PlayedRound {
  readonly selected: readonly string[];
  readonly budgets: Readonly<Record<string, number>>;
  readonly uploads: readonly Uint8Array[];
}

/**
 * The same rounds through the federation's strategy in this process, from the uploaded bytes: what a live
 * coordinator must have computed. Example counts follow the coordinator's registry (0 before a client's
 * first update, then its last reported one). Returns the strategy snapshot after the last round.
 */
export function replayInProcess(
  config: FederationConfig,
  schema: ModelSchema,
  rounds: readonly PlayedRound[],
) {
  const strategy = createStrategy(
    config.strategy as StrategyName,
    schema,
    federationStrategyOptions(config) as never,
  );
  const limits = decodeLimits(schema);
  const exampleCounts = new Map<string, number>();
  rounds.forEach((played, round) => {
    const profiles = new Map<string, ClientProfile>(
      played.selected.map((clientId) => [
        clientId,
        { clientId, budget: played.budgets[clientId]!, exampleCount: exampleCounts.get(clientId) ?? 0 },
      ]),
    );
    for (const profile of profiles.values()) strategy.offer(profile, round);
    for (const bytes of played.uploads) {
      const update = decodeUpdate(bytes, limits);
      strategy.receive(update, profiles.get(update.clientId)!);
      exampleCounts.set(update.clientId, update.exampleCount);
    }
    strategy.finishRound(round);
  });
  return strategy.snapshot();
}
