import type { Encoder } from '../encoders/encoder';
import type { LoraConfig } from '../lora/config';
import type { AdapterFactors, LoraFactors } from '../lora/lora';
import { LoraAdapters } from '../lora/lora';
import type { ModelFiles } from './model-files';
import type { PeftNaming } from './peft-naming';
import { readJsonFile } from './model-files';
import type { WritableDtype } from './safetensors';
import { SafetensorsFile, writeSafetensors } from './safetensors';

/**
 * LoRA adapters in the format Python's peft library saves and loads (`PeftModel.from_pretrained`):
 * adapter_config.json + adapter_model.safetensors holding, per adapted module,
 *   base_model.model.<module path>.lora_A.weight  [r, dIn]
 *   base_model.model.<module path>.lora_B.weight  [dOut, r]
 * with the update (lora_alpha / r) B A (use_rslora: lora_alpha / sqrt(r)). Module paths are the base model's
 * PyTorch module names (`encoder.layer.0.attention.self.query` for BertModel), supplied by the encoder's
 * `peftNaming()`. Encoders without a Hugging Face module tree (USE Lite, test encoders) are exported under our
 * own weight names (`layers.0.attention.query`), recorded as naming scheme `fedhft` in the file metadata: same
 * layout, readable by `importPeftAdapter`, but no PyTorch model has those modules.
 *
 * Rows a mask did not keep are exported as zero rows of lora_B (peft has no row masks). Factors of different
 * ranks (HetLoRA) are written with peft's rank_pattern / alpha_pattern.
 */

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
const KEY_PREFIX = 'base_model.model.';

/** The peft naming of `encoder`: its Hugging Face module paths when it has them, else our weight names. */
export function peftNamingOf(encoder: Encoder): PeftNaming {
  const own = (encoder as Partial<{ peftNaming(): PeftNaming }>).peftNaming;
  if (typeof own === 'function') return own.call(encoder);
  return weightNameNaming(
    encoder.id,
    encoder.adaptableWeights().map((w) => w.name),
  );
}

/** Naming scheme `fedhft`: module paths are our own weight names (encoders without a PyTorch module tree). */
export function weightNameNaming(encoderId: string, weightNames: readonly string[]): PeftNaming {
  const names = new Set(weightNames);
  return {
    scheme: 'fedhft',
    module: (name) => {
      if (!names.has(name)) throw new Error(`${encoderId} has no adaptable weight ${name}`);
      return name;
    },
    weightOf: (module) => (names.has(module) ? module : undefined),
    targetModules: (list) => [...list],
  };
}

/** An adapter in peft's format: the adapter_config.json object and the adapter_model.safetensors bytes. */
export interface PeftAdapter {
  readonly config: Record<string, unknown>;
  readonly weights: Uint8Array;
}

export interface PeftExportOptions {
  /** `base_model_name_or_path`; default the encoder's id. */
  readonly baseModel?: string | null;
  /** peft `task_type`; default FEATURE_EXTRACTION (a sentence encoder, PeftModelForFeatureExtraction). */
  readonly taskType?: string | null;
  /** `lora_dropout`; default the adapters' dropout (LoraAdapters) or 0 (plain factors). */
  readonly dropout?: number;
  /** Stored dtype of the factors; default F32. */
  readonly dtype?: WritableDtype;
}

function alphaOf(f: LoraFactors): number {
  const alpha = f.scale * f.rank;
  return Math.abs(alpha - Math.round(alpha)) < 1e-6 * Math.max(1, Math.abs(alpha))
    ? Math.round(alpha)
    : alpha;
}

/** Most frequent value (ties: the first seen). */
function mode(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0]!;
  for (const [v, n] of counts) if (n > counts.get(best)!) best = v;
  return best;
}

/**
 * Exports trained adapters (a client's LoraAdapters, or factors such as a cluster's re-factorised update) of
 * `encoder` in peft's format.
 */
export function exportPeftAdapter(
  encoder: Encoder,
  source: LoraAdapters | AdapterFactors,
  options: PeftExportOptions = {},
): PeftAdapter {
  const factors = source instanceof LoraAdapters ? source.exportFactors() : source;
  const dropout = options.dropout ?? (source instanceof LoraAdapters ? source.config.dropout : 0);
  const model = { id: encoder.id, weights: encoder.adaptableWeights(), naming: peftNamingOf(encoder) };
  return exportPeftFactors(model, factors, { ...options, dropout });
}

/** What a PEFT export needs of the base model: its id, adapted weight shapes and module naming. */
export interface PeftModelShape {
  readonly id: string;
  readonly weights: readonly { readonly name: string; readonly dOut: number; readonly dIn: number }[];
  readonly naming: PeftNaming;
}

/**
 * exportPeftAdapter without a loaded encoder: the coordinator keeps only shapes and naming, and exports each
 * cluster's factors. `metadata` is added to the safetensors header (strings only).
 */
