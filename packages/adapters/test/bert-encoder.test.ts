import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHalfBits, toHalfBits } from '@fedhft/core';
import { writeBertFixture } from '../scripts/write-bert-fixture';
import type { BertFixture } from '../scripts/write-bert-fixture';
import type { TokenizedBatch } from '../src/encoders/encoder';
import { loadBert } from '../src/encoders/bert/load';
import type { BertEncoder } from '../src/encoders/bert/model';
import { LoraAdapters } from '../src/lora/lora';
import { folderModelFiles } from '../src/models/model-files-node';
import type { ModelFiles } from '../src/models/model-files';
import { fromBfloat16Bits, toBfloat16Bits, writeSafetensors } from '../src/models/safetensors';
import { checkpointRunner } from '../src/train/checkpoint';
import { ClassificationHead } from '../src/train/head';
import { TrainSession } from '../src/train/session';
import { useTestBackend } from './helpers/backend';
import { SHARED_BERT_TOKENIZER, sharedTokenizerPresent, temporaryFolder } from './fixtures/bert-helpers';

const TEXTS = [
  'Hello world, the movie was un-believably good!',
  'dull',
  'a fine , well acted drama about grief',
];
const HAS_TOKENIZER = sharedTokenizerPresent();

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Values of a tensor-producing computation, disposing the tensor. */
function values(compute: () => tf.Tensor): Float32Array {
  const t = compute();
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data.slice();
}

