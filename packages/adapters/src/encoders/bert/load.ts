import * as tf from '@tensorflow/tfjs';
import type { HubOptions } from '../../models/hub';
import { hubModelFiles } from '../../models/hub';
import type { ModelFiles } from '../../models/model-files';
import { readJsonFile, urlModelFiles } from '../../models/model-files';
import { SafetensorsFile } from '../../models/safetensors';
import { WeightStore } from '../weight-store';
import type { BertConfig } from './config';
import { parseBertConfig } from './config';
import type { BertLayout } from './layout';
import { bertLayout } from './layout';
import type { BertPooling } from './model';
import { BertEncoder } from './model';
import type { TextTokenizer } from './tokenizer';
import { loadHubTokenizer, loadTokenizerFromFiles } from './tokenizer';

/**
 * The files of a BERT-family model folder, as a coordinator should mirror and serve them (optional ones may be
 * missing; a sharded checkpoint has model.safetensors.index.json and its shards instead of model.safetensors).
 */
export const BERT_MODEL_FILES = {
  required: ['config.json', 'tokenizer.json', 'tokenizer_config.json'],
  optional: [
    'model.safetensors',
    'model.safetensors.index.json',
    'modules.json',
    '1_Pooling/config.json',
    'sentence_bert_config.json',
    'special_tokens_map.json',
  ],
} as const;

export interface LoadBertOptions {
  /** Model id reported by the encoder; default the files' origin. */
  readonly id?: string;
  /** Overrides the pooling a sentence-transformers config (modules.json, 1_Pooling/config.json) asks for. */
  readonly pooling?: BertPooling;
  /** Overrides L2 normalisation (default: a sentence-transformers Normalize module present). */
  readonly normalize?: boolean;
  /** Longest input in tokens; default the model's (sentence_bert_config.json's max_seq_length if present). */
  readonly maxSeqLen?: number;
  /** A tokenizer to use instead of the folder's tokenizer.json (e.g. for weights-only folders in tests). */
  readonly tokenizer?: TextTokenizer;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads an optional JSON file: null when the source cannot provide it, or answers with an HTML page (dev servers
 * with a single-page-app fallback, Vite's among them, answer a missing file with index.html and status 200).
 */
async function readOptionalJson(files: ModelFiles, path: string): Promise<unknown> {
  let bytes: ArrayBuffer;
  try {
    bytes = await files.read(path);
  } catch {
    return null;
  }
  const text = new TextDecoder().decode(bytes);
  if (/^\s*<(!doctype html|html)[\s>]/i.test(text)) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`model file ${path} from ${files.origin} is not valid JSON: ${(error as Error).message}`);
  }
}

interface SentenceTransformersSetup {
  pooling: BertPooling | null;
  normalize: boolean;
  maxSeqLen: number | null;
}

/** What a sentence-transformers folder asks for (modules.json, its Pooling module's config, max_seq_length). */
async function readSentenceTransformers(files: ModelFiles): Promise<SentenceTransformersSetup> {
  const modules = await readOptionalJson(files, 'modules.json');
  let poolingPath: string | null = null;
  let normalize = false;
  if (modules !== null) {
    if (!Array.isArray(modules)) throw new Error(`modules.json from ${files.origin} is not a list`);
    for (const module of modules) {
      const type = isRecord(module) ? module.type : undefined;
      const path = isRecord(module) ? module.path : undefined;
      if (type === 'sentence_transformers.models.Transformer') continue;
      if (type === 'sentence_transformers.models.Pooling' && typeof path === 'string') poolingPath = path;
      else if (type === 'sentence_transformers.models.Normalize') normalize = true;
      else {
        throw new Error(
          `modules.json from ${files.origin}: module ${JSON.stringify(type)} is not supported (Transformer, Pooling, Normalize)`,
        );
      }
    }
  }
  const poolingConfig = await readOptionalJson(files, `${poolingPath ?? '1_Pooling'}/config.json`);
  let pooling: BertPooling | null = null;
  if (poolingConfig !== null) {
    const where = `${poolingPath ?? '1_Pooling'}/config.json from ${files.origin}`;
    if (!isRecord(poolingConfig)) throw new Error(`${where} is not a JSON object`);
    const modes = Object.entries(poolingConfig)
      .filter(([key, value]) => key.startsWith('pooling_mode_') && value === true)
      .map(([key]) => key.slice('pooling_mode_'.length));
    if (modes.length === 1 && modes[0] === 'mean_tokens') pooling = 'mean';
    else if (modes.length === 1 && modes[0] === 'cls_token') pooling = 'cls';
    else
      throw new Error(
        `${where}: pooling modes [${modes.join(', ')}] are not supported (one of mean_tokens, cls_token)`,
      );
  } else if (poolingPath !== null) {
    throw new Error(
      `modules.json from ${files.origin} names a Pooling module at ${poolingPath} without its config.json`,
    );
  }
  const stConfig = await readOptionalJson(files, 'sentence_bert_config.json');
  const maxSeqLen =
    isRecord(stConfig) && Number.isSafeInteger(stConfig.max_seq_length)
      ? (stConfig.max_seq_length as number)
      : null;
  return { pooling, normalize, maxSeqLen };
}

