import { randomBytes } from 'node:crypto';
import { Coordinator } from './coordinator';
import { loadCoordinatorConfig, type CoordinatorConfig } from './config';
import { federationSetup } from './model';

/** `fedhft-coordinator start`: flags and config file to a running coordinator. */

export interface StartFlags {
  config?: string;
  host?: string;
  port?: number;
  dataDir?: string;
  resume?: boolean;
  /** Without a config file: one federation made from these. */
  federation?: string;
  token?: string;
  encoder?: string;
  strategy?: string;
  rounds?: number;
  minClients?: number;
}

const FEDERATION_FLAGS = ['federation', 'token', 'encoder', 'strategy', 'rounds', 'minClients'] as const;

/**
 * The configuration `start` runs: the file's (host, port and data folder overridable by flags), or, without a
 * file, a single federation from the flags. Its token is --token, else $FEDHFT_TOKEN, else a random one
 * (`generatedToken` says so, to print it).
 */
export async function startConfig(
  flags: StartFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ config: CoordinatorConfig; generatedToken: boolean }> {
  const listen = { host: flags.host, port: flags.port, dataDir: flags.dataDir };
  if (flags.config !== undefined) {
    const given = FEDERATION_FLAGS.filter((key) => flags[key] !== undefined);
    if (given.length > 0) {
      throw new Error(`--${given.join(', --')}: set federations in the config file when one is given`);
    }
    return { config: await loadCoordinatorConfig(flags.config, listen), generatedToken: false };
  }
  const token = flags.token ?? env.FEDHFT_TOKEN;
  const federation = Object.fromEntries(
    Object.entries({
      id: flags.federation ?? 'default',
      token: token ?? randomBytes(12).toString('base64url'),
      encoder: flags.encoder,
      strategy: flags.strategy,
      rounds: flags.rounds,
      minClients: flags.minClients,
    }).filter(([, value]) => value !== undefined),
  );
  const config = await loadCoordinatorConfig(undefined, { ...listen, federations: [federation] });
  return { config, generatedToken: token === undefined };
}

/** Starts the coordinator and stops it cleanly on SIGINT/SIGTERM (rounds in progress are repeated on --resume). */
export async function runStart(flags: StartFlags): Promise<Coordinator> {
  const { config, generatedToken } = await startConfig(flags);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const setups = [];
  for (const federation of config.federations) {
    log(`federation ${federation.id}: loading the shapes of ${federation.encoder}`);
    setups.push(await federationSetup(federation));
  }
  const coordinator = await Coordinator.start({
    federations: setups,
    dataDir: config.dataDir,
    resume: flags.resume ?? false,
    host: config.host,
    port: config.port,
    log,
  });
  for (const federation of config.federations) {
    const token = generatedToken ? ` with token ${federation.token}` : '';
    console.log(`federation "${federation.id}" (${federation.strategy}) open at ${coordinator.url}${token}`);
  }
  const stop = (signal: string) => {
    log(`${signal}: stopping (state is in ${config.dataDir}; continue with --resume)`);
    coordinator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return coordinator;
}
