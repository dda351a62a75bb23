import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBert, loadUseLite, type Encoder } from '@fedhft/adapters';
import { folderModelFiles, randomBertFromFolder, useLitePackageFiles } from '@fedhft/adapters/node';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Encoders by name (as the benchmarks name them); anything else is a folder with a BERT-family checkpoint. */
const NAMED: Record<string, () => Promise<Encoder>> = {
  'use-lite': () => loadUseLite(useLitePackageFiles()),
  'bert-mini': () => randomBertFromFolder(path.resolve(REPO_ROOT, '../shared/tokenizers/bert-uncased')),
};

export const ENCODER_NAMES = Object.keys(NAMED);

export async function loadEncoder(name: string): Promise<Encoder> {
  const named = NAMED[name];
  if (named) return named();
  // Tests only: with FEDHFT_TEST_ENCODER=1, "tiny-test" is the adapters' 16-d test fixture, so a test can run the
  // CLI as a child process on a federation that starts in a second (server-kill-resume.test.ts).
  if (name === 'tiny-test' && process.env.FEDHFT_TEST_ENCODER === '1') {
    const { TinyEncoder } = await import('../../../../packages/adapters/test/fixtures/tiny-encoder');
    return new TinyEncoder();
  }
  const folder = path.resolve(name);
  if (!existsSync(path.join(folder, 'config.json'))) {
    throw new Error(
      `encoder "${name}" is neither ${ENCODER_NAMES.join(' nor ')} nor a folder with config.json + model.safetensors`,
    );
  }
  return loadBert(folderModelFiles(folder));
}
