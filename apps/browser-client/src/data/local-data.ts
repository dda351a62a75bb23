// The browser-safe data entry point: the page's main thread never loads tfjs.
import {
  LabelledFileError,
  labelCounts,
  parseLabelledText,
  splitDataset,
  type LabelledDataset,
} from '@fedhft/adapters/data';
import type { LabelledTexts } from '@fedhft/adapters';

/**
 * The person's own data: a CSV, TSV or JSONL file with a text and a label column, parsed in the page by the
 * shared parser and split into a training part and a held-out part (for the personalized accuracy) with a fixed
 * seed, so a reload trains on the same split. None of it ever leaves the page: the worker trains on it and only
 * the encoded update and numbers go out (see outbox.ts).
 */

export interface LocalDataOptions {
  readonly textColumn: string;
  readonly labelColumn: string;
  /** The federation's classes, in order: any other label in the file is an error. Default: the file's labels. */
  readonly labelNames?: readonly string[];
  /** Share held out for the personalized evaluation (default 0.2; at least one example). */
  readonly heldOutFraction?: number;
  /** Fewest examples accepted (default 4: some to train on and some held out). */
  readonly minExamples?: number;
  /** Default 16 MiB: the whole file is read into the page. */
  readonly maxBytes?: number;
}

export interface LocalDataset {
  readonly fileName: string;
  readonly labelNames: readonly string[];
  /** Examples per class over the whole file, indexed like labelNames. */
  readonly classCounts: readonly number[];
  readonly train: LabelledTexts;
  readonly heldOut: LabelledTexts;
}

/** A problem with the picked file, phrased for the person who picked it. */
export class DataFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileError';
  }
}

export const SPLIT_SEED = 'fedhft-client-split';
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Reads and validates a picked file (a browser File or any Blob-like with a name). */
export async function loadLocalData(
  file: { name: string; size: number; text(): Promise<string> },
  options: LocalDataOptions,
): Promise<LocalDataset> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (file.size > maxBytes) {
    throw new DataFileError(
      `${file.name}: the file is ${(file.size / 2 ** 20).toFixed(1)} MiB, the limit is ${(maxBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  return prepareLocalData(await file.text(), file.name, options);
}

/** Parses, validates and splits the text of a data file named `fileName` (its extension gives the format). */
export function prepareLocalData(content: string, fileName: string, options: LocalDataOptions): LocalDataset {
  if (content.replace(/^\uFEFF/, '').trim() === '') throw new DataFileError(`${fileName}: the file is empty`);
  if (options.textColumn.trim() === '' || options.labelColumn.trim() === '') {
    throw new DataFileError('name the text column and the label column');
  }
  let dataset: LabelledDataset;
  try {
    dataset = parseLabelledText(content, {
      format: 'auto',
      fileName,
      textColumn: options.textColumn.trim(),
      labelColumn: options.labelColumn.trim(),
      maxBytes: options.maxBytes ?? DEFAULT_MAX_FILE_BYTES,
      ...(options.labelNames ? { labelNames: options.labelNames } : {}),
    });
  } catch (error) {
    // The parser's messages already name the file, the line and the problem.
    if (error instanceof LabelledFileError) throw new DataFileError(error.message);
    throw error;
  }
  return splitLocalData(dataset, fileName, options);
}

/**
 * A demo shard the coordinator handed out (public data, not the person's), checked and split like a file.
 * `labelNames`: the federation's classes, which the shard's must equal.
 */
export function demoShardData(
  shard: {
    readonly index: number;
    readonly count: number;
    readonly corpus: string;
    readonly labelNames: readonly string[];
    readonly texts: readonly string[];
    readonly labels: readonly number[];
  },
  labelNames?: readonly string[],
): LocalDataset {
  const name = `demo shard ${shard.index + 1} of ${shard.count} (${shard.corpus})`;
  if (labelNames && labelNames.join('\u0000') !== shard.labelNames.join('\u0000')) {
    throw new DataFileError(
      `${name}: its labels (${shard.labelNames.join(', ')}) are not the federation's (${labelNames.join(', ')})`,
    );
  }
  const bad = shard.labels.findIndex((label) => !(label >= 0 && label < shard.labelNames.length));
  if (shard.texts.length !== shard.labels.length || bad >= 0) {
    throw new DataFileError(`${name}: texts and labels do not match`);
  }
  if (shard.texts.some((text) => text.trim() === '')) throw new DataFileError(`${name}: holds an empty text`);
  const dataset: LabelledDataset = {
    name,
    texts: [...shard.texts],
    labels: [...shard.labels],
    labelNames: [...shard.labelNames],
  };
  // A shard may hold a single label (label skew): the federation's classes are known, so that is fine.
  return splitLocalData(dataset, name, { labelNames: shard.labelNames });
}

/** Validates the size and labels of a parsed dataset and splits it (fixed seed) into train and held-out parts. */
function splitLocalData(
  dataset: LabelledDataset,
  fileName: string,
  options: Pick<LocalDataOptions, 'labelNames' | 'heldOutFraction' | 'minExamples'>,
): LocalDataset {
  const counts = labelCounts(dataset);
  const size = dataset.texts.length;
  const minExamples = Math.max(2, options.minExamples ?? 4);
  if (size < minExamples) {
    throw new DataFileError(
      `${fileName}: too few examples: ${size}, at least ${minExamples} are needed (some to train on, some held out)`,
    );
  }
  const present = counts.filter((c) => c > 0).length;
  if (!options.labelNames && present < 2) {
    throw new DataFileError(
      `${fileName}: every example has the label '${dataset.labelNames[0]}': a classifier needs at least 2 labels`,
    );
  }
  const fraction = options.heldOutFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1))
    throw new DataFileError(`held-out fraction must be in (0, 1), got ${fraction}`);
  // At least one held-out example and at least one to train on.
  const heldOutCount = Math.min(size - 1, Math.max(1, Math.round(fraction * size)));
  const [train, heldOut] = splitDataset(
    dataset,
    [(size - heldOutCount) / size, heldOutCount / size],
    SPLIT_SEED,
  );
  return {
    fileName,
    labelNames: dataset.labelNames,
    classCounts: counts,
    train: { texts: train!.texts, labels: train!.labels },
    heldOut: { texts: heldOut!.texts, labels: heldOut!.labels },
  };
}
