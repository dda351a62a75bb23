// Browser-safe (no Node imports): the browser client parses a file that a person picks with this module.
import Papa from 'papaparse';
import type { LabelledDataset } from './labelled-texts';

export type LabelledFileFormat = 'csv' | 'tsv' | 'jsonl';

/** A header name or JSON key, or a 0-based column index (CSV/TSV only). */
export type ColumnRef = string | number;

export interface ParseOptions {
  /** 'auto' picks the format from the extension of `fileName`. */
  format: LabelledFileFormat | 'auto';
  /** Named in every error, and the dataset's name unless `name` is given. */
  fileName?: string;
  name?: string;
  /** One column, or several joined (empty parts left out) with `textSeparator`, default ' '. */
  textColumn: ColumnRef | readonly ColumnRef[];
  textSeparator?: string;
  labelColumn: ColumnRef;
  /** CSV/TSV: whether the first row names the columns. Default true. */
  hasHeader?: boolean;
  /** CSV/TSV: honour "double-quoted" fields (RFC 4180). Default true; false reads quotes as plain text. */
  quoted?: boolean;
  /** Fixes the classes and their order; any other label is an error. Default: the distinct labels, sorted. */
  labelNames?: readonly string[];
  /** How each of `labelNames` is written in the file (e.g. '0', '1'), when not by name. */
  labelValues?: readonly string[];
  /** Default 64 MiB. */
  maxBytes?: number;
  /** Default 1000: more distinct labels than this usually means the wrong label column. */
  maxClasses?: number;
}

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_CLASSES = 1000;

/** A problem in an input file; `line` is 1-based where the problem has one. */
export class LabelledFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(line === undefined ? `${file}: ${problem}` : `${file}: line ${line}: ${problem}`);
    this.name = 'LabelledFileError';
  }
}

const EXTENSIONS: Record<string, LabelledFileFormat> = {
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
};

/** The format a file name's extension stands for. */
export function detectFormat(fileName: string): LabelledFileFormat {
  const extension = /\.([^./\\]+)$/.exec(fileName)?.[1]?.toLowerCase() ?? '';
  const format = EXTENSIONS[extension];
  if (!format) {
    throw new LabelledFileError(
      fileName,
      undefined,
      `cannot tell the format from the extension '${extension}' (expected .csv, .tsv, .tab, .jsonl or .ndjson)`,
    );
  }
  return format;
}

/** Reads a picked file (a browser File, or any Blob-like with a name), refusing oversized ones before reading. */
export async function parseLabelledFile(
  file: { name: string; size: number; text(): Promise<string> },
  options: ParseOptions,
): Promise<LabelledDataset> {
  const fileName = options.fileName ?? file.name;
  checkSize(fileName, file.size, options.maxBytes ?? DEFAULT_MAX_BYTES);
  return parseLabelledText(await file.text(), { ...options, fileName });
}

/** Parses CSV, TSV or JSONL text into a dataset; throws a LabelledFileError naming the line and the problem. */
export function parseLabelledText(content: string, options: ParseOptions): LabelledDataset {
  const fileName = options.fileName ?? options.name ?? 'input';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  // UTF-8 needs at least one byte per UTF-16 unit and at most three, so encode only when it could matter.
  if (content.length > maxBytes) checkSize(fileName, content.length, maxBytes);
  else if (content.length * 3 > maxBytes)
    checkSize(fileName, new TextEncoder().encode(content).length, maxBytes);
  const format = options.format === 'auto' ? detectFormat(fileName) : options.format;
  const text = content.startsWith('\uFEFF') ? content.slice(1) : content;
  const collector = new RowCollector(fileName, options);
  if (format === 'jsonl') readJsonLines(text, collector);
  else readDelimited(text, format === 'csv' ? ',' : '\t', options, collector);
  return collector.finish(options.name ?? fileName);
}

