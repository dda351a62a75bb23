import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UseLiteEncoder } from '../src/encoders/use-lite/model';
import { loadUseLite } from '../src/encoders/use-lite/model';
import { parseUseVocabulary, UseLiteTokenizer } from '../src/encoders/use-lite/tokenizer';
import { useLitePackageFiles, useLitePackageFolder } from '../src/models/model-files-node';
import { useTestBackend } from './helpers/backend';

const INPUTS = [
  '',
  'a',
  'Hi!',
  'hello world',
  'The movie was un-believably good!',
  'it is a bad , bad film .',
  'This is a longer sentence about the economy, sports and science, with several clauses; it keeps going.',
  'Numbers 12345 and 3.14159, dates 2024-01-01, times 10:30pm.',
  'Email me at someone@example.com or visit https://example.org/path?q=1',
  '!!!???...,,,;;;:::',
  '   leading and trailing spaces   ',
  'tabs\tand\nnewlines\r\nmixed',
  'ÀÉÎÕÜ café naïve résumé façade',
  'ﬁnancial ｆｕｌｌｗｉｄｔｈ ① ② ③',
  'Привет, как дела?',
  'Καλημέρα κόσμε',
  '中文句子，没有空格。',
  'مرحبا بالعالم',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters',
  'UPPER CASE SHOUTING TEXT',
  'MiXeD cAsE tExT',
  "don't won't can't it's",
  'a'.repeat(300),
  'word '.repeat(200),
  Array.from({ length: 150 }, (_, i) => `token${i}`).join(' '),
  'The quick brown fox jumps over the lazy dog. '.repeat(10),
  '#hashtag @mention $dollar %percent ^caret &amp *star',
  '<html><body>markup</body></html>',
  'Ünïcödé ⅰⅱⅲ ½ ¼ ™ © ®',
  'x',
  '. . . . .',
  'short',
  'A review: the acting is superb but the plot drags in the second half.',
];

async function loadGraphModel(): Promise<tf.GraphModel> {
  const folder = useLitePackageFolder();
  const model = JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8'));
  const group = model.weightsManifest[0];
  const shards = await Promise.all(group.paths.map((p: string) => readFile(path.join(folder, p))));
  const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: group.weights, weightData }),
  );
}

/** The graph model's own input format: sparse (row, position) indices and token ids. */
async function graphEmbed(model: tf.GraphModel, ids: number[][]): Promise<Float32Array> {
  const indices = ids.flatMap((row, i) => row.map((_, j) => [i, j]));
  const values = ids.flat();
  const inputs = {
    indices: tf.tensor2d(indices.flat(), [indices.length, 2], 'int32'),
    values: tf.tensor1d(values, 'int32'),
  };
  const out = (await model.executeAsync(inputs)) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, inputs.indices, inputs.values]);
  return data;
}

describe('USE Lite rebuilt from named weights', () => {
  let encoder: UseLiteEncoder;
  let graph: tf.GraphModel;
  let tokenizer: UseLiteTokenizer;

  beforeAll(async () => {
    await useTestBackend();
    encoder = await loadUseLite(useLitePackageFiles());
    graph = await loadGraphModel();
    const vocab = JSON.parse(await readFile(path.join(useLitePackageFolder(), 'vocab.json'), 'utf8'));
    tokenizer = new UseLiteTokenizer(parseUseVocabulary(vocab));
  });
  afterAll(() => {
    encoder?.dispose();
    graph?.dispose();
  });

  it('matches the graph model within 1e-4 on varied inputs, alone and batched', async () => {
    expect(INPUTS.length).toBeGreaterThanOrEqual(30);
    const batch = encoder.tokenize(INPUTS);
    const ours = encoder.embed(batch);
    const oursData = await ours.data();
    ours.dispose();
    let worst = 0;
    // Each input alone through the graph (its own padding) versus our padded batch of all inputs.
    for (const [i, text] of INPUTS.entries()) {
      // Untruncated ids: the graph clips to 128 positions itself.
      const row = tokenizer.encode(text);
      // The graph needs at least one index to infer a shape; an empty string is fed as an empty row of a batch.
      const reference =
        row.length > 0
          ? await graphEmbed(graph, [row])
          : (await graphEmbed(graph, [[], [5]])).subarray(0, 512);
      for (let d = 0; d < 512; d++) worst = Math.max(worst, Math.abs(reference[d]! - oursData[i * 512 + d]!));
    }
    console.log(`max abs diff vs graph over ${INPUTS.length} inputs: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('truncates inputs longer than the maximum length like the graph does', async () => {
    const long = 'word '.repeat(400);
    const batch = encoder.tokenize([long]);
    expect(batch.seqLen).toBe(128);
    const full = encoder.tokenize([long], 10_000);
    expect(full.seqLen).toBe(128);
  });
});
