import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBertFixture } from '../scripts/write-bert-fixture';
import { copyBertModelFiles, randomBertFromFolder } from '../src/encoders/bert/node';
import { loadBert, loadBertFromHub, loadBertFromUrl } from '../src/encoders/bert/load';
import type { BertEncoder } from '../src/encoders/bert/model';
import { hubModelFiles } from '../src/models/hub';
import { folderModelFiles } from '../src/models/model-files-node';
import { useTestBackend } from './helpers/backend';
import { SHARED_BERT_TOKENIZER, sharedTokenizerPresent, temporaryFolder } from './fixtures/bert-helpers';

const TEXTS = ['the movie was un-believably good!', 'dull'];
const HAS_TOKENIZER = sharedTokenizerPresent();

/**
 * Serves `folder` read-only on 127.0.0.1 under /model/, as the coordinator serves a model folder. `spaFallback`
 * answers missing files with an HTML page and status 200, as single-page-app dev servers (Vite) do.
 */
async function serveFolder(
  folder: string,
  spaFallback = false,
): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const relative = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).replace(
      /^\/model\//,
      '',
    );
    requests.push(relative);
    const full = path.resolve(folder, relative);
    if (!full.startsWith(folder + path.sep)) {
      response.writeHead(403).end();
      return;
    }
    readFile(full).then(
      (bytes) => response.writeHead(200, { 'content-length': bytes.byteLength }).end(bytes),
      () =>
        spaFallback
          ? response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html></html>')
          : response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/model/`, server, requests };
}

describe.skipIf(!HAS_TOKENIZER)('loading a BERT model from a folder, a URL and the Hub (offline)', () => {
  let root: Awaited<ReturnType<typeof temporaryFolder>>;
  let reference: Float32Array;
  const encoders: BertEncoder[] = [];
  const saved = {
    allowRemoteModels: env.allowRemoteModels,
    localModelPath: env.localModelPath,
    cacheDir: env.cacheDir,
  };
  const embed = (encoder: BertEncoder) => {
    encoders.push(encoder);
    const out = encoder.embed(encoder.tokenize(TEXTS));
    const data = (out.dataSync() as Float32Array).slice();
    out.dispose();
    return data;
  };

  beforeAll(async () => {
    await useTestBackend();
    root = await temporaryFolder('bert-sources');
    await writeBertFixture(path.join(root.folder, 'models', 'test-org', 'bert-random'), {
      tokenizerFolder: SHARED_BERT_TOKENIZER,
      sentenceTransformers: 'mean',
    });
    reference = embed(
      await loadBert(folderModelFiles(path.join(root.folder, 'models', 'test-org', 'bert-random'))),
    );
  });
  afterAll(async () => {
    Object.assign(env, saved);
    encoders.forEach((e) => e.dispose());
    await root?.remove();
  });

  it('by Hub id, through transformers.js settings (env.localModelPath, no remote access)', async () => {
    env.allowRemoteModels = false;
    env.localModelPath = path.join(root.folder, 'models');
    env.cacheDir = path.join(root.folder, 'cache');
    const encoder = await loadBertFromHub('test-org/bert-random');
    expect(encoder.id).toBe('test-org/bert-random');
    expect(encoder.pooling).toBe('mean');
    expect(Array.from(embed(encoder))).toEqual(Array.from(reference));
    await expect(hubModelFiles('test-org/absent').read('config.json')).rejects.toThrow(
      /cannot read config.json of test-org\/absent: not found at .*test-org\/absent\/config.json nor in the cache, and env.allowRemoteModels is false/,
    );
    expect(() => hubModelFiles('http://example.invalid/x')).toThrow(/is not a Hugging Face model id/);
  });

  it('by Hub id, downloading once through env.fetch into env.cacheDir (a stand-in hub on loopback)', async () => {
    const { url, server, requests } = await serveFolder(path.join(root.folder, 'models'));
    try {
      env.allowRemoteModels = true;
      env.localModelPath = path.join(root.folder, 'nothing-here');
      env.cacheDir = path.join(root.folder, 'hub-cache');
      const remote = { remoteHost: env.remoteHost, remotePathTemplate: env.remotePathTemplate };
      env.remoteHost = url;
      env.remotePathTemplate = '{model}/';
      try {
        const first = await loadBertFromHub('test-org/bert-random');
        expect(Array.from(embed(first))).toEqual(Array.from(reference));
        expect(requests).toContain('test-org/bert-random/model.safetensors');
        expect(requests).toContain('test-org/bert-random/tokenizer.json');
        // The second load reads every file from the cache transformers.js and we share.
        const before = requests.length;
        const second = await loadBertFromHub('test-org/bert-random');
        expect(Array.from(embed(second))).toEqual(Array.from(reference));
        // (Files the model lacks, such as sentence_bert_config.json, are asked for again: nothing to cache.)
        const again = requests.slice(before);
        for (const file of [
          'config.json',
          'tokenizer.json',
          'tokenizer_config.json',
          'model.safetensors',
          'modules.json',
        ]) {
          expect(again).not.toContain(`test-org/bert-random/${file}`);
        }
        expect(
          await readFile(path.join(root.folder, 'hub-cache', 'test-org', 'bert-random', 'model.safetensors')),
        ).toHaveLength(
          (await readFile(path.join(root.folder, 'models', 'test-org', 'bert-random', 'model.safetensors')))
            .byteLength,
        );
      } finally {
        Object.assign(env, remote);
      }
    } finally {
      server.close();
    }
  });

  it('by URL, from a folder served over HTTP (the coordinator), and from a mirrored copy', async () => {
    const mirror = path.join(root.folder, 'mirror');
    const copied = await copyBertModelFiles(
      folderModelFiles(path.join(root.folder, 'models', 'test-org', 'bert-random')),
      mirror,
    );
    expect(copied).toEqual(
      expect.arrayContaining([
        'config.json',
        'tokenizer.json',
        'model.safetensors',
        'modules.json',
        '1_Pooling/config.json',
      ]),
    );
    const { url, server, requests } = await serveFolder(mirror);
    try {
      const encoder = await loadBertFromUrl(url);
      expect(encoder.id).toBe(url);
      expect(encoder.pooling).toBe('mean');
      expect(encoder.normalizedEmbedding).toBe(true);
      expect(Array.from(embed(encoder))).toEqual(Array.from(reference));
      expect(requests).toEqual(
        expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']),
      );
      await expect(loadBertFromUrl(`${url}absent/`)).rejects.toThrow(
        /cannot fetch model file .*absent\/config.json: HTTP 404/,
      );
    } finally {
      server.close();
    }
    // A dev server answering missing optional files (sentence_bert_config.json) with its index.html.
    const spa = await serveFolder(mirror, true);
    try {
      expect(Array.from(embed(await loadBertFromUrl(spa.url)))).toEqual(Array.from(reference));
      expect(spa.requests).toContain('sentence_bert_config.json');
    } finally {
      spa.server.close();
    }
  });

  it("builds a random-weight encoder of the shared folder's bert-mini shape (for the benchmarks)", async () => {
    const mini = await randomBertFromFolder(SHARED_BERT_TOKENIZER, { seed: 1 });
    encoders.push(mini);
    expect(mini.config).toMatchObject({ numLayers: 4, hiddenSize: 256, numHeads: 4, intermediateSize: 1024 });
    expect(mini.adaptableWeights()).toHaveLength(4 * 6 + 1);
    expect(mini.weights.parameterCount()).toBe(11_170_560);
    const out = mini.embed(mini.tokenize(TEXTS));
    expect(out.shape).toEqual([2, 256]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
  });
});
