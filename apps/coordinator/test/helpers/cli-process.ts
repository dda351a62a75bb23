import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `fedhft-coordinator start` as a real child process (tests that kill it, or run several side by side), on
 * the tiny test encoder (FEDHFT_TEST_ENCODER=1) so each start takes about a second.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const CLI = 'apps/coordinator/src/cli.ts';

export interface CliServer {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Every CLI started (and listening) so far; stopCliServers kills what is left of them. */
const started: CliServer[] = [];

/** Spawns `fedhft-coordinator start` and resolves once it printed where it listens. */
export function startCli(args: string[]): Promise<CliServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, FEDHFT_TEST_ENCODER: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const output = () => `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
  return new Promise<CliServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never listed as started: nothing else would stop it
      reject(new Error(`no banner within 20 s\n${output()}`));
    }, 20_000);
    child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /FedHFT coordinator at (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url === undefined) return;
      clearTimeout(timer);
      const server = { child, url, exited, output };
      started.push(server);
      resolve(server);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the CLI exited (${code ?? signal}) before listening\n${output()}`));
    });
  });
}

/** Kills (SIGKILL) every CLI process still running and waits for them. */
export async function stopCliServers(): Promise<void> {
  for (const server of started.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await server.exited;
  }
}

/** Polls until `condition` holds. */
export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Writes a coordinator config file (loopback, a free port, state in `dataDir`) for `start --config` and returns
 * its path.
 */
export async function writeConfigFile(
  file: string,
  dataDir: string,
  federations: readonly Record<string, unknown>[],
): Promise<string> {
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, dataDir, federations }));
  return file;
}
