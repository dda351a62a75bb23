/**
 * Writes a deterministic random BERT checkpoint (config.json + model.safetensors, Hugging Face names) into a
 * folder, optionally with a tokenizer folder's files copied beside it, so the BERT loader can be tested offline
 * without pretrained weights. Tests call `writeBertFixture`; from the shell:
 *
 *   npx tsx packages/adapters/scripts/write-bert-fixture.ts OUT_DIR [--tokenizer DIR] [--dtype F16] [--layers 2]
 *     [--hidden 32] [--heads 4] [--intermediate 64] [--vocab 30522] [--positions 64] [--seed 0]
 *     [--prefix bert.] [--no-pooler] [--family distilbert] [--sentence-transformers mean|cls]
 */
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';
import type { TensorToWrite, WritableDtype } from '../src/models/safetensors';
import { writeSafetensors } from '../src/models/safetensors';

export interface BertFixtureOptions {
  readonly family?: 'bert' | 'distilbert';
  readonly layers?: number;
  readonly hidden?: number;
  readonly heads?: number;
  readonly intermediate?: number;
  /** Must cover the tokenizer's ids (30522 for the shared bert-uncased tokenizer). */
  readonly vocab?: number;
  readonly positions?: number;
  readonly seed?: number;
  /** Stored dtype of every tensor. */
  readonly dtype?: WritableDtype;
  /** Name prefix of every tensor ('' as BertModel saves, 'bert.' as BertFor* saves). */
  readonly prefix?: string;
  readonly pooler?: boolean;
  /** Copy this tokenizer folder's files (tokenizer.json, vocab.txt, ...) into the fixture. */
  readonly tokenizerFolder?: string;
  /** Also write a sentence-transformers layout (modules.json, 1_Pooling/config.json, Normalize) with this pooling. */
  readonly sentenceTransformers?: 'mean' | 'cls';
  /** Drop these tensors (after the prefix), to test loading errors. */
  readonly omit?: readonly string[];
}

export interface BertFixture {
  readonly folder: string;
  readonly config: Record<string, unknown>;
  /** The tensors written (name with prefix -> values), for tests that recompute the forward pass. */
  readonly tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>;
}

