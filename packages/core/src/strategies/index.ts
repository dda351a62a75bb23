export type {
  ClientOffer,
  ClientProfile,
  ClusterModel,
  ModelSchema,
  RoundSummary,
  Strategy,
  TrainingPlan,
} from './strategy';
export { createStrategy, STRATEGY_NAMES, type StrategyName, type StrategyOptionsByName } from './factory';
export { FedHftStrategy, HeteroFlStrategy } from './fedhft';
export type { FedHftOptions, ResolvedFedHftOptions } from './fedhft-options';
export type { DpOptions, ResolvedDpOptions, RobustAggregation } from './privacy-options';
export { resolveDp } from './privacy-options';
export { FedAvgFullStrategy, type FedAvgFullOptions } from './fedavg-full';
export { FedAvgLoraStrategy, type FedAvgLoraOptions } from './fedavg-lora';
export { GlobalLoraStrategy, type GlobalLoraOptions } from './global-lora';
export { HetLoraStrategy, type HetLoraOptions } from './hetlora';
export { FloraStrategy, type FloraOptions } from './flora';
export { LocalOnlyStrategy, type LocalOnlyOptions } from './local-only';
export { chooseRows, mixtureRowImportance, uploadRowImportance } from './row-choice';
export { initialLora } from './lora-factors';
