export type {
  ClientOffer,
  ClientProfile,
  ClusterModel,
  ModelSchema,
  RoundSummary,
  Strategy,
  TrainingPlan,
} from './strategy';
export { FedAvgFullStrategy, type FedAvgFullOptions } from './fedavg-full';
export { FedAvgLoraStrategy, type FedAvgLoraOptions } from './fedavg-lora';
export { GlobalLoraStrategy, type GlobalLoraOptions } from './global-lora';
export { HetLoraStrategy, type HetLoraOptions } from './hetlora';
export { FloraStrategy, type FloraOptions } from './flora';
export { LocalOnlyStrategy, type LocalOnlyOptions } from './local-only';
export { initialLora } from './lora-factors';
