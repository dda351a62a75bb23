import path from 'node:path';
import { loadUseLite } from '@fedhft/adapters';
import type { Encoder } from '@fedhft/adapters';
import { randomBertFromFolder, useLitePackageFiles } from '@fedhft/adapters/node';
import { REPO_ROOT } from './report';

/** The encoders the benchmarks can run on, chosen with `--encoder`. */
const ENCODERS: Record<string, { label: string; load: () => Promise<Encoder> }> = {
  'use-lite': { label: 'USE Lite', load: () => loadUseLite(useLitePackageFiles()) },
  'bert-mini': {
    label: 'BERT (bert-mini shape, random weights)',
    load: () => randomBertFromFolder(path.resolve(REPO_ROOT, '../shared/tokenizers/bert-uncased')),
  },
};

/**
 * The encoder named by `--encoder` and the benchmark's output name (`bench` for USE Lite, `bench-<encoder>`
 * otherwise, so figures for different encoders sit side by side).
 */
export function benchEncoder(name: string, bench: string) {
  const encoder = ENCODERS[name];
  if (!encoder) throw new Error(`--encoder must be one of ${Object.keys(ENCODERS).join(', ')}`);
  return { ...encoder, outputName: name === 'use-lite' ? bench : `${bench}-${name}` };
}
