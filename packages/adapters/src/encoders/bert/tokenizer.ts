import type * as Transformers from '@huggingface/transformers';
import type { ModelFiles } from '../../models/model-files';
import { readJsonFile } from '../../models/model-files';

/** What BertEncoder needs from a tokenizer: ids with the model's special tokens ([CLS] ... [SEP]). */
export interface TextTokenizer {
  encode(text: string): number[];
  /** Id used for padding positions (masked out, so any valid id works). */
  readonly padId: number;
  /** Largest id the tokenizer can produce (checked against the model's vocab_size). */
  readonly maxId: number;
}

/** The slice of transformers.js's PreTrainedTokenizer we use. */
interface HfTokenizer {
  encode(text: string): number[];
  readonly pad_token_id?: number | null;
  get_vocab(): Record<string, number> | Map<string, number>;
}

type TransformersModule = typeof Transformers;

let transformers: Promise<TransformersModule> | null = null;

/**
 * @huggingface/transformers, imported on first use: it is large (ONNX runtime bindings), and only BERT-family
 * encoders need it.
 */
export function importTransformers(): Promise<TransformersModule> {
  transformers ??= import('@huggingface/transformers');
  return transformers;
}

function wrap(tokenizer: HfTokenizer): TextTokenizer {
  const vocab = tokenizer.get_vocab();
  const ids = vocab instanceof Map ? [...vocab.values()] : Object.values(vocab);
  const maxId = ids.reduce((a, b) => Math.max(a, b), 0);
  return {
    encode: (text) => tokenizer.encode(text),
    padId: tokenizer.pad_token_id ?? 0,
    maxId,
  };
}

/** The tokenizer of a Hub model (or of `env.localModelPath/<id>`), by transformers.js's AutoTokenizer. */
export async function loadHubTokenizer(modelId: string, revision = 'main'): Promise<TextTokenizer> {
  const { AutoTokenizer } = await importTransformers();
  return wrap((await AutoTokenizer.from_pretrained(modelId, { revision })) as unknown as HfTokenizer);
}

/**
 * The tokenizer in tokenizer.json + tokenizer_config.json of any model file source (folder, URL, the
 * coordinator), built exactly as AutoTokenizer.from_pretrained builds it: the class named by the config's
 * `tokenizer_class` (without a `Fast` suffix), PreTrainedTokenizer when unknown.
 */
export async function loadTokenizerFromFiles(files: ModelFiles): Promise<TextTokenizer> {
  const [tokenizerJson, tokenizerConfig, module] = await Promise.all([
    readJsonFile(files, 'tokenizer.json'),
    readJsonFile(files, 'tokenizer_config.json'),
    importTransformers(),
  ]);
  const config = (tokenizerConfig ?? {}) as { tokenizer_class?: unknown };
  const className =
    typeof config.tokenizer_class === 'string'
      ? config.tokenizer_class.replace(/Fast$/, '')
      : 'PreTrainedTokenizer';
  const classes = module as unknown as Record<string, unknown>;
  const candidate = classes[className];
  const isTokenizerClass =
    typeof candidate === 'function' &&
    (candidate === module.PreTrainedTokenizer || candidate.prototype instanceof module.PreTrainedTokenizer);
  const Tokenizer = (isTokenizerClass ? candidate : module.PreTrainedTokenizer) as new (
    json: unknown,
    config: unknown,
  ) => HfTokenizer;
  try {
    return wrap(new Tokenizer(tokenizerJson, tokenizerConfig));
  } catch (error) {
    throw new Error(`tokenizer.json from ${files.origin} cannot be loaded: ${(error as Error).message}`);
  }
}

/**
 * Truncates a row that ends with a special token to `limit` ids the way Hugging Face does for one sentence:
 * the last id ([SEP]) is kept, the text before it is cut.
 */
export function truncateKeepingLast(ids: readonly number[], limit: number): number[] {
  if (ids.length <= limit) return [...ids];
  if (limit < 2) return ids.slice(0, limit);
  return [...ids.slice(0, limit - 1), ids[ids.length - 1]!];
}