export function exportPeftFactors(
  model: PeftModelShape,
  factors: AdapterFactors,
  options: PeftExportOptions & { readonly metadata?: Readonly<Record<string, string>> } = {},
): PeftAdapter {
  if (!(factors instanceof Map) || factors.size === 0) throw new Error('no LoRA factors to export');
  const naming = model.naming;
  const weights = new Map(model.weights.map((w) => [w.name, w]));
  const tensors = [];
  const entries = [...factors];
  for (const [name, f] of entries) {
    const weight = weights.get(name);
    if (!weight) throw new Error(`${model.id} has no adaptable weight ${name}`);
    if (f.dOut !== weight.dOut || f.dIn !== weight.dIn) {
      throw new Error(
        `factors for ${name} are [${f.dOut} x ${f.dIn}], the weight is [${weight.dOut} x ${weight.dIn}]`,
      );
    }
    if (f.A.length !== f.rank * f.dIn || f.B.length !== f.rows.length * f.rank) {
      throw new Error(`factors for ${name} do not hold rank ${f.rank} matrices`);
    }
    const fullB = new Float32Array(f.dOut * f.rank); // rows not kept stay zero
    f.rows.forEach((row, i) => fullB.set(f.B.subarray(i * f.rank, (i + 1) * f.rank), row * f.rank));
    const key = `${KEY_PREFIX}${naming.module(name)}`;
    tensors.push(
      { name: `${key}.lora_A.weight`, shape: [f.rank, f.dIn], data: f.A, dtype: options.dtype },
      { name: `${key}.lora_B.weight`, shape: [f.dOut, f.rank], data: fullB, dtype: options.dtype },
    );
  }
  const rank = mode(entries.map(([, f]) => f.rank));
  const alpha = mode(entries.map(([, f]) => alphaOf(f)));
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const [name, f] of entries) {
    if (f.rank !== rank) rankPattern[naming.module(name)] = f.rank;
    if (alphaOf(f) !== alpha) alphaPattern[naming.module(name)] = alphaOf(f);
  }
  const dropout = options.dropout ?? 0;
  const taskType = options.taskType === undefined ? 'FEATURE_EXTRACTION' : options.taskType;
  const config: Record<string, unknown> = {
    alpha_pattern: alphaPattern,
    auto_mapping: null,
    base_model_name_or_path: options.baseModel === undefined ? model.id : options.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: alpha,
    lora_dropout: dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: rank,
    rank_pattern: rankPattern,
    revision: null,
    target_modules: naming.targetModules(entries.map(([name]) => name)),
    task_type: taskType,
    use_dora: false,
    use_rslora: false,
  };
  const bytes = writeSafetensors(tensors, {
    ...options.metadata,
    format: 'pt',
    'fedhft.naming': naming.scheme,
    'fedhft.encoder': model.id,
  });
  return { config, weights: bytes };
}

/** The two files of an adapter, by name (for a download, a zip, or `savePeftAdapter` in Node). */
export function peftAdapterFiles(adapter: PeftAdapter): Map<string, Uint8Array> {
  return new Map([
    [PEFT_CONFIG_FILE, new TextEncoder().encode(JSON.stringify(adapter.config, null, 2) + '\n')],
    [PEFT_WEIGHTS_FILE, adapter.weights],
  ]);
}

