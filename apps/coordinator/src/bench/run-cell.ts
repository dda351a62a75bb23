import type { Encoder } from '@fedhft/adapters';
import { DatasetUnavailableError } from '@fedhft/adapters/node';
import type { SimulationConfig } from '../simulate/config';
import { loadSource, type SourceData } from '../simulate/data';
import { runSimulation, type SimulationResult } from '../simulate/run';

/** The outcome of one benchmark cell: a result, a skip (data absent) or a failure with its stack. */
export type CellOutcome =
  { readonly result: SimulationResult } | { readonly skipped: string } | { readonly error: string };

/**
 * Runs one configured simulation with a shared, already loaded encoder; datasets are loaded once per process
 * and kept in `sources` (keyed by dataset, the only field the suite varies that loading depends on).
 */
export async function runCell(
  config: SimulationConfig,
  name: string,
  encoder: Encoder,
  sources: Map<string, SourceData>,
): Promise<CellOutcome> {
  try {
    let source = sources.get(config.dataset);
    if (!source) {
      source = await loadSource(config);
      sources.set(config.dataset, source);
    }
    return { result: await runSimulation(config, { command: `bench ${name}` }, { encoder, source }) };
  } catch (error) {
    if (error instanceof DatasetUnavailableError) return { skipped: `skipped: ${error.message}` };
    return { error: (error as Error).stack ?? String(error) };
  }
}
