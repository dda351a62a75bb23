import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, found from this file's location so benches work from any cwd. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The exact command that produced a result: the npm script plus the flags it was given. */
export function commandLine(script: string): string {
  const flags = process.argv.slice(2).join(' ');
  return flags ? `npm run ${script} -- ${flags}` : `npm run ${script}`;
}

/** Where and how a figure was measured; stored with every benchmark result. */
export function environment(script: string, backend: string) {
  return {
    command: commandLine(script),
    backend,
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
  };
}

/** Writes docs/bench/<name>.json. */
export async function writeBenchJson(name: string, result: unknown): Promise<string> {
  const file = path.join(REPO_ROOT, 'docs', 'bench', `${name}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/**
 * Replaces this benchmark's section of docs/BENCHMARKS.md (between `<!-- bench:NAME -->` and
 * `<!-- /bench:NAME -->`), appending the section if it is new, so hand-written text around it survives.
 */
export async function writeBenchSection(name: string, markdown: string): Promise<void> {
  const file = path.join(REPO_ROOT, 'docs', 'BENCHMARKS.md');
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${markdown.trim()}\n${close}`;
  let text = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(file, text);
}

/** A markdown table from a header row and data rows. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const MB = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
