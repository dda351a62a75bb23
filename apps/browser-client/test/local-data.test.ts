import { describe, expect, it } from 'vitest';
import { DataFileError, demoShardData, loadLocalData, prepareLocalData } from '../src/data/local-data';

const COLUMNS = { textColumn: 'text', labelColumn: 'label' };

function csv(rows: number): string {
  const lines = ['text,label'];
  for (let i = 0; i < rows; i++)
    lines.push(`"example number ${i}, with a comma",${i % 2 === 0 ? 'pos' : 'neg'}`);
  return lines.join('\n');
}

function problem(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DataFileError);
    return (error as Error).message;
  }
  throw new Error('expected a DataFileError');
}

describe('local data', () => {
  it('parses CSV, TSV and JSONL into a stratified train / held-out split with a fixed seed', () => {
    const fromCsv = prepareLocalData(csv(20), 'mine.csv', COLUMNS);
    expect(fromCsv.labelNames).toEqual(['neg', 'pos']);
    expect(fromCsv.classCounts).toEqual([10, 10]);
    expect(fromCsv.train.texts).toHaveLength(16);
    expect(fromCsv.heldOut.texts).toHaveLength(4);
    // Both classes are held out (stratified), and no example is in both parts.
    expect(new Set(fromCsv.heldOut.labels)).toEqual(new Set([0, 1]));
    const all = [...fromCsv.train.texts, ...fromCsv.heldOut.texts];
    expect(new Set(all).size).toBe(20);
    // The same file always splits the same way (a reload trains on the same examples).
    expect(prepareLocalData(csv(20), 'mine.csv', COLUMNS)).toEqual(fromCsv);

    const tsv =
      'label\ttext\n' + ['a\tfirst one', 'b\tsecond one', 'a\tthird one', 'b\tfourth one'].join('\n');
    const fromTsv = prepareLocalData(tsv, 'mine.tsv', COLUMNS);
    expect(fromTsv.train.texts.length + fromTsv.heldOut.texts.length).toBe(4);
    expect(fromTsv.heldOut.texts).toHaveLength(1);

    const jsonl = ['x', 'y', 'z', 'w', 'v']
      .map((t, i) => JSON.stringify({ text: `say ${t}`, label: i % 2 }))
      .join('\n');
    const fromJsonl = prepareLocalData(jsonl, 'mine.jsonl', COLUMNS);
    expect(fromJsonl.labelNames).toEqual(['0', '1']);
  });

  it('names what is wrong with a file', () => {
    expect(problem(() => prepareLocalData('', 'empty.csv', COLUMNS))).toMatch(
      /empty\.csv: the file is empty/,
    );
    expect(problem(() => prepareLocalData(' \n\n', 'blank.csv', COLUMNS))).toMatch(/the file is empty/);
    expect(problem(() => prepareLocalData('sentence,label\nhi,a\n', 'cols.csv', COLUMNS))).toMatch(
      /cols\.csv: line 1: missing column 'text' in the header \(columns: sentence, label\)/,
    );
    expect(problem(() => prepareLocalData('{"text":"hi"}\n', 'rows.jsonl', COLUMNS))).toMatch(
      /line 1: missing field 'label'/,
    );
    expect(
      problem(() =>
        prepareLocalData('text,label\nfine,pos\nbad,neg\nmeh,neutral\nok,pos\n', 'labels.csv', {
          ...COLUMNS,
          labelNames: ['neg', 'pos'],
        }),
      ),
    ).toMatch(/labels\.csv: line 4: unknown label 'neutral' in column 'label' \(expected 'neg', 'pos'\)/);
    expect(problem(() => prepareLocalData(csv(3), 'few.csv', COLUMNS))).toMatch(
      /few\.csv: too few examples: 3, at least 4 are needed/,
    );
    expect(problem(() => prepareLocalData('text,label\na,x\nb,x\nc,x\nd,x\n', 'one.csv', COLUMNS))).toMatch(
      /every example has the label 'x'/,
    );
    expect(problem(() => prepareLocalData(csv(4), 'data.txt', COLUMNS))).toMatch(/cannot tell the format/);
    expect(problem(() => prepareLocalData('text,label\n,pos\n', 'gap.csv', COLUMNS))).toMatch(
      /line 2: empty text/,
    );
  });

  it('refuses a file over the size limit before reading it', async () => {
    const file = {
      name: 'big.csv',
      size: 20 * 2 ** 20,
      text: () => Promise.reject(new Error('must not be read')),
    };
    await expect(loadLocalData(file, COLUMNS)).rejects.toThrow(
      /big\.csv: the file is 20\.0 MiB, the limit is 16\.0 MiB/,
    );
  });

  it("splits a demo shard like a file, and refuses one whose labels are not the federation's", () => {
    const shard = {
      index: 2,
      count: 8,
      corpus: 'spam-assassin',
      labelNames: ['ham', 'spam'],
      texts: Array.from({ length: 10 }, (_, i) => `message ${i}`),
      labels: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      notice: 'public demo data',
    };
    const data = demoShardData(shard, ['ham', 'spam']);
    expect(data.fileName).toBe('demo shard 3 of 8 (spam-assassin)');
    expect(data.train.texts.length + data.heldOut.texts.length).toBe(10);
    expect(data.heldOut.texts.length).toBe(2);
    expect(data.classCounts).toEqual([9, 1]);
    expect(() => demoShardData(shard, ['negative', 'positive'])).toThrow(DataFileError);
    expect(() => demoShardData({ ...shard, labels: [...shard.labels.slice(1), 2] })).toThrow(/do not match/);
  });
});