describe.skipIf(!HAS_TOKENIZER)(
  'BertEncoder on a random checkpoint with the shared bert-uncased tokenizer',
  () => {
    let root: Awaited<ReturnType<typeof temporaryFolder>>;
    let fixture: BertFixture;
    let encoder: BertEncoder;
    const extra: BertEncoder[] = [];
    const folder = (name: string) => path.join(root.folder, name);
    const load = async (files: ModelFiles | string, options: Parameters<typeof loadBert>[1] = {}) => {
      const e = await loadBert(typeof files === 'string' ? folderModelFiles(files) : files, options);
      extra.push(e);
      return e;
    };

    beforeAll(async () => {
      await useTestBackend();
      root = await temporaryFolder('bert');
      fixture = await writeBertFixture(folder('base'), { tokenizerFolder: SHARED_BERT_TOKENIZER });
      encoder = await loadBert(folderModelFiles(folder('base')), { id: 'random-bert' });
    });
    afterAll(async () => {
      encoder?.dispose();
      extra.forEach((e) => e.dispose());
      await root?.remove();
    });

    it('tokenizes with the real WordPiece vocabulary, truncating before [SEP]', () => {
      const batch = encoder.tokenize(TEXTS);
      expect(Array.from(batch.ids.subarray(0, batch.seqLen))).toEqual([
        101, 7592, 2088, 1010, 1996, 3185, 2001, 4895, 1011, 19337, 2666, 3567, 6321, 2204, 999, 102,
      ]);
      expect(Array.from(batch.lengths)).toEqual([16, 3, 10]);
      expect(Array.from(batch.ids.subarray(batch.seqLen, 2 * batch.seqLen)).slice(0, 4)).toEqual([
        101, 10634, 102, 0,
      ]);
      const short = encoder.tokenize(TEXTS, 5);
      expect(Array.from(short.ids.subarray(0, 5))).toEqual([101, 7592, 2088, 1010, 102]);
    });

    it('gives [batch, seq, hidden] hidden states and [batch, hidden] pooled embeddings', () => {
      const batch = encoder.tokenize(TEXTS);
      const hidden = encoder.forward(batch);
      const pooled = encoder.embed(batch);
      expect(hidden.shape).toEqual([3, batch.seqLen, 32]);
      expect(pooled.shape).toEqual([3, 32]);
      expect(encoder.pooling).toBe('pooler');
      expect(encoder.normalizedEmbedding).toBe(false);
      expect(encoder.maxSeqLen).toBe(64);
      expect(Array.from(pooled.dataSync()).every((v) => Number.isFinite(v) && Math.abs(v) <= 1)).toBe(true);
      tf.dispose([hidden, pooled]);
    });

    it('lists adaptable weights whose shapes match the stored kernels, and every checkpoint parameter', () => {
      const weights = encoder.adaptableWeights();
      expect(weights.map((w) => w.name).slice(0, 6)).toEqual([
        'layers.0.attention.query',
        'layers.0.attention.key',
        'layers.0.attention.value',
        'layers.0.attention.output',
        'layers.0.ffn.in',
        'layers.0.ffn.out',
      ]);
      expect(weights.at(-1)).toEqual({ name: 'pooler', kind: 'pooler', dIn: 32, dOut: 32 });
      expect(weights).toHaveLength(13);
      for (const w of weights) expect(encoder.weights.get(`${w.name}.kernel`).shape).toEqual([w.dIn, w.dOut]);
      const stored = [...fixture.tensors.values()].reduce((n, t) => n + t.data.length, 0);
      expect(encoder.weights.parameterCount()).toBe(stored);
      // Kernels are PyTorch's [dOut, dIn] weights transposed.
      const torchWeight = fixture.tensors.get('encoder.layer.1.intermediate.dense.weight')!.data; // [64, 32]
      const kernel = encoder.weights.get('layers.1.ffn.in.kernel').dataSync(); // [32, 64]
      expect(kernel[5 * 64 + 7]).toBe(torchWeight[7 * 32 + 5]);
    });

    it('is invariant to padding: a row gives the same outputs alone and padded in a batch', () => {
      const batch = encoder.tokenize(TEXTS);
      const together = values(() => encoder.forward(batch));
      const pooledTogether = values(() => encoder.embed(batch));
      TEXTS.forEach((text, row) => {
        const alone = encoder.tokenize([text]);
        const n = alone.seqLen;
        const own = values(() => encoder.forward(alone));
        const ownPooled = values(() => encoder.embed(alone));
        const padded = together.subarray(row * batch.seqLen * 32, (row * batch.seqLen + n) * 32);
        expect(maxAbsDiff(own, padded)).toBeLessThan(1e-5);
        expect(maxAbsDiff(ownPooled, pooledTogether.subarray(row * 32, (row + 1) * 32))).toBeLessThan(1e-5);
      });
      // Padding ids are irrelevant: the same rows padded with another id give the same outputs.
      const otherPad: TokenizedBatch = {
        ...batch,
        ids: batch.ids.map((id, i) => (batch.mask[i] ? id : 999)),
      };
      expect(
        maxAbsDiff(
          values(() => encoder.embed(otherPad)),
          pooledTogether,
        ),
      ).toBeLessThan(1e-6);
    });

    it('merging a delta equals adding x dW^T inside the linear map, and unmerging restores exactly', () => {
      const batch = encoder.tokenize(TEXTS);
      for (const name of ['layers.1.attention.value', 'layers.0.ffn.out', 'pooler']) {
        const { dOut, dIn } = encoder.adaptableWeights().find((w) => w.name === name)!;
        const delta = tf.randomNormal([dOut, dIn], 0, 0.1, 'float32', 7) as tf.Tensor2D;
        const before = values(() => encoder.embed(batch));
        const viaAdapter = values(() =>
          encoder.embed(batch, {
            adapter: (n, x) => (n === name ? (tf.matMul(x, delta, false, true) as tf.Tensor2D) : null),
          }),
        );
        encoder.mergeDelta(name, delta.dataSync() as Float32Array);
        const merged = values(() => encoder.embed(batch));
        encoder.unmergeAll();
        const after = values(() => encoder.embed(batch));
        expect(maxAbsDiff(merged, viaAdapter)).toBeLessThan(1e-5);
        expect(maxAbsDiff(merged, before)).toBeGreaterThan(1e-3);
        expect(Array.from(after)).toEqual(Array.from(before));
        delta.dispose();
      }
      expect(() => encoder.mergeDelta('layers.0.attention.query', new Float32Array(3))).toThrow(
        /expected 32 x 32/,
      );
    });

    it('LoRA gradients match finite differences (A and B, attention, FFN and pooler)', () => {
      const batch = encoder.tokenize(TEXTS);
      const targets = ['layers.0.attention.query', 'layers.1.attention.value', 'layers.1.ffn.out', 'pooler'];
      const lora = new LoraAdapters(encoder.adaptableWeights(), {
        rank: 2,
        alpha: 4,
        dropout: 0,
        targets,
        seed: 3,
      });
      // B starts at zero (then A gets no gradient): give it random values first.
      const factors = lora.exportFactors();
      let k = 0;
      for (const f of factors.values()) f.B.forEach((_, i) => (f.B[i] = Math.sin(++k) * 0.3));
      lora.importFactors(factors);
      const target = tf.randomNormal([3, 32], 0, 1, 'float32', 11);
      const loss = () =>
        tf.sum(tf.mul(encoder.embed(batch, { adapter: lora.adapter, training: true }), target)) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss, lora.trainableVariables());
      value.dispose();
      const variables = lora.trainableVariables();
      const analytic = variables.map((v) => (grads[v.name]!.dataSync() as Float32Array).slice());
      tf.dispose(Object.values(grads));

      const eps = 1e-2;
      let checked = 0;
      variables.forEach((variable, vi) => {
        const original = (variable.dataSync() as Float32Array).slice();
        for (const index of [0, Math.floor(original.length / 2), original.length - 1]) {
          const at = (shift: number) => {
            const changed = original.slice();
            changed[index] = original[index]! + shift;
            tf.tidy(() => variable.assign(tf.tensor(changed, variable.shape)));
            return values(loss)[0]!;
          };
          const numeric = (at(eps) - at(-eps)) / (2 * eps);
          const exact = analytic[vi]![index]!;
          expect(Math.abs(numeric - exact)).toBeLessThan(2e-3 + 2e-2 * Math.abs(exact));
          checked++;
        }
        tf.tidy(() => variable.assign(tf.tensor(original, variable.shape)));
      });
      expect(checked).toBe(24);
      // Not a vacuous check: the gradients are far from zero.
      expect(Math.max(...analytic.map((g) => Math.max(...g.map(Math.abs))))).toBeGreaterThan(0.1);
      target.dispose();
      lora.dispose();
    });

    it('activation checkpointing gives the same LoRA and full fine-tuning gradients as plain backprop', () => {
      const batch = encoder.tokenize(TEXTS);
      const target = tf.randomNormal([3, 32], 0, 1, 'float32', 5);
      const gradients = (variables: tf.Variable[], options: Parameters<BertEncoder['embed']>[1]) => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(encoder.embed(batch, { training: true, ...options }), target)) as tf.Scalar,
          variables,
        );
        value.dispose();
        const out = Object.fromEntries(
          Object.entries(grads).map(([k, g]) => [k, (g.dataSync() as Float32Array).slice()]),
        );
        tf.dispose(Object.values(grads));
        return out;
      };
      const compare = (a: Record<string, Float32Array>, b: Record<string, Float32Array>) => {
        expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
        return Math.max(...Object.keys(a).map((key) => maxAbsDiff(a[key]!, b[key]!)));
      };

      const lora = new LoraAdapters(encoder.adaptableWeights(), {
        rank: 4,
        dropout: 0.1,
        targets: ['query', 'value', 'ffn.in', 'pooler'],
      });
      const state = lora.dropoutReplay.snapshot();
      const plain = gradients(lora.trainableVariables(), { adapter: lora.adapter });
      lora.dropoutReplay.restore(state);
      const runBlock = checkpointRunner((prefixes) => lora.variablesFor(prefixes), lora.dropoutReplay);
      const checkpointed = gradients(lora.trainableVariables(), { adapter: lora.adapter, runBlock });
      expect(Object.keys(plain)).toHaveLength(14);
      expect(compare(plain, checkpointed)).toBeLessThan(1e-5);
      lora.dispose();

      const variables = encoder.weights.setTrainable(true);
      try {
        const byPrefix = (prefixes: readonly string[]) =>
          variables.filter((v) => prefixes.some((p) => v.name.slice('full/'.length).startsWith(p)));
        const fullPlain = gradients(variables, {});
        const fullCheckpointed = gradients(variables, { runBlock: checkpointRunner(byPrefix) });
        expect(Object.keys(fullPlain)).toHaveLength(variables.length);
        expect(compare(fullPlain, fullCheckpointed)).toBeLessThan(1e-4);
      } finally {
        encoder.weights.setTrainable(false);
      }
      target.dispose();
    });

    it('trains LoRA and a head with TrainSession (checkpointing, micro-batches): the loss falls', async () => {
      const texts = ['a great film', 'a terrible film', 'great acting', 'terrible plot'];
      const labels = [1, 0, 1, 0];
      const head = ClassificationHead.forEncoder(encoder, 2, 1);
      const lora = new LoraAdapters(encoder.adaptableWeights(), { rank: 4, seed: 1, dropout: 0 });
      const session = new TrainSession(
        encoder,
        head,
        { mode: 'lora', checkpoint: true, microBatchSize: 2 },
        lora,
      );
      const before = tf.memory().numTensors;
      const losses: number[] = [];
      for (let step = 0; step < 15; step++) losses.push(await session.step(texts, labels, 5e-3));
      expect(tf.memory().numTensors).toBe(before);
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
      session.dispose();
      lora.dispose();
      head.dispose();
    });

    it("reads 'bert.'-prefixed checkpoints and fp16 / bf16 tensors", async () => {
      const batch = encoder.tokenize(TEXTS);
      const reference = values(() => encoder.embed(batch));
      await writeBertFixture(folder('prefixed'), { tokenizerFolder: SHARED_BERT_TOKENIZER, prefix: 'bert.' });
      const prefixed = await load(folder('prefixed'));
      expect(Array.from(values(() => prefixed.embed(batch)))).toEqual(Array.from(reference));

      for (const [dtype, round] of [
        ['F16', (v: number) => fromHalfBits(toHalfBits(v))],
        ['BF16', (v: number) => fromBfloat16Bits(toBfloat16Bits(v))],
      ] as const) {
        await writeBertFixture(folder(dtype), { tokenizerFolder: SHARED_BERT_TOKENIZER, dtype });
        const low = await load(folder(dtype));
        const original = fixture.tensors.get('encoder.layer.0.attention.self.key.weight')!.data; // [32, 32]
        const kernel = low.weights.get('layers.0.attention.key.kernel').dataSync(); // transposed
        for (const [r, c] of [
          [0, 0],
          [3, 17],
          [31, 30],
        ] as const) {
          expect(kernel[c * 32 + r]).toBe(Math.fround(round(original[r * 32 + c]!)));
        }
        const diff = maxAbsDiff(
          values(() => low.embed(batch)),
          reference,
        );
        expect(diff).toBeGreaterThan(0);
        expect(diff).toBeLessThan(dtype === 'F16' ? 0.02 : 0.1);
      }
    });

    it('follows a sentence-transformers layout: mean pooling and L2 normalisation, pooler not adaptable', async () => {
      await writeBertFixture(folder('st'), {
        tokenizerFolder: SHARED_BERT_TOKENIZER,
        sentenceTransformers: 'mean',
      });
      const st = await load(folder('st'));
      expect(st.pooling).toBe('mean');
      expect(st.normalizedEmbedding).toBe(true);
      expect(st.adaptableWeights().some((w) => w.kind === 'pooler')).toBe(false);
      const batch = st.tokenize(TEXTS);
      const hidden = values(() => st.forward(batch));
      const pooled = values(() => st.embed(batch));
      for (let row = 0; row < 3; row++) {
        const n = batch.lengths[row]!;
        const mean = Array.from({ length: 32 }, (_, j) => {
          let sum = 0;
          for (let t = 0; t < n; t++) sum += hidden[(row * batch.seqLen + t) * 32 + j]!;
          return sum / n;
        });
        const norm = Math.hypot(...mean);
        expect(
          maxAbsDiff(
            pooled.subarray(row * 32, (row + 1) * 32),
            mean.map((v) => v / norm),
          ),
        ).toBeLessThan(1e-5);
      }
      // An explicit option wins over the folder's configuration.
      const cls = await load(folder('st'), { pooling: 'cls', normalize: false });
      const clsPooled = values(() => cls.embed(batch));
      expect(maxAbsDiff(clsPooled.subarray(0, 32), hidden.subarray(0, 32))).toBe(0);
    });

    it('loads DistilBERT checkpoints: same outputs as the equivalent BERT', async () => {
      // DistilBERT has no token types: fold BERT's token type 0 into its position embeddings.
      const renamed = new Map<string, { shape: number[]; data: Float32Array }>();
      const tokenType = fixture.tensors.get('embeddings.token_type_embeddings.weight')!.data;
      for (const [name, tensor] of fixture.tensors) {
        if (name.startsWith('pooler.') || name.startsWith('embeddings.token_type')) continue;
        let data = tensor.data;
        if (name === 'embeddings.position_embeddings.weight')
          data = data.map((v, i) => v + tokenType[i % 32]!);
        const distil = name
          .replace('encoder.layer.', 'transformer.layer.')
          .replace('attention.self.query', 'attention.q_lin')
          .replace('attention.self.key', 'attention.k_lin')
          .replace('attention.self.value', 'attention.v_lin')
          .replace('attention.output.dense', 'attention.out_lin')
          .replace('attention.output.LayerNorm', 'sa_layer_norm')
          .replace('intermediate.dense', 'ffn.lin1')
          .replace(/output\.dense/, 'ffn.lin2')
          .replace('output.LayerNorm', 'output_layer_norm');
        renamed.set(`distilbert.${distil}`, { shape: tensor.shape, data });
      }
      const distilFolder = folder('distil');
      await writeBertFixture(distilFolder, {
        tokenizerFolder: SHARED_BERT_TOKENIZER,
        family: 'distilbert',
        layers: 2,
      });
      await writeFile(
        path.join(distilFolder, 'model.safetensors'),
        writeSafetensors([...renamed].map(([name, t]) => ({ name, ...t }))),
      );
      const distil = await load(distilFolder);
      expect(distil.config.family).toBe('distilbert');
      expect(distil.pooling).toBe('mean');
      const bertMean = await load(folder('base'), { pooling: 'mean' });
      const batch = encoder.tokenize(TEXTS);
      expect(
        maxAbsDiff(
          values(() => distil.embed(batch)),
          values(() => bertMean.embed(batch)),
        ),
      ).toBeLessThan(1e-5);
      expect(distil.adaptableWeights().map((w) => w.kind)).toEqual(
        bertMean.adaptableWeights().map((w) => w.kind),
      );
    });

    describe('loading errors name the file and the tensor', () => {
      const tokenizer = { encode: () => [101, 102], padId: 0, maxId: 30521 };
      /** The base fixture with model.safetensors replaced by `edit(bytes)`. */
      const edited = (edit: (bytes: Uint8Array) => Uint8Array): ModelFiles => {
        const real = folderModelFiles(folder('base'));
        return {
          origin: 'edited copy',
          read: async (file) =>
            file === 'model.safetensors'
              ? edit(new Uint8Array(await real.read(file))).slice().buffer
              : real.read(file),
        };
      };
      const rewritten = (
        change: (name: string, t: { shape: number[]; data: Float32Array }) => object | null,
      ) =>
        edited(() =>
          writeSafetensors(
            [...fixture.tensors].flatMap(([name, t]) => {
              const replaced = change(name, t);
              return replaced === null ? [] : [{ name, ...t, ...replaced }];
            }),
          ),
        );

      it('a missing tensor', async () => {
        const files = rewritten((name) => (name === 'encoder.layer.1.attention.self.key.weight' ? null : {}));
        await expect(loadBert(files, { tokenizer })).rejects.toThrow(
          'model.safetensors from edited copy: missing tensor encoder.layer.1.attention.self.key.weight',
        );
        const noEmbeddings = rewritten((name) => (name.startsWith('embeddings.word') ? null : {}));
        await expect(loadBert(noEmbeddings, { tokenizer })).rejects.toThrow(
          /model.safetensors from edited copy: missing tensor embeddings.word_embeddings.weight \(looked for it with the prefixes '', 'bert.'\)/,
        );
      });

      it('a wrong shape', async () => {
        const files = rewritten((name, t) =>
          name === 'encoder.layer.0.intermediate.dense.weight' ? { shape: [t.shape[1]!, t.shape[0]!] } : {},
        );
        await expect(loadBert(files, { tokenizer })).rejects.toThrow(
          'model.safetensors from edited copy: tensor encoder.layer.0.intermediate.dense.weight has shape [32, 64], expected [64, 32]',
        );
      });

      it('an unknown dtype', async () => {
        const files = edited((bytes) => {
          const text = new TextDecoder().decode(bytes.subarray(0, 8 + 20000));
          const at = text.indexOf('"encoder.layer.0.output.dense.bias":{"dtype":"F32"');
          expect(at).toBeGreaterThan(0);
          const copy = bytes.slice();
          copy.set(new TextEncoder().encode('"encoder.layer.0.output.dense.bias":{"dtype":"Q32"'), at);
          return copy;
        });
        await expect(loadBert(files, { tokenizer })).rejects.toThrow(
          /tensor encoder.layer.0.output.dense.bias in model.safetensors from edited copy: unknown dtype "Q32"/,
        );
      });

      it('a truncated file', async () => {
        const files = edited((bytes) => bytes.slice(0, bytes.byteLength - 100));
        await expect(loadBert(files, { tokenizer })).rejects.toThrow(
          /model.safetensors from edited copy is truncated: tensor pooler.dense.bias needs data bytes up to \d+/,
        );
      });

      it('missing files and invalid configs', async () => {
        const real = folderModelFiles(folder('base'));
        const without = (missing: string): ModelFiles => ({
          origin: 'partial copy',
          read: (file) =>
            file === missing ? Promise.reject(new Error(`cannot read model file ${file}`)) : real.read(file),
        });
        await expect(loadBert(without('model.safetensors'), { tokenizer })).rejects.toThrow(
          /partial copy has no model.safetensors \(nor model.safetensors.index.json\)/,
        );
        await expect(loadBert(without('config.json'), { tokenizer })).rejects.toThrow(
          /cannot read model file config.json/,
        );
        await expect(loadBert(without('tokenizer.json'))).rejects.toThrow(
          /cannot read model file tokenizer.json/,
        );
        const config = JSON.parse(await readFile(folder('base/config.json'), 'utf8')) as Record<
          string,
          unknown
        >;
        const withConfig = (patch: Record<string, unknown>): ModelFiles => ({
          origin: 'patched copy',
          read: async (file) =>
            file === 'config.json'
              ? new TextEncoder().encode(JSON.stringify({ ...config, ...patch })).buffer
              : real.read(file),
        });
        await expect(loadBert(withConfig({ num_attention_heads: 5 }), { tokenizer })).rejects.toThrow(
          'config.json from patched copy: hidden size 32 is not a multiple of the 5 attention heads',
        );
        await expect(loadBert(withConfig({ hidden_act: 'swish' }), { tokenizer })).rejects.toThrow(
          /config.json from patched copy: hidden_act "swish" is not supported/,
        );
        await expect(loadBert(withConfig({ model_type: 'roberta' }))).rejects.toThrow(
          /model_type "roberta" is not supported/,
        );
        await expect(loadBert(withConfig({ vocab_size: 1000 }))).rejects.toThrow(
          /the tokenizer of patched copy produces ids up to 30521 but config.json has vocab_size 1000/,
        );
      });
    });
  },
);
