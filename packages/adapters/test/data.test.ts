import { beforeAll, describe, expect, it } from 'vitest';
import {
  detectFormat,
  labelCounts,
  parseLabelledFile,
  parseLabelledText,
  splitDataset,
  subsample,
  validateDataset,
  type LabelledDataset,
  type ParseOptions,
} from '../src/data';
import {
  DatasetUnavailableError,
  cleanAgNewsText,
  emailToText,
  loadSharedDataset,
  loadSpamAssassin,
  resolveDataDir,
  type SharedDatasetName,
  type SharedSplit,
} from '../src/data/node';

const csv = (content: string, extra: Partial<ParseOptions> = {}) =>
  parseLabelledText(content, {
    format: 'csv',
    fileName: 'f.csv',
    textColumn: 'text',
    labelColumn: 'label',
    ...extra,
  });

describe('parseLabelledText', () => {
  it('reads CSV with quoted commas, newlines and doubled quotes, a BOM and CRLF line ends', () => {
    const data = csv(
      '\uFEFFid,text,label\r\n1,"hello, world",pos\r\n2,"two\nlines ""quoted""",neg\r\n\r\n3,plain,pos\r\n',
    );
    expect(data).toEqual({
      name: 'f.csv',
      labelNames: ['neg', 'pos'],
      texts: ['hello, world', 'two\nlines "quoted"', 'plain'],
      labels: [1, 0, 1],
    });
  });

  it('reads headerless TSV by column index, and quotes as text when quoted is false', () => {
    const options: ParseOptions = { format: 'tsv', textColumn: 1, labelColumn: 0, hasHeader: false };
    expect(parseLabelledText('0\tgood "film\n1\tbad\n', { ...options, quoted: false }).texts).toEqual([
      'good "film',
      'bad',
    ]);
    expect(
      parseLabelledText('a\t"x\ty"\nb\tz\n', { ...options, textColumn: 1, labelColumn: 0 }).texts,
    ).toEqual(['x\ty', 'z']);
  });

  it('reads JSONL, joining text fields and accepting numeric labels', () => {
    const data = parseLabelledText('{"t":"Title","b":"body","y":2}\n\n{"t":"","b":"only body","y":10}\n', {
      format: 'jsonl',
      textColumn: ['t', 'b'],
      textSeparator: '\n',
      labelColumn: 'y',
    });
    // Numeric labels sort as numbers: '2' before '10'.
    expect(data).toMatchObject({
      labelNames: ['2', '10'],
      texts: ['Title\nbody', 'only body'],
      labels: [0, 1],
    });
  });

  it('maps labels through labelNames and labelValues', () => {
    const data = csv('text,label\na,1\nb,0\n', {
      labelNames: ['negative', 'positive'],
      labelValues: ['0', '1'],
    });
    expect(data.labelNames).toEqual(['negative', 'positive']);
    expect(data.labels).toEqual([1, 0]);
  });

  it('detects the format from the file extension', () => {
    expect(detectFormat('a/b/Train.CSV')).toBe('csv');
    expect(detectFormat('x.tsv')).toBe('tsv');
    expect(detectFormat('x.ndjson')).toBe('jsonl');
    expect(() => detectFormat('notes.txt')).toThrow(
      /notes\.txt: cannot tell the format from the extension 'txt'/,
    );
    const data = parseLabelledText('{"text":"hi","label":"a"}', {
      format: 'auto',
      fileName: 'picked.jsonl',
      textColumn: 'text',
      labelColumn: 'label',
    });
    expect(data.texts).toEqual(['hi']);
  });

  describe('errors name the file, line and problem', () => {
    it('missing column', () => {
      expect(() => csv('body,label\nx,a\n')).toThrow(
        "f.csv: line 1: missing column 'text' in the header (columns: body, label)",
      );
      expect(() => csv('x,a\n', { hasHeader: false, textColumn: 0, labelColumn: 2 })).toThrow(
        'f.csv: no column 2: rows have 2 fields',
      );
      expect(() =>
        parseLabelledText('{"text":"a","label":"x"}\n{"text":"b"}\n', {
          format: 'jsonl',
          fileName: 'f.jsonl',
          textColumn: 'text',
          labelColumn: 'label',
        }),
      ).toThrow("f.jsonl: line 2: missing field 'label'");
    });

    it('empty text', () => {
      expect(() => csv('text,label\nx,a\n"  ",b\n')).toThrow("f.csv: line 3: empty text in column 'text'");
    });

    it('unknown label', () => {
      expect(() => csv('text,label\nx,yes\ny,maybe\n', { labelNames: ['yes', 'no'] })).toThrow(
        "f.csv: line 3: unknown label 'maybe' in column 'label' (expected 'yes', 'no')",
      );
    });

    it('malformed JSON line, with its line number', () => {
      const options: ParseOptions = {
        format: 'jsonl',
        fileName: 'f.jsonl',
        textColumn: 'text',
        labelColumn: 'label',
      };
      expect(() => parseLabelledText('{"text":"a","label":"x"}\n{"text": oops}\n', options)).toThrow(
        /^f\.jsonl: line 2: malformed JSON: /,
      );
      expect(() => parseLabelledText('["a","x"]\n', options)).toThrow(
        'f.jsonl: line 1: expected a JSON object, found an array',
      );
    });

    it('no rows', () => {
      expect(() => csv('text,label\n')).toThrow('f.csv: no data rows');
      expect(() => csv('')).toThrow('f.csv: no rows (the file is empty)');
      expect(() =>
        parseLabelledText('\n\n', {
          format: 'jsonl',
          fileName: 'e.jsonl',
          textColumn: 't',
          labelColumn: 'l',
        }),
      ).toThrow('e.jsonl: no data rows');
    });

    it('too many classes', () => {
      const rows = Array.from({ length: 1001 }, (_, i) => `text ${i},label ${i}`).join('\n');
      expect(() => csv(`text,label\n${rows}`)).toThrow(
        "f.csv: line 1002: too many classes: 1001 distinct labels in column 'label', the limit is 1000",
      );
      expect(() => csv('text,label\na,1\nb,2\nc,3\n', { maxClasses: 2 })).toThrow(/line 4: too many classes/);
    });

    it('file too large, before reading a picked file', async () => {
      expect(() => csv('text,label\nx,a\n', { maxBytes: 10 })).toThrow(
        'f.csv: file too large: 0.0 MiB, the limit is 0.0 MiB',
      );
      let read = false;
      const file = {
        name: 'big.csv',
        size: 200 * 1024 * 1024,
        text: async () => ((read = true), ''),
      };
      await expect(
        parseLabelledFile(file, { format: 'auto', textColumn: 'text', labelColumn: 'label' }),
      ).rejects.toThrow('big.csv: file too large: 200.0 MiB, the limit is 64.0 MiB');
      expect(read).toBe(false);
    });

    it('ragged rows and broken quoting', () => {
      expect(() => csv('text,label\nx,a\ny,b,c\n')).toThrow('f.csv: line 3: 3 fields where line 1 has 2');
      expect(() => csv('text,label\nx,a\n"open,b\n')).toThrow('f.csv: line 3: Quoted field unterminated');
    });
  });
});

