import type * as NodeFs from 'node:fs/promises';
import type * as NodePath from 'node:path';
import type { ModelFiles } from './model-files';

/**
 * Files of a Hugging Face Hub model, resolved the way transformers.js resolves them, with the same settings
 * (its `env`) and the same caches, so weights we read sit beside the tokenizer files transformers.js fetched:
 *
 * 1. `env.allowLocalModels`: `${env.localModelPath}/<id>/<file>` (the file system in Node, a URL in browsers);
 * 2. the cache: the browser Cache API (`env.cacheKey`, keyed by the remote URL) or, in Node, `env.cacheDir`
 *    (`<id>/<file>`, `<id>/<revision>/<file>` for another revision), as transformers.js's FileCache lays it out;
 * 3. `env.allowRemoteModels`: `${env.remoteHost}${env.remotePathTemplate}<file>` via `env.fetch`, then cached.
 *
 * transformers.js does not export its own file getter (it only loads the files its ONNX models need), hence this
 * small mirror of it for model.safetensors and friends.
 */
export interface HubOptions {
  /** Branch, tag or commit; default `main`. */
  readonly revision?: string;
}

interface HubEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  localModelPath: string;
  remoteHost: string;
  remotePathTemplate: string;
  useFS?: boolean;
  useFSCache: boolean;
  cacheDir: string | null;
  useBrowserCache: boolean;
  cacheKey: string;
  fetch?: typeof fetch;
}

/** Node's fs/promises and path, or null in browsers (the specifiers are hidden from bundlers on purpose). */
async function nodeApis(): Promise<{
  fs: typeof NodeFs;
  path: typeof NodePath;
} | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return null;
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const [fs, path] = await Promise.all([
    import(/* @vite-ignore */ fsName) as Promise<typeof NodeFs>,
    import(/* @vite-ignore */ pathName) as Promise<typeof NodePath>,
  ]);
  return { fs, path };
}

function joinUrl(...parts: string[]): string {
  return parts
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .filter((p) => p.length > 0)
    .join('/');
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A Hub model id as transformers.js accepts it: `name` or `owner/name`, no `..`, no URL. */
export function isHubModelId(id: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)?$/.test(id) && !id.includes('..');
}

export function hubModelFiles(modelId: string, options: HubOptions = {}): ModelFiles {
  if (!isHubModelId(modelId)) throw new Error(`${JSON.stringify(modelId)} is not a Hugging Face model id`);
  const revision = options.revision ?? 'main';
  return {
    origin: revision === 'main' ? `hub:${modelId}` : `hub:${modelId}@${revision}`,
    read: async (file: string) => {
      if (file.split('/').some((part) => part === '..' || part === '')) {
        throw new Error(`model file path ${file} is not a plain relative path`);
      }
      const { env } = await import('@huggingface/transformers');
      return readHubFile(env as unknown as HubEnv, modelId, revision, file);
    },
  };
}

async function readHubFile(
  env: HubEnv,
  modelId: string,
  revision: string,
  file: string,
): Promise<ArrayBuffer> {
  const node = await nodeApis();
  const localPath = joinUrl(env.localModelPath, modelId, file);
  if (env.allowLocalModels) {
    if (node && env.useFS !== false) {
      const bytes = await node.fs.readFile(localPath).catch(() => null);
      if (bytes) return toArrayBuffer(bytes);
    } else if (!node) {
      const response = await (env.fetch ?? fetch)(localPath).catch(() => null);
      if (response?.ok) return response.arrayBuffer();
    }
  }
  const remoteUrl = joinUrl(
    env.remoteHost,
    env.remotePathTemplate
      .replaceAll('{model}', modelId)
      .replaceAll('{revision}', encodeURIComponent(revision)),
    file,
  );
  const cacheKey = revision === 'main' ? `${modelId}/${file}` : `${modelId}/${revision}/${file}`;
  const cache = await openCache(env, node);
  const cached = await cache?.match(remoteUrl, cacheKey);
  if (cached) return cached;
  if (!env.allowRemoteModels) {
    throw new Error(
      `cannot read ${file} of ${modelId}: not found at ${localPath}${env.allowLocalModels ? '' : ' (env.allowLocalModels is false)'} nor in the cache, and env.allowRemoteModels is false`,
    );
  }
  const response = await (env.fetch ?? fetch)(remoteUrl);
  if (!response.ok) throw new Error(`cannot fetch model file ${remoteUrl}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  await cache?.put(remoteUrl, cacheKey, bytes);
  return bytes;
}

interface HubCache {
  match(remoteUrl: string, key: string): Promise<ArrayBuffer | null>;
  put(remoteUrl: string, key: string, bytes: ArrayBuffer): Promise<void>;
}

async function openCache(env: HubEnv, node: Awaited<ReturnType<typeof nodeApis>>): Promise<HubCache | null> {
  if (env.useBrowserCache && typeof caches !== 'undefined') {
    const cache = await caches.open(env.cacheKey).catch(() => null);
    if (cache) {
      return {
        match: async (url) => {
          const hit = await cache.match(url);
          return hit ? hit.arrayBuffer() : null;
        },
        // A full cache (quota) must not fail the load.
        put: (url, _key, bytes) => cache.put(url, new Response(bytes)).catch(() => undefined),
      };
    }
  }
  if (node && env.useFSCache && env.cacheDir) {
    const root = env.cacheDir;
    const { fs, path } = node;
    return {
      match: async (_url, key) => {
        const bytes = await fs.readFile(path.join(root, key)).catch(() => null);
        return bytes ? toArrayBuffer(bytes) : null;
      },
      put: async (_url, key, bytes) => {
        const target = path.join(root, key);
        const temporary = `${target}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
        try {
          await fs.mkdir(path.dirname(target), { recursive: true });
          await fs.writeFile(temporary, new Uint8Array(bytes));
          await fs.rename(temporary, target);
        } catch {
          // A read-only cache directory must not fail the load.
          await fs.rm(temporary, { force: true }).catch(() => undefined);
        }
      },
    };
  }
  return null;
}
