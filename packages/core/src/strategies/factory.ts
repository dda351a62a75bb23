import { FedAvgFullStrategy, type FedAvgFullOptions } from './fedavg-full';
import { FedAvgLoraStrategy, type FedAvgLoraOptions } from './fedavg-lora';
import { FedHftStrategy, HeteroFlStrategy } from './fedhft';
import type { FedHftOptions } from './fedhft-options';
import { FloraStrategy, type FloraOptions } from './flora';
import { HetLoraStrategy, type HetLoraOptions } from './hetlora';
import { LocalOnlyStrategy, type LocalOnlyOptions } from './local-only';
import type { ModelSchema, Strategy } from './strategy';

/** Options of each strategy by name. 'fedavg-lora-drop' is FedAvg-LoRA with dropUnaffordable set. */
export interface StrategyOptionsByName {
  readonly fedhft: FedHftOptions;
  readonly heterofl: Omit<FedHftOptions, 'rowSelection' | 'maskTiming'>;
  readonly 'fedavg-full': FedAvgFullOptions;
  readonly 'fedavg-lora': FedAvgLoraOptions;
  readonly 'fedavg-lora-drop': Omit<FedAvgLoraOptions, 'dropUnaffordable'>;
  readonly hetlora: HetLoraOptions;
  readonly flora: FloraOptions;
  readonly 'local-only': LocalOnlyOptions;
}

export type StrategyName = keyof StrategyOptionsByName;

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'fedhft',
  'heterofl',
  'fedavg-full',
  'fedavg-lora',
  'fedavg-lora-drop',
  'hetlora',
  'flora',
  'local-only',
];

/** Builds a strategy by name (as configs and CLIs name them); options are validated by the strategy. */
export function createStrategy<N extends StrategyName>(
  name: N,
  schema: ModelSchema,
  options: StrategyOptionsByName[N] = {} as StrategyOptionsByName[N],
): Strategy {
  const given = options as Record<string, unknown>;
  switch (name as StrategyName) {
    case 'fedhft':
      return new FedHftStrategy(schema, given as FedHftOptions);
    case 'heterofl':
      return new HeteroFlStrategy(schema, given);
    case 'fedavg-full':
      return new FedAvgFullStrategy(schema, given);
    case 'fedavg-lora':
      return new FedAvgLoraStrategy(schema, given);
    case 'fedavg-lora-drop':
      if (given?.dropUnaffordable !== undefined)
        throw new Error('fedavg-lora-drop: dropUnaffordable is fixed (true)');
      return new FedAvgLoraStrategy(schema, { ...given, dropUnaffordable: true });
    case 'hetlora':
      return new HetLoraStrategy(schema, given);
    case 'flora':
      return new FloraStrategy(schema, given);
    case 'local-only':
      return new LocalOnlyStrategy(schema, given);
    default:
      throw new Error(`unknown strategy "${String(name)}" (known: ${STRATEGY_NAMES.join(', ')})`);
  }
}
