import {
  activateBackend,
  ClassificationHead,
  derivedSeed,
  modelSchema,
  peftNamingOf,
} from '@fedhft/adapters';
import { loadEncoder } from '../simulate/encoders';
import type { FederationConfig } from './config';
import { DemoShards } from './demo-shards';
import type { FederationSetup } from './federation';

/**
 * What the server needs of a federation's model: its schema (names and shapes of the adapted weights) and,
 * for initialHead 'random', the seeded starting head. Both come from loading the encoder once at start-up; the
 * server never trains. Also the encoder's PEFT module naming (for adapter downloads) and, with config.demo, the
 * demo shards.
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
    // The naming reads only names and layouts, never tensors, so it outlives the encoder.
    const peft = { encoderId: encoder.id, naming: peftNamingOf(encoder) };
    const demo = config.demo ? await DemoShards.load(config.demo, config.numClasses) : undefined;
    const extras = { peft, ...(demo ? { demo } : {}) };
    if (config.initialHead !== 'random') return { config, schema, ...extras };
    // The same derivation as the simulator's, so a federation and its simulation start alike.
    const head = ClassificationHead.forEncoder(
      encoder,
      config.numClasses,
      derivedSeed(config.seed, 'initial-head'),
    );
    const initialHead = head.exportParams();
    head.dispose();
    return { config, schema, initialHead, ...extras };
  } finally {
    encoder.dispose();
  }
}
