import { keptRowCount } from '../masks';
import { GlobalLoraStrategy, type GlobalLoraOptions } from './global-lora';
import { checkOptionsObject, seedOption } from './options';
import type { ClientProfile, ModelSchema } from './strategy';

export type HetLoraOptions = GlobalLoraOptions;

const OPTIONS = ['seed', 'initialHead'] as const;

/**
 * HetLoRA (Cho et al. 2024), basic form: a global rank-r LoRA; client k continues its leading
 * r_k = ceil(s_k r) components (A[:r_k, :], B[:, :r_k]) and the server zero-pads every upload to rank r and
 * averages A and B separately by N_k. Not implemented: the paper's local rank self-pruning and its
 * sparsity-weighted aggregation.
 */
export class HetLoraStrategy extends GlobalLoraStrategy {
  readonly name = 'hetlora';

  constructor(schema: ModelSchema, options: HetLoraOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'hetlora');
    super(schema, { seed: seedOption(options.seed), initialHead: options.initialHead });
  }

  /** ceil(s_k r), at least 1 (same rounding as row masks, which absorbs float error like 0.3 * 10). */
  protected clientRank(client: ClientProfile): number {
    return keptRowCount(this.schema.rank, client.budget);
  }

  protected config(): Record<string, unknown> {
    return {};
  }
}
