import { activateBackend, ClassificationHead, derivedSeed, modelSchema } from '@fedhft/adapters';
import { loadEncoder } from '../simulate/encoders';
import type { FederationConfig } from './config';
import type { FederationSetup } from './federation';

/**
 * What the server needs of a federation's model: its schema (names and shapes of the adapted weights) and,
 * for initialHead 'random', the seeded starting head. Both come from loading the encoder once at start-up; the
 * server never trains.
 */
export async function federationSetup(config: FederationConfig): Promise<FederationSetup> {
  await activateBackend(['wasm', 'cpu']);
  const encoder = await loadEncoder(config.encoder);
  try {
    const schema = modelSchema(encoder, {
      numClasses: config.numClasses,
      rank: config.rank,
      alpha: config.alpha,
      targets: config.targets,
    });
    if (config.initialHead !== 'random') return { config, schema };
    // The same derivation as the simulator's, so a federation and its simulation start alike.
    const head = ClassificationHead.forEncoder(
      encoder,
      config.numClasses,
      derivedSeed(config.seed, 'initial-head'),
    );
    const initialHead = head.exportParams();
    head.dispose();
    return { config, schema, initialHead };
  } finally {
    encoder.dispose();
  }
}