/** The tensors of model.safetensors, or of the shards a model.safetensors.index.json lists. */
class CheckpointTensors {
  private constructor(
    private readonly byName: Map<string, SafetensorsFile>,
    readonly description: string,
  ) {}

  static async read(files: ModelFiles): Promise<CheckpointTensors> {
    let single: ArrayBuffer | null = null;
    let singleError: unknown = null;
    try {
      single = await files.read('model.safetensors');
    } catch (error) {
      singleError = error;
    }
    const byName = new Map<string, SafetensorsFile>();
    if (single) {
      const file = new SafetensorsFile(single, `model.safetensors from ${files.origin}`);
      for (const name of file.names()) byName.set(name, file);
      return new CheckpointTensors(byName, file.file);
    }
    const index = await readOptionalJson(files, 'model.safetensors.index.json');
    if (index === null) {
      throw new Error(
        `${files.origin} has no model.safetensors (nor model.safetensors.index.json): ${(singleError as Error).message}. Only safetensors checkpoints are read (convert pytorch_model.bin with safetensors' convert script).`,
      );
    }
    const where = `model.safetensors.index.json from ${files.origin}`;
    const weightMap = isRecord(index) ? index.weight_map : undefined;
    if (!isRecord(weightMap)) throw new Error(`${where} has no weight_map`);
    const shards = new Map<string, SafetensorsFile>();
    for (const shard of new Set(Object.values(weightMap))) {
      if (typeof shard !== 'string') throw new Error(`${where}: weight_map values must be file names`);
      shards.set(shard, new SafetensorsFile(await files.read(shard), `${shard} from ${files.origin}`));
    }
    for (const [name, shard] of Object.entries(weightMap)) {
      const file = shards.get(shard as string)!;
      if (!file.has(name)) throw new Error(`${file.file}: missing tensor ${name} (listed in ${where})`);
      byName.set(name, file);
    }
    return new CheckpointTensors(byName, `the shards of ${where}`);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  read(name: string, shape: readonly number[]): Float32Array {
    const file = this.byName.get(name);
    if (!file) throw new Error(`${this.description}: missing tensor ${name}`);
    return file.readFloat32(name, shape);
  }
}

/** [rows, cols] row-major -> [cols, rows] row-major (PyTorch's [dOut, dIn] Linear weight -> our [dIn, dOut] kernel). */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  }
  return out;
}

/** Reads every weight the layout names into a WeightStore (validating names, shapes and dtypes). */
function readWeights(
  tensors: CheckpointTensors,
  config: BertConfig,
  layout: BertLayout,
  prefix: string,
): WeightStore {
  const store = new WeightStore();
  const h = config.hiddenSize;
  try {
    for (const { ours, module, rows } of layout.embeddings) {
      store.add(ours, tf.tensor2d(tensors.read(`${prefix}${module}.weight`, [rows, h]), [rows, h]));
    }
    for (const { ours, module } of layout.norms) {
      // Checkpoints converted from TensorFlow name LayerNorm parameters gamma / beta.
      const legacy = !tensors.has(`${prefix}${module}.weight`) && tensors.has(`${prefix}${module}.gamma`);
      const [scale, bias] = legacy ? ['gamma', 'beta'] : ['weight', 'bias'];
      store.add(`${ours}.scale`, tf.tensor1d(tensors.read(`${prefix}${module}.${scale}`, [h])));
      store.add(`${ours}.bias`, tf.tensor1d(tensors.read(`${prefix}${module}.${bias}`, [h])));
    }
    for (const { ours, module, dIn, dOut } of layout.linears) {
      const weight = tensors.read(`${prefix}${module}.weight`, [dOut, dIn]);
      store.add(`${ours}.kernel`, tf.tensor2d(transposed(weight, dOut, dIn), [dIn, dOut]));
      store.add(`${ours}.bias`, tf.tensor1d(tensors.read(`${prefix}${module}.bias`, [dOut])));
    }
  } catch (error) {
    store.dispose();
    throw error;
  }
  return store;
}