const toy = (counts: number[]): LabelledDataset => {
  const labels = counts.flatMap((count, label) => new Array<number>(count).fill(label));
  return {
    name: 'toy',
    labelNames: counts.map((_, i) => `c${i}`),
    texts: labels.map((_, i) => `t${i}`),
    labels,
  };
};

describe('validateDataset', () => {
  it('accepts a good dataset and names each problem', () => {
    expect(validateDataset(toy([2, 1])).texts).toHaveLength(3);
    expect(() => validateDataset({ ...toy([2]), labels: [0, 1] })).toThrow(
      "dataset 'toy': labels[1] = 1 is not in [0, 1)",
    );
    expect(() => validateDataset({ ...toy([2]), texts: ['a'] })).toThrow(
      "dataset 'toy': 1 texts but 2 labels",
    );
    expect(() => validateDataset({ ...toy([2]), texts: ['a', ' '] })).toThrow(
      "dataset 'toy': texts[1] is empty",
    );
    expect(() => validateDataset({ ...toy([1, 1]), labelNames: ['x', 'x'] })).toThrow(
      "label name 'x' appears twice",
    );
  });
});

describe('subsample and splitDataset', () => {
  const data = toy([700, 250, 50]);

  it('subsample is seeded, stratified and drawn without repeats', () => {
    const a = subsample(data, 100, 7);
    expect(subsample(data, 100, 7)).toEqual(a);
    expect(subsample(data, 100, 8).texts).not.toEqual(a.texts);
    expect(new Set(a.texts).size).toBe(100);
    const counts = labelCounts(a);
    [70, 25, 5].forEach((expected, label) =>
      expect(Math.abs((counts[label] ?? 0) - expected)).toBeLessThanOrEqual(1),
    );
    a.texts.forEach((text, i) => expect(data.labels[Number(text.slice(1))]).toBe(a.labels[i]));
    expect(subsample(data, 5000, 1).texts).toHaveLength(1000);
  });

  it('splitDataset is seeded, disjoint, stratified and sized by the fractions', () => {
    const parts = splitDataset(data, [0.8, 0.1, 0.1], 'seed');
    expect(splitDataset(data, [0.8, 0.1, 0.1], 'seed')).toEqual(parts);
    expect(parts.map((part) => part.texts.length)).toEqual([800, 100, 100]);
    const all = parts.flatMap((part) => part.texts);
    expect(new Set(all).size).toBe(1000);
    expect(labelCounts(parts[1] as LabelledDataset)).toEqual([70, 25, 5]);
    expect(splitDataset(data, [0.5], 1)[0]?.texts).toHaveLength(500);
    expect(() => splitDataset(data, [0.7, 0.4], 1)).toThrow('fractions sum to 1.1');
    expect(() => splitDataset(data, [0, 1], 1)).toThrow('fractions must be in (0, 1]');
  });
});