export interface ImportedPeftAdapter {
  /** The LoRA settings the file asks for (`rank` is the config's r; see `factors` for per-weight ranks). */
  readonly lora: Pick<LoraConfig, 'rank' | 'alpha' | 'dropout'> & { readonly targets: string[] };
  /** Factors by our weight name; `rows` are B's non-zero rows (zero rows are what a mask left out). */
  readonly factors: AdapterFactors;
  readonly config: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positiveNumber(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${what} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Reads peft's adapter_config.json (parsed) and adapter_model.safetensors for `encoder`, validating both. */
export function importPeftAdapter(
  encoder: Encoder,
  configJson: unknown,
  weightsBytes: ArrayBuffer | Uint8Array,
  origin = 'peft adapter',
): ImportedPeftAdapter {
  const where = `${PEFT_CONFIG_FILE} from ${origin}`;
  if (!isRecord(configJson)) throw new Error(`${where} is not a JSON object`);
  const config = configJson;
  if (config.peft_type !== 'LORA')
    throw new Error(`${where}: peft_type ${JSON.stringify(config.peft_type)} is not LORA`);
  if (config.fan_in_fan_out === true) throw new Error(`${where}: fan_in_fan_out adapters are not supported`);
  if (config.use_dora === true) throw new Error(`${where}: DoRA adapters are not supported`);
  if ((config.bias ?? 'none') !== 'none')
    throw new Error(`${where}: bias ${JSON.stringify(config.bias)} is not supported (none)`);
  const rank = positiveNumber(config.r ?? 8, `${where}: r`);
  if (!Number.isInteger(rank)) throw new Error(`${where}: r must be an integer, got ${rank}`);
  const alpha = positiveNumber(config.lora_alpha ?? 8, `${where}: lora_alpha`);
  const dropout = config.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new Error(`${where}: lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);
  }
  const rslora = config.use_rslora === true;
  const rankPattern = isRecord(config.rank_pattern) ? config.rank_pattern : {};
  const alphaPattern = isRecord(config.alpha_pattern) ? config.alpha_pattern : {};
  /** peft's pattern lookup: a key matches a module path equal to it or ending in `.${key}`. */
  const patternFor = (pattern: Record<string, unknown>, module: string) => {
    const key = Object.keys(pattern).find((k) => module === k || module.endsWith(`.${k}`));
    return key === undefined ? undefined : pattern[key];
  };

  const file = new SafetensorsFile(weightsBytes, `${PEFT_WEIGHTS_FILE} from ${origin}`);
  const naming = peftNamingOf(encoder);
  const weights = new Map(encoder.adaptableWeights().map((w) => [w.name, w]));
  const modules = new Map<string, { a?: string; b?: string }>();
  for (const key of file.names()) {
    const match = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (!match)
      throw new Error(
        `${file.file}: tensor ${key} is not a LoRA factor (base_model.model.<module>.lora_A|B.weight)`,
      );
    const entry = modules.get(match[1]!) ?? {};
    entry[match[2] === 'A' ? 'a' : 'b'] = key;
    modules.set(match[1]!, entry);
  }
  if (modules.size === 0) throw new Error(`${file.file} holds no LoRA factors`);
  const factors: AdapterFactors = new Map();
  for (const [module, { a, b }] of modules) {
    const name = naming.weightOf(module);
    if (!name) throw new Error(`${file.file}: module ${module} is not an adaptable weight of ${encoder.id}`);
    if (!a || !b)
      throw new Error(`${file.file}: missing tensor ${KEY_PREFIX}${module}.lora_${a ? 'B' : 'A'}.weight`);
    const weight = weights.get(name)!;
    const r = Number(patternFor(rankPattern, module) ?? rank);
    const moduleAlpha = Number(patternFor(alphaPattern, module) ?? alpha);
    const A = file.readFloat32(a, [r, weight.dIn]);
    const fullB = file.readFloat32(b, [weight.dOut, r]);
    const rows: number[] = [];
    for (let row = 0; row < weight.dOut; row++) {
      if (fullB.subarray(row * r, (row + 1) * r).some((v) => v !== 0)) rows.push(row);
    }
    const B = new Float32Array(rows.length * r);
    rows.forEach((row, i) => B.set(fullB.subarray(row * r, (row + 1) * r), i * r));
    for (const v of A)
      if (!Number.isFinite(v)) throw new Error(`${file.file}: tensor ${a} holds a non-finite value`);
    for (const v of B)
      if (!Number.isFinite(v)) throw new Error(`${file.file}: tensor ${b} holds a non-finite value`);
    factors.set(name, {
      A,
      B,
      rows: Int32Array.from(rows),
      dOut: weight.dOut,
      dIn: weight.dIn,
      rank: r,
      scale: rslora ? moduleAlpha / Math.sqrt(r) : moduleAlpha / r,
    });
  }
  // Our encoder order, so LoraAdapters built from it sees the same order.
  const ordered: AdapterFactors = new Map(
    encoder
      .adaptableWeights()
      .filter((w) => factors.has(w.name))
      .map((w) => [w.name, factors.get(w.name)!]),
  );
  return {
    // Our LoraAdapters use alpha / r: an rsLoRA alpha becomes alpha * sqrt(r) there.
    lora: { rank, alpha: rslora ? alpha * Math.sqrt(rank) : alpha, dropout, targets: [...ordered.keys()] },
    factors: ordered,
    config,
  };
}

/** Reads adapter_config.json and adapter_model.safetensors from any model file source (folder, URL). */
export async function readPeftAdapter(encoder: Encoder, files: ModelFiles): Promise<ImportedPeftAdapter> {
  const [config, weights] = await Promise.all([
    readJsonFile(files, PEFT_CONFIG_FILE),
    files.read(PEFT_WEIGHTS_FILE),
  ]);
  return importPeftAdapter(encoder, config, weights, files.origin);
}

/**
 * LoraAdapters on `encoder` holding an imported adapter (every factor must have the config's rank and scale).
 * `config` adds settings the file does not carry (seed, maskMode, budget).
 */
export function loraAdaptersFromPeft(
  encoder: Encoder,
  imported: ImportedPeftAdapter,
  config: Partial<Pick<LoraConfig, 'seed' | 'maskMode' | 'budget' | 'dropout'>> = {},
): LoraAdapters {
  const adapters = new LoraAdapters(encoder.adaptableWeights(), { ...imported.lora, ...config });
  try {
    adapters.importFactors(imported.factors);
  } catch (error) {
    adapters.dispose();
    throw error;
  }
  return adapters;
}