/**
 * Loads a BERT-family encoder (config.json, model.safetensors, the tokenizer) from any model file source: a
 * local folder (`folderModelFiles`, Node), a URL (`urlModelFiles`, e.g. the coordinator serving a model
 * folder) or the Hub (`hubModelFiles`). Pooling and normalisation follow a sentence-transformers config when
 * the folder has one; otherwise BertModel's pooler when the checkpoint has it, else mean pooling.
 */
export async function loadBert(files: ModelFiles, options: LoadBertOptions = {}): Promise<BertEncoder> {
  return loadBertWith(files, options, () => loadTokenizerFromFiles(files));
}

/** Loads a Hub model by id (`sentence-transformers/all-MiniLM-L6-v2`); the tokenizer comes via AutoTokenizer. */
export async function loadBertFromHub(
  modelId: string,
  options: LoadBertOptions & HubOptions = {},
): Promise<BertEncoder> {
  const revision = options.revision ?? 'main';
  return loadBertWith(hubModelFiles(modelId, { revision }), { id: modelId, ...options }, () =>
    loadHubTokenizer(modelId, revision),
  );
}

/** Loads a model folder served over HTTP(S), e.g. by the coordinator (no Hub access needed). */
export async function loadBertFromUrl(
  baseUrl: string,
  options: LoadBertOptions & { fetch?: typeof fetch } = {},
): Promise<BertEncoder> {
  return loadBert(urlModelFiles(baseUrl, options.fetch), { id: baseUrl, ...options });
}

async function loadBertWith(
  files: ModelFiles,
  options: LoadBertOptions,
  loadTokenizer: () => Promise<TextTokenizer>,
): Promise<BertEncoder> {
  const config = parseBertConfig(
    await readJsonFile(files, 'config.json'),
    `config.json from ${files.origin}`,
  );
  const [st, tensors, tokenizer] = await Promise.all([
    readSentenceTransformers(files),
    CheckpointTensors.read(files),
    options.tokenizer ? Promise.resolve(options.tokenizer) : loadTokenizer(),
  ]);
  if (tokenizer.maxId >= config.vocabSize) {
    throw new Error(
      `the tokenizer of ${files.origin} produces ids up to ${tokenizer.maxId} but config.json has vocab_size ${config.vocabSize}`,
    );
  }
  const probe = bertLayout(config, false).embeddings[0]!.module + '.weight';
  const prefix = bertLayout(config, false).checkpointPrefixes.find((p) => tensors.has(`${p}${probe}`));
  if (prefix === undefined) {
    throw new Error(
      `${tensors.description}: missing tensor ${probe} (looked for it with the prefixes ${bertLayout(
        config,
        false,
      )
        .checkpointPrefixes.map((p) => `'${p}'`)
        .join(', ')})`,
    );
  }
  const hasPooler = config.family === 'bert' && tensors.has(`${prefix}pooler.dense.weight`);
  const pooling = options.pooling ?? st.pooling ?? (hasPooler ? 'pooler' : 'mean');
  // An unused pooler is not loaded: full fine-tuning would hold a variable that gets no gradient.
  const layout = bertLayout(config, pooling === 'pooler');
  if (pooling === 'pooler' && !hasPooler) {
    throw new Error(`${tensors.description}: missing tensor ${prefix}pooler.dense.weight (pooling 'pooler')`);
  }
  const store = readWeights(tensors, config, layout, prefix);
  try {
    return new BertEncoder(options.id ?? files.origin, config, layout, store, tokenizer, {
      pooling,
      normalize: options.normalize ?? st.normalize,
      maxSeqLen: options.maxSeqLen ?? Math.min(st.maxSeqLen ?? config.maxPositions, config.maxPositions),
    });
  } catch (error) {
    store.dispose();
    throw error;
  }
}