describe('cleanAgNewsText', () => {
  it('decodes the crawl escapes and drops spelled-out HTML tags', () => {
    expect(cleanAgNewsText('It #39;s a  #36;10 deal, \\$5 more\\\\Next  quot;quoted quot; A  amp; B')).toBe(
      'It\'s a $10 deal, $5 more Next "quoted" A & B',
    );
    expect(
      cleanAgNewsText('Dell &lt;DELL.O&gt; and &lt;A HREF="http://x"&gt;Reuters&lt;/A&gt; #151; ok'),
    ).toBe('Dell <DELL.O> and Reuters — ok');
  });
});

const dataDir = resolveDataDir();
if (!dataDir) {
  console.warn(
    '[data.test] SKIPPING shared-dataset tests: no data folder (set FEDHFT_DATA_DIR, or put the corpora in ' +
      '../shared/datasets beside the repository)',
  );
}

describe('shared datasets', () => {
  const expected: [SharedDatasetName, SharedSplit, number, number[]][] = [
    ['sst2', 'train', 67_349, [29_780, 37_569]],
    ['sst2', 'dev', 872, [428, 444]],
    ['sst2', 'test', 1_821, [912, 909]],
    ['ag_news', 'train', 10_001, [2_509, 2_458, 2_496, 2_538]],
    ['ag_news', 'test', 7_600, [1_900, 1_900, 1_900, 1_900]],
    ['20newsgroups', 'train', 11_314, []],
    ['20newsgroups', 'test', 7_532, []],
  ];
  for (const [name, split, rows, counts] of expected) {
    it.skipIf(!dataDir)(`${name}/${split} has ${rows} rows and the README's classes`, async () => {
      const data = validateDataset(await loadSharedDataset(name, split, dataDir));
      expect(data.texts).toHaveLength(rows);
      if (counts.length > 0) expect(labelCounts(data)).toEqual(counts);
      if (name === 'sst2') expect(data.labelNames).toEqual(['negative', 'positive']);
      if (name === 'ag_news') {
        expect(data.labelNames).toEqual(['World', 'Sports', 'Business', 'Sci/Tech']);
        expect(data.texts.some((text) => /#\d+;|\\|&lt;/.test(text))).toBe(false);
      }
      if (name === '20newsgroups') {
        expect(data.labelNames).toHaveLength(20);
        expect(labelCounts(data).every((count) => count > 0)).toBe(true);
      }
    });
  }

  it('throws DatasetUnavailableError naming the missing path', async () => {
    const missing = '/nonexistent/fedhft-data';
    const error = await loadSharedDataset('sst2', 'train', missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetUnavailableError);
    expect((error as Error).message).toContain('/nonexistent/fedhft-data/sst2/train.tsv is missing');
    expect(resolveDataDir(missing)).toBeNull();
    await expect(loadSharedDataset('ag_news', 'dev', missing)).rejects.toThrow("ag_news has no 'dev' split");
  });
});

describe('SpamAssassin (npm)', () => {
  let data: LabelledDataset;
  beforeAll(async () => {
    data = validateDataset(await loadSpamAssassin());
  });

  it('loads over 5,000 messages of both classes without header lines', () => {
    expect(data.texts.length).toBeGreaterThan(5000);
    expect(data.labelNames).toEqual(['ham', 'spam']);
    expect(labelCounts(data).every((count) => count > 1000)).toBe(true);
    // Bodies may quote headers ("> Received: from ...") when discussing them; unquoted header lines must be gone.
    const headerLine = /(?<![>)] ?)\b(?:Received: from |Return-Path: <|Delivered-To: \S+@)|^From \S+@/m;
    expect(data.texts.filter((text) => headerLine.test(text))).toEqual([]);
    expect(Math.max(...data.texts.map((text) => text.length))).toBeLessThanOrEqual(2000);
  });

  it('keeps the Subject and the decoded body of a message', () => {
    const message =
      'From a@b.c  Thu Aug 22 2002\r\nReceived: from x\r\n\tby y\r\nSubject: Cheap\r\n offers\r\n' +
      'Content-Transfer-Encoding: quoted-printable\r\n\r\n<html><b>Buy=20now</b>&amp; save</html>\r\n';
    expect(emailToText(message, 2000)).toBe('Cheap offers\nBuy now & save');
    expect(emailToText('Subject: only headers\n', 2000)).toBe('');
    expect(emailToText('Subject: s\n\n' + 'word '.repeat(100), 20)).toBe('s\nword word word wor');
  });
});