/** Creates the fixture in `folder` (created if needed) and returns what it wrote. */
export async function writeBertFixture(
  folder: string,
  options: BertFixtureOptions = {},
): Promise<BertFixture> {
  const family = options.family ?? 'bert';
  const layers = options.layers ?? 2;
  const hidden = options.hidden ?? 32;
  const heads = options.heads ?? 4;
  const intermediate = options.intermediate ?? 64;
  const vocab = options.vocab ?? 30522;
  const positions = options.positions ?? 64;
  const prefix = options.prefix ?? '';
  const pooler = family === 'bert' && (options.pooler ?? true);
  const random = seedrandom(`bert-fixture:${options.seed ?? 0}`);
  const uniform = (count: number, bound: number, center = 0) =>
    Float32Array.from({ length: count }, () => center + (2 * random() - 1) * bound);

  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], data: Float32Array) => {
    if (!options.omit?.includes(name)) tensors.set(`${prefix}${name}`, { shape, data });
  };
  const linear = (module: string, dIn: number, dOut: number) => {
    add(`${module}.weight`, [dOut, dIn], uniform(dOut * dIn, Math.sqrt(3 / dIn)));
    add(`${module}.bias`, [dOut], uniform(dOut, 0.1));
  };
  const norm = (module: string) => {
    add(`${module}.weight`, [hidden], uniform(hidden, 0.2, 1));
    add(`${module}.bias`, [hidden], uniform(hidden, 0.1));
  };

  add('embeddings.word_embeddings.weight', [vocab, hidden], uniform(vocab * hidden, 1));
  add('embeddings.position_embeddings.weight', [positions, hidden], uniform(positions * hidden, 0.5));
  if (family === 'bert')
    add('embeddings.token_type_embeddings.weight', [2, hidden], uniform(2 * hidden, 0.5));
  norm('embeddings.LayerNorm');
  for (let i = 0; i < layers; i++) {
    if (family === 'bert') {
      const p = `encoder.layer.${i}.`;
      for (const m of ['query', 'key', 'value']) linear(`${p}attention.self.${m}`, hidden, hidden);
      linear(`${p}attention.output.dense`, hidden, hidden);
      norm(`${p}attention.output.LayerNorm`);
      linear(`${p}intermediate.dense`, hidden, intermediate);
      linear(`${p}output.dense`, intermediate, hidden);
      norm(`${p}output.LayerNorm`);
    } else {
      const p = `transformer.layer.${i}.`;
      for (const m of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) linear(`${p}attention.${m}`, hidden, hidden);
      norm(`${p}sa_layer_norm`);
      linear(`${p}ffn.lin1`, hidden, intermediate);
      linear(`${p}ffn.lin2`, intermediate, hidden);
      norm(`${p}output_layer_norm`);
    }
  }
  if (pooler) linear('pooler.dense', hidden, hidden);

  const config: Record<string, unknown> =
    family === 'bert'
      ? {
          architectures: ['BertModel'],
          model_type: 'bert',
          vocab_size: vocab,
          hidden_size: hidden,
          num_hidden_layers: layers,
          num_attention_heads: heads,
          intermediate_size: intermediate,
          hidden_act: 'gelu',
          max_position_embeddings: positions,
          type_vocab_size: 2,
          layer_norm_eps: 1e-12,
          pad_token_id: 0,
          position_embedding_type: 'absolute',
        }
      : {
          architectures: ['DistilBertModel'],
          model_type: 'distilbert',
          vocab_size: vocab,
          dim: hidden,
          n_layers: layers,
          n_heads: heads,
          hidden_dim: intermediate,
          activation: 'gelu',
          max_position_embeddings: positions,
          pad_token_id: 0,
          sinusoidal_pos_embds: false,
        };

  await mkdir(folder, { recursive: true });
  const list: TensorToWrite[] = [...tensors].map(([name, { shape, data }]) => ({
    name,
    shape,
    data,
    dtype: options.dtype ?? 'F32',
  }));
  await writeFile(path.join(folder, 'model.safetensors'), writeSafetensors(list, { format: 'pt' }));
  await writeFile(path.join(folder, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  if (options.tokenizerFolder) {
    for (const entry of await readdir(options.tokenizerFolder, { withFileTypes: true })) {
      if (!entry.isFile() || entry.name === 'config.json' || entry.name.toLowerCase().startsWith('readme'))
        continue;
      await copyFile(path.join(options.tokenizerFolder, entry.name), path.join(folder, entry.name));
    }
  }
  if (options.sentenceTransformers) {
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ];
    await writeFile(path.join(folder, 'modules.json'), JSON.stringify(modules, null, 2) + '\n');
    await mkdir(path.join(folder, '1_Pooling'), { recursive: true });
    await writeFile(
      path.join(folder, '1_Pooling', 'config.json'),
      JSON.stringify({
        word_embedding_dimension: hidden,
        pooling_mode_cls_token: options.sentenceTransformers === 'cls',
        pooling_mode_mean_tokens: options.sentenceTransformers === 'mean',
        pooling_mode_max_tokens: false,
        pooling_mode_mean_sqrt_len_tokens: false,
      }),
    );
  }
  return { folder, config, tensors };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      tokenizer: { type: 'string' },
      dtype: { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      heads: { type: 'string' },
      intermediate: { type: 'string' },
      vocab: { type: 'string' },
      positions: { type: 'string' },
      seed: { type: 'string' },
      prefix: { type: 'string' },
      'no-pooler': { type: 'boolean' },
      family: { type: 'string' },
      'sentence-transformers': { type: 'string' },
    },
  });
  const out = positionals[0];
  if (!out) throw new Error('usage: write-bert-fixture.ts OUT_DIR [options] (see the file header)');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const fixture = await writeBertFixture(out, {
    tokenizerFolder: values.tokenizer,
    dtype: values.dtype as WritableDtype | undefined,
    layers: num(values.layers),
    hidden: num(values.hidden),
    heads: num(values.heads),
    intermediate: num(values.intermediate),
    vocab: num(values.vocab),
    positions: num(values.positions),
    seed: num(values.seed),
    prefix: values.prefix,
    pooler: !values['no-pooler'],
    family: values.family as 'bert' | 'distilbert' | undefined,
    sentenceTransformers: values['sentence-transformers'] as 'mean' | 'cls' | undefined,
  });
  console.log(`wrote ${fixture.tensors.size} tensors to ${path.resolve(out)}`);
}
