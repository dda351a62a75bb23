import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelFiles } from '../../models/model-files';
import { readJsonFile } from '../../models/model-files';
import { folderModelFiles } from '../../models/model-files-node';
import { parseBertConfig } from './config';
import { BERT_MODEL_FILES } from './load';
import type { BertEncoder } from './model';
import type { RandomBertOptions } from './random';
import { randomBertEncoder } from './random';
import { loadTokenizerFromFiles } from './tokenizer';

/**
 * Copies a BERT-family model's files (BERT_MODEL_FILES, plus the shards a model.safetensors.index.json lists)
 * from any source, e.g. `hubModelFiles(id)`, into `folder`, so a coordinator can serve them to its clients
 * (`loadBertFromUrl`) and a federation needs no Hub access. Returns the files copied.
 */
export async function copyBertModelFiles(files: ModelFiles, folder: string): Promise<string[]> {
  const copied: string[] = [];
  const copy = async (name: string, required: boolean) => {
    if (path.isAbsolute(name) || name.split(/[\\/]/).some((part) => part === '..' || part === '')) {
      throw new Error(
        `model file name ${JSON.stringify(name)} from ${files.origin} is not a plain relative path`,
      );
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await files.read(name);
    } catch (error) {
      if (required) throw error;
      return null;
    }
    const target = path.join(folder, name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, new Uint8Array(bytes));
    copied.push(name);
    return bytes;
  };
  for (const name of BERT_MODEL_FILES.required) await copy(name, true);
  for (const name of BERT_MODEL_FILES.optional) {
    const bytes = await copy(name, false);
    if (name !== 'model.safetensors.index.json' || !bytes) continue;
    const index = JSON.parse(new TextDecoder().decode(bytes)) as { weight_map?: Record<string, string> };
    for (const shard of new Set(Object.values(index.weight_map ?? {}))) await copy(shard, true);
  }
  if (!copied.includes('model.safetensors') && !copied.includes('model.safetensors.index.json')) {
    throw new Error(`${files.origin} has neither model.safetensors nor model.safetensors.index.json`);
  }
  return copied;
}

/**
 * A random-weight encoder with the architecture of `folder`'s config.json and its tokenizer (a folder without
 * weights, such as the shared bert-uncased folder holding bert-mini's config), for benchmarks.
 */
export async function randomBertFromFolder(
  folder: string,
  options: RandomBertOptions = {},
): Promise<BertEncoder> {
  const files = folderModelFiles(folder);
  const config = parseBertConfig(
    await readJsonFile(files, 'config.json'),
    `config.json from ${files.origin}`,
  );
  return randomBertEncoder(config, await loadTokenizerFromFiles(files), options);
}