function checkSize(fileName: string, bytes: number, maxBytes: number): void {
  if (bytes > maxBytes) {
    throw new LabelledFileError(
      fileName,
      undefined,
      `file too large: ${mib(bytes)} MiB, the limit is ${mib(maxBytes)} MiB`,
    );
  }
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** Gives a row's text and label cells, by column, as found in the file. */
type CellReader = (column: ColumnRef) => unknown;

/** Turns rows into texts and label ids, checking each one. */
class RowCollector {
  private readonly textColumns: readonly ColumnRef[];
  private readonly separator: string;
  private readonly maxClasses: number;
  private readonly fixedLabels: Map<string, number> | undefined;
  private readonly fixedNames: readonly string[] | undefined;
  private readonly discovered = new Map<string, number>();
  readonly texts: string[] = [];
  readonly labels: number[] = [];

  constructor(
    private readonly fileName: string,
    private readonly options: ParseOptions,
  ) {
    this.textColumns = Array.isArray(options.textColumn)
      ? options.textColumn
      : [options.textColumn as ColumnRef];
    if (this.textColumns.length === 0) this.fail(undefined, 'no text column given');
    this.separator = options.textSeparator ?? ' ';
    this.maxClasses = options.maxClasses ?? DEFAULT_MAX_CLASSES;
    if (options.labelNames) {
      const names = options.labelNames;
      const values = options.labelValues ?? names;
      if (names.length === 0) this.fail(undefined, 'labelNames is empty');
      if (values.length !== names.length) {
        this.fail(undefined, `${names.length} labelNames but ${values.length} labelValues`);
      }
      if (names.length > this.maxClasses) this.tooManyClasses(undefined, names.length);
      this.fixedLabels = new Map(values.map((value, index) => [value, index]));
      if (this.fixedLabels.size !== values.length) this.fail(undefined, 'labelValues contain a duplicate');
      this.fixedNames = names;
    } else if (options.labelValues) {
      this.fail(undefined, 'labelValues needs labelNames');
    }
  }

  get columns(): readonly ColumnRef[] {
    return [...this.textColumns, this.options.labelColumn];
  }

  add(cell: CellReader, line: number): void {
    const parts = this.textColumns.map((column) => {
      const value = cell(column);
      if (typeof value !== 'string') this.fail(line, `${describe(column)} is ${kindOf(value)}, not text`);
      return value.trim();
    });
    const text = parts.filter((part) => part !== '').join(this.separator);
    if (text === '') this.fail(line, `empty text in ${this.textColumns.map(describe).join(' + ')}`);
    this.texts.push(text);
    this.labels.push(this.labelId(cell(this.options.labelColumn), line));
  }

  finish(name: string): LabelledDataset {
    if (this.texts.length === 0) this.fail(undefined, 'no data rows');
    if (this.fixedNames) {
      return { name, labelNames: [...this.fixedNames], texts: this.texts, labels: this.labels };
    }
    // Sorted names make the class ids independent of row order; numeric labels sort as numbers.
    const names = [...this.discovered.keys()];
    const numeric = names.every((n) => /^-?\d+(\.\d+)?$/.test(n));
    names.sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
    const remap = names.map((n) => this.discovered.get(n) as number);
    const idOf = new Array<number>(names.length);
    remap.forEach((firstSeenId, sortedId) => (idOf[firstSeenId] = sortedId));
    return {
      name,
      labelNames: names,
      texts: this.texts,
      labels: this.labels.map((id) => idOf[id] as number),
    };
  }

  private labelId(raw: unknown, line: number): number {
    const column = describe(this.options.labelColumn);
    if (typeof raw === 'number' && Number.isFinite(raw)) raw = String(raw);
    if (typeof raw !== 'string') this.fail(line, `label ${column} is ${kindOf(raw)}, not a label`);
    const label = raw.trim();
    if (label === '') this.fail(line, `empty label in ${column}`);
    if (this.fixedLabels) {
      const id = this.fixedLabels.get(label);
      if (id === undefined) {
        const known = [...this.fixedLabels.keys()];
        const shown =
          known.slice(0, 20).join("', '") + (known.length > 20 ? `' and ${known.length - 20} more` : "'");
        this.fail(line, `unknown label '${label}' in ${column} (expected '${shown})`);
      }
      return id;
    }
    let id = this.discovered.get(label);
    if (id === undefined) {
      id = this.discovered.size;
      if (id >= this.maxClasses) this.tooManyClasses(line, id + 1);
      this.discovered.set(label, id);
    }
    return id;
  }

  private tooManyClasses(line: number | undefined, count: number): never {
    this.fail(
      line,
      `too many classes: ${count} distinct labels in ${describe(this.options.labelColumn)}, the limit is ` +
        `${this.maxClasses} (is it the right label column?)`,
    );
  }

  fail(line: number | undefined, problem: string): never {
    throw new LabelledFileError(this.fileName, line, problem);
  }
}

function describe(column: ColumnRef): string {
  return typeof column === 'number' ? `column ${column}` : `column '${column}'`;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** One JSON object per line; blank lines are skipped. */
function readJsonLines(content: string, collector: RowCollector): void {
  const lines = content.split(/\r?\n/);
  lines.forEach((source, index) => {
    const line = index + 1;
    if (source.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(source);
    } catch (error) {
      collector.fail(line, `malformed JSON: ${(error as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      collector.fail(line, `expected a JSON object, found ${kindOf(record)}`);
    }
    const fields = record as Record<string, unknown>;
    for (const column of collector.columns) {
      if (typeof column === 'number') collector.fail(line, `JSONL columns are keys, not indices (${column})`);
      if (!Object.hasOwn(fields, column)) collector.fail(line, `missing field '${column}'`);
    }
    collector.add((column) => fields[column as string], line);
  });
}

/** CSV or TSV through Papa Parse, row by row so that each error can name the line the row starts on. */
function readDelimited(
  content: string,
  delimiter: string,
  options: ParseOptions,
  collector: RowCollector,
): void {
  const hasHeader = options.hasHeader ?? true;
  const newline = content.includes('\n') ? '\n' : '\r';
  let indexOf: ((column: ColumnRef) => number) | undefined;
  let fieldCount = 0;
  let firstLine = 0;
  let line = 1;
  let cursor = 0;
  let failure: unknown;

  const onRow = (fields: string[], errors: Papa.ParseError[], rowLine: number): void => {
    const quoteError = errors[0];
    if (quoteError)
      collector.fail(rowLine, `${quoteError.message} (CSV quoting; pass quoted: false if quotes are text)`);
    if (fields.every((field) => field.trim() === '')) return; // blank line
    if (indexOf === undefined) {
      fieldCount = fields.length;
      firstLine = rowLine;
      indexOf = columnIndexer(hasHeader ? fields : undefined, rowLine, fieldCount, collector);
      for (const column of collector.columns) indexOf(column); // fail early on a missing column
      if (hasHeader) return;
    }
    if (fields.length !== fieldCount) {
      collector.fail(
        rowLine,
        `${fields.length} fields where line ${firstLine} has ${fieldCount} ` +
          `(a stray ${delimiter === '\t' ? 'tab' : 'comma'} or quote in a text?)`,
      );
    }
    const at = indexOf;
    collector.add((column) => fields[at(column)], rowLine);
  };

  Papa.parse<string[]>(content, {
    delimiter,
    quoteChar: '"',
    // Papa Parse skips quote handling in fast mode; `undefined` lets it choose (fast only when no quote occurs).
    fastMode: options.quoted === false ? true : undefined,
    skipEmptyLines: false,
    step(results, parser) {
      // meta.cursor is where this row ends, so the row started where the previous one ended.
      const rowLine = line;
      line += countOf(content, newline, cursor, results.meta.cursor);
      cursor = results.meta.cursor;
      try {
        onRow(results.data, results.errors, rowLine);
      } catch (error) {
        failure = error;
        parser.abort();
      }
    },
  });
  if (failure !== undefined) throw failure;
  if (indexOf === undefined) collector.fail(undefined, 'no rows (the file is empty)');
}

/** Resolves column names through the header (when there is one) and checks indices against the row width. */
function columnIndexer(
  header: readonly string[] | undefined,
  headerLine: number,
  fieldCount: number,
  collector: RowCollector,
): (column: ColumnRef) => number {
  const byName = new Map(header?.map((name, index) => [name.trim(), index]));
  return (column) => {
    if (typeof column === 'number') {
      if (!Number.isInteger(column) || column < 0 || column >= fieldCount) {
        collector.fail(undefined, `no column ${column}: rows have ${fieldCount} fields (indices from 0)`);
      }
      return column;
    }
    if (!header)
      collector.fail(undefined, `column '${column}' is named but hasHeader is false; give its index`);
    const index = byName.get(column);
    if (index === undefined) {
      collector.fail(headerLine, `missing column '${column}' in the header (columns: ${header.join(', ')})`);
    }
    return index;
  };
}

function countOf(content: string, needle: string, from: number, to: number): number {
  let count = 0;
  for (let at = content.indexOf(needle, from); at !== -1 && at < to; at = content.indexOf(needle, at + 1))
    count++;
  return count;
}
