// Node only: loads the corpora kept in the shared data folder, outside the repository (their licences keep them out).
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabelledDataset } from './labelled-texts';
import { parseLabelledText, type ParseOptions } from './parse';

export type SharedDatasetName = 'sst2' | 'ag_news' | '20newsgroups';
export type SharedSplit = 'train' | 'dev' | 'test';

/** A shared dataset (or the folder holding them) is not on this machine; tests and benches skip on it. */
export class DatasetUnavailableError extends Error {
  constructor(
    readonly missingPath: string,
    what: string,
  ) {
    super(`${what} not found: ${missingPath} is missing (set FEDHFT_DATA_DIR or pass the data folder)`);
    this.name = 'DatasetUnavailableError';
  }
}

const AG_NEWS_LABELS = ['World', 'Sports', 'Business', 'Sci/Tech'];

// The bydate groups in sorted order (the usual class ids); fixed so train and test agree whatever their rows.
const NEWSGROUPS = [
  'alt.atheism',
  'comp.graphics',
  'comp.os.ms-windows.misc',
  'comp.sys.ibm.pc.hardware',
  'comp.sys.mac.hardware',
  'comp.windows.x',
  'misc.forsale',
  'rec.autos',
  'rec.motorcycles',
  'rec.sport.baseball',
  'rec.sport.hockey',
  'sci.crypt',
  'sci.electronics',
  'sci.med',
  'sci.space',
  'soc.religion.christian',
  'talk.politics.guns',
  'talk.politics.mideast',
  'talk.politics.misc',
  'talk.religion.misc',
];

interface SplitSource {
  file: string;
  parse: Omit<ParseOptions, 'fileName' | 'name'>;
  clean?: (text: string) => string;
}

const SST2: SplitSource['parse'] = {
  format: 'tsv',
  textColumn: 'sentence',
  labelColumn: 'label',
  labelNames: ['negative', 'positive'],
  labelValues: ['0', '1'],
  quoted: false, // PTB-tokenized sentences: a quote is text, never CSV quoting
};

/** Where each split lives in its dataset's folder and how it is read (see each folder's README). */
export const SHARED_DATASETS: Record<SharedDatasetName, Partial<Record<SharedSplit, SplitSource>>> = {
  sst2: {
    train: { file: 'train.tsv', parse: SST2 },
    dev: { file: 'dev.tsv', parse: SST2 },
    test: { file: 'test.tsv', parse: SST2 },
  },
  ag_news: {
    // 10,001 rows of the official train split, pandas-quoted, `description<TAB>LabelName`.
    train: {
      file: 'train_subset_alps_dev.tsv',
      parse: { format: 'tsv', hasHeader: false, textColumn: 0, labelColumn: 1, labelNames: AG_NEWS_LABELS },
      clean: cleanAgNewsText,
    },
    test: {
      file: 'test.csv',
      parse: {
        format: 'csv',
        textColumn: ['title', 'description'],
        labelColumn: 'label',
        labelNames: AG_NEWS_LABELS,
        labelValues: ['1', '2', '3', '4'],
      },
      clean: cleanAgNewsText,
    },
  },
  '20newsgroups': {
    train: { file: 'train.jsonl', parse: jsonl() },
    test: { file: 'test.jsonl', parse: jsonl() },
  },
};

function jsonl(): SplitSource['parse'] {
  return {
    format: 'jsonl',
    textColumn: ['subject', 'text'],
    textSeparator: '\n',
    labelColumn: 'label',
    labelNames: NEWSGROUPS,
  };
}

/**
 * The shared data folder: `explicit`, else $FEDHFT_DATA_DIR, else ../shared/datasets beside the repository root
 * (found from this file, not the working directory). Null when the chosen folder does not exist; a given
 * folder that is missing is not silently replaced by the next choice.
 */
export function resolveDataDir(explicit?: string): string | null {
  const chosen = explicit || process.env.FEDHFT_DATA_DIR || defaultDataDir();
  if (!chosen) return null;
  const resolved = path.resolve(chosen);
  return existsSync(resolved) ? resolved : null;
}

/** ../shared/datasets from the repository root, the nearest folder above this file whose package.json has workspaces. */
function defaultDataDir(): string | undefined {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(folder, 'package.json');
    if (existsSync(manifest) && 'workspaces' in (JSON.parse(readFileSync(manifest, 'utf8')) as object)) {
      return path.join(folder, '..', 'shared', 'datasets');
    }
    const parent = path.dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}

/**
 * One split of a shared dataset, named '<dataset>/<split>'. `dataDir` defaults to resolveDataDir(); a missing
 * folder or file throws DatasetUnavailableError, a malformed one a LabelledFileError naming the line.
 */
export async function loadSharedDataset(
  name: SharedDatasetName,
  split: SharedSplit,
  dataDir?: string | null,
): Promise<LabelledDataset> {
  const splits = SHARED_DATASETS[name];
  if (!splits)
    throw new Error(
      `unknown shared dataset '${String(name)}' (known: ${Object.keys(SHARED_DATASETS).join(', ')})`,
    );
  const source = splits[split];
  if (!source) throw new Error(`${name} has no '${split}' split (it has: ${Object.keys(splits).join(', ')})`);
  const root = dataDir ?? resolveDataDir();
  if (!root) {
    throw new DatasetUnavailableError(
      process.env.FEDHFT_DATA_DIR || defaultDataDir() || '../shared/datasets',
      'shared data folder',
    );
  }
  const file = path.join(root, name, source.file);
  if (!existsSync(file)) throw new DatasetUnavailableError(file, `${name}/${split}`);
  const content = await readFile(file, 'utf8');
  const dataset = parseLabelledText(content, { ...source.parse, fileName: file, name: `${name}/${split}` });
  if (source.clean) dataset.texts = dataset.texts.map(source.clean);
  return dataset;
}

// Windows-1252 characters for codes 128-159, which AG News writes as `#146;` etc. where Unicode has controls.
const CP1252 = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ';
const NAMED: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: ' ' };
const HTML_TAG = /<\/?(?:a|b|i|p|br|em|img|font|nobr|cite|strong)(?:\s[^>]*)?\/?>/gi;

/**
 * AG News escapes as in the original crawl: `\` for a line break, `\$` for `$`, and entities whose `&` became a
 * space (` #39;`, ` quot;`) or stayed (`&lt;`). Decoded to plain text; the HTML tags the entities spelled (links,
 * fonts) are dropped, ticker symbols like <AAPL.O> kept, whitespace collapsed.
 */
export function cleanAgNewsText(text: string): string {
  return text
    .replace(/\\\$/g, '$')
    .replace(/\\+/g, ' ')
    .replace(/&(?:amp;)+/g, '&') // once seen double-escaped: &amp;amp;
    .replace(/(?:&| |^)(#\d+|quot|amp|lt|gt|nbsp);/g, (match, entity: string) => {
      if (!entity.startsWith('#')) return NAMED[entity] ?? match;
      const code = Number(entity.slice(1));
      if (code >= 128 && code < 160) return CP1252[code - 128] ?? match;
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
    })
    .replace(HTML_TAG, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
