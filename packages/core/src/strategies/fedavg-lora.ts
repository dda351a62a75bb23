import { GlobalLoraStrategy, type GlobalLoraOptions } from './global-lora';
import { booleanOption, checkOptionsObject, seedOption } from './options';
import type { ClientProfile, ModelSchema } from './strategy';

export interface FedAvgLoraOptions extends GlobalLoraOptions {
  /**
   * Skip clients whose budget is below 1 (they cannot afford full rank) instead of ignoring budgets. Default
   * false.
   */
  readonly dropUnaffordable?: boolean;
}

const OPTIONS = ['seed', 'initialHead', 'dropUnaffordable'] as const;

/**
 * FedAvg-LoRA, homogeneous (FedIT-style): every client continues the global rank-r LoRA at full rank whatever
 * its budget, and the server averages A and B separately by N_k (inexact, see GlobalLoraStrategy). With
 * `dropUnaffordable`, clients with budget < 1 are told to skip instead.
 */
export class FedAvgLoraStrategy extends GlobalLoraStrategy {
  readonly name: string;
  readonly dropUnaffordable: boolean;

  constructor(schema: ModelSchema, options: FedAvgLoraOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'fedavg-lora');
    const seed = seedOption(options.seed);
    super(schema, { seed, initialHead: options.initialHead });
    this.dropUnaffordable = booleanOption(options.dropUnaffordable, false, 'dropUnaffordable');
    this.name = this.dropUnaffordable ? 'fedavg-lora-drop' : 'fedavg-lora';
  }

  protected clientRank(client: ClientProfile): number | { readonly skip: string } {
    if (this.dropUnaffordable && client.budget < 1) {
      return { skip: `budget ${client.budget} < 1: cannot afford the full-rank adapter` };
    }
    return this.schema.rank;
  }

  protected config(): Record<string, unknown> {
    return { dropUnaffordable: this.dropUnaffordable };
  }
}
