/**
 * The coordinator's command line. `simulate` runs a whole federation in this process (npm run simulate -- --help);
 * `start` runs the socket.io coordinator.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { STRATEGY_NAMES } from '@fedhft/core';
import { loadConfig } from './simulate/config';
import { ENCODER_NAMES } from './simulate/encoders';
import { writePlots } from './simulate/plot';
import { fullReport } from './simulate/report';
import { runStart } from './server/start';

const PRECISIONS = ['fp32', 'fp16', 'int8'];
import { runSimulation, type ProgressEvent, type SimulationResult } from './simulate/run';

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed))
    throw new InvalidArgumentError(`not a number: ${value}`);
  return parsed;
}

function numberList(value: string): number[] {
  return value.split(',').map((part) => number(part.trim()));
}

function stringList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

function json(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON: ${(error as Error).message}`);
  }
}

function alphaOrIid(value: string): number | 'iid' {
  return value === 'iid' ? 'iid' : number(value);
}

export interface SimulateFlags {
  config?: string;
  out?: string;
  plot?: string;
  quiet?: boolean;
  progress?: boolean;
  dataset?: string;
  dataDir?: string;
  textColumn?: string;
  labelColumn?: string;
  examplesPerClient?: number;
  testExamples?: number;
  heldOutFraction?: number;
  dirichletAlpha?: number | 'iid';
  encoder?: string;
  backend?: string;
  strategy?: string;
  strategyOptions?: Record<string, unknown>;
  clusters?: number;
  clients?: number;
  participation?: number;
  rounds?: number;
  epochs?: number;
  batchSize?: number;
  microBatchSize?: number;
  checkpoint?: boolean;
  lr?: number;
  maxSeqLen?: number;
  rank?: number;
  loraAlpha?: number;
  targets?: string[];
  budgets?: number[];
  budgetProportions?: number[];
  seeds?: number[];
  precision?: string;
  headPrecision?: string;
  evalEvery?: number;
}

/** Flags as config keys (undefined for flags not given, so the file's values stand). */
export function overrides(flags: SimulateFlags): Record<string, unknown> {
  const budgets =
    flags.budgets === undefined && flags.budgetProportions === undefined
      ? undefined
      : {
          levels: flags.budgets ?? [1, 0.5, 0.25],
          ...(flags.budgetProportions ? { proportions: flags.budgetProportions } : {}),
        };
  return {
    dataset: flags.dataset,
    dataDir: flags.dataDir,
    textColumn: flags.textColumn,
    labelColumn: flags.labelColumn,
    examplesPerClient: flags.examplesPerClient,
    testExamples: flags.testExamples,
    heldOutFraction: flags.heldOutFraction,
    dirichletAlpha: flags.dirichletAlpha,
    encoder: flags.encoder,
    backend: flags.backend,
    strategy: flags.strategy,
    strategyOptions: flags.strategyOptions,
    clusters: flags.clusters,
    clients: flags.clients,
    participation: flags.participation,
    rounds: flags.rounds,
    localEpochs: flags.epochs,
    batchSize: flags.batchSize,
    microBatchSize: flags.microBatchSize,
    checkpoint: flags.checkpoint,
    learningRate: flags.lr,
    maxSeqLen: flags.maxSeqLen,
    rank: flags.rank,
    alpha: flags.loraAlpha,
    targets: flags.targets,
    budgets,
    seeds: flags.seeds,
    precision: flags.precision,
    headPrecision: flags.headPrecision,
    evalEvery: flags.evalEvery,
  };
}

/** Text of one progress event (shared by the bar and the plain lines). */
function progressFields(event: ProgressEvent) {
  return {
    seed: event.seed,
    round: event.round,
    client: event.clientId ?? '-',
    loss: event.loss === undefined ? '-' : event.loss.toFixed(3),
    acc: event.personalizedAccuracy === undefined ? '-' : `${(100 * event.personalizedAccuracy).toFixed(1)}%`,
  };
}

/**
 * A cli-progress bar on a terminal. Elsewhere (logs, CI) cli-progress printed nothing between start and stop
 * in our runs, so a plain line is printed instead every `everyMs` and at the end of each seed.
 */
function progressBar(enabled: boolean, everyMs = 10_000) {
  if (!enabled) return { update: (_event: ProgressEvent) => {}, stop: () => {} };
  if (!process.stderr.isTTY) {
    let lastPrint = 0;
    const started = Date.now();
    return {
      update(event: ProgressEvent) {
        if (event.done > 0 && Date.now() - lastPrint < everyMs && event.done !== event.total) return;
        const f = progressFields(event);
        const seconds = ((Date.now() - started) / 1000).toFixed(0);
        process.stderr.write(
          `seed ${f.seed} round ${f.round}: ${event.done}/${event.total} client rounds | ${f.client} loss ${f.loss} | pers. acc ${f.acc} (${seconds} s)\n`,
        );
        lastPrint = Date.now();
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format:
        'seed {seed} round {round} [{bar}] {value}/{total} client rounds | {client} loss {loss} | pers. acc {acc}',
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(event: ProgressEvent) {
      const payload = progressFields(event);
      if (!started || event.done === 0) {
        if (started) bar.stop();
        bar.start(event.total, event.done, payload);
        started = true;
      } else bar.update(event.done, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

async function simulate(flags: SimulateFlags, command: string): Promise<void> {
  const config = await loadConfig(flags.config, overrides(flags));
  const bar = progressBar(flags.progress !== false && !flags.quiet);
  const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  let result;
  try {
    result = await runSimulation(config, {
      onProgress: (e) => bar.update(e),
      ...(log ? { log } : {}),
      command,
    });
  } finally {
    bar.stop();
  }
  console.log(fullReport(result));
  if (flags.out) {
    const file = path.resolve(flags.out);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  }
  if (flags.plot) {
    for (const file of await writePlots([result], path.resolve(flags.plot))) console.log(`wrote ${file}`);
  }
}

async function plot(
  files: string[],
  flags: { outDir: string; prefix?: string; labels?: string[] },
): Promise<void> {
  const results = await Promise.all(
    files.map(async (file) => JSON.parse(await readFile(file, 'utf8')) as SimulationResult),
  );
  if (flags.labels && flags.labels.length !== files.length) {
    throw new Error(`--labels has ${flags.labels.length} names for ${files.length} files`);
  }
  const written = await writePlots(results, path.resolve(flags.outDir), {
    ...(flags.prefix ? { prefix: flags.prefix } : {}),
    ...(flags.labels ? { labels: flags.labels } : {}),
  });
  for (const file of written) console.log(`wrote ${file}`);
}

export function buildProgram(): Command {
  const program = new Command('fedhft-coordinator').description('FedHFT Web coordinator');
  program
    .command('simulate')
    .description('run a whole federation in this process (clients train on the tfjs wasm backend)')
    .option('-c, --config <file>', 'JSON config file (flags override it)')
    .option('-o, --out <file>', 'write the full results as JSON')
    .option('--plot <dir>', 'write accuracy.svg and bytes.svg (per round) into this folder')
    .option('-q, --quiet', 'no progress bar and no per-round lines')
    .option('--no-progress', 'no progress bar')
    .option('--dataset <name|file>', 'sst2, ag_news, 20newsgroups, spam-assassin, or a CSV/TSV/JSONL file')
    .option('--data-dir <dir>', 'shared data folder (default $FEDHFT_DATA_DIR or ../shared/datasets)')
    .option('--text-column <name>', 'file datasets: text column')
    .option('--label-column <name>', 'file datasets: label column')
    .option('--examples-per-client <n>', 'pool size = clients x n (stratified subsample)', number)
    .option('--test-examples <n>', 'global test set size', number)
    .option('--held-out-fraction <f>', "share of each client's data held out for its evaluation", number)
    .option('--dirichlet-alpha <a|iid>', 'label skew of the partition (or iid)', alphaOrIid)
    .option('--encoder <name|folder>', `${ENCODER_NAMES.join(', ')} or a BERT folder`)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['wasm', 'cpu']))
    .addOption(new Option('--strategy <name>', 'federated strategy').choices([...STRATEGY_NAMES]))
    .option('--strategy-options <json>', 'strategy options as JSON', json)
    .option('--clusters <k>', 'K_c (fedhft, heterofl)', number)
    .option('--clients <n>', 'number of clients', number)
    .option('--participation <f>', 'share of clients selected per round', number)
    .option('--rounds <n>', 'federated rounds', number)
    .option('--epochs <n>', 'local epochs per round', number)
    .option('--batch-size <n>', 'local batch size', number)
    .option('--micro-batch-size <n>', 'gradient accumulation chunk', number)
    .option('--checkpoint', 'activation checkpointing')
    .option('--lr <rate>', 'peak learning rate of round 0', number)
    .option('--max-seq-len <n>', 'longest input in tokens', number)
    .option('--rank <r>', 'LoRA rank r', number)
    .option('--lora-alpha <a>', 'LoRA alpha', number)
    .option('--targets <kinds>', 'LoRA targets, comma-separated (kinds or weight names)', stringList)
    .option('--budgets <levels>', 'budget levels, comma-separated (default 1,0.5,0.25)', numberList)
    .option('--budget-proportions <shares>', 'share of clients per level, comma-separated', numberList)
    .option('--seeds <list>', 'one run per seed, comma-separated', numberList)
    .addOption(new Option('--precision <p>', 'wire precision').choices(PRECISIONS))
    .addOption(new Option('--head-precision <p>', 'wire precision of the head').choices(PRECISIONS))
    .option('--eval-every <n>', 'global test evaluation every n rounds (and the last)', number)
    .action(async (flags: SimulateFlags) => {
      await simulate(flags, ['simulate', ...process.argv.slice(3)].join(' '));
    });
  program
    .command('plot')
    .description('accuracy and bytes per round of several simulate --out files, one line per file')
    .argument('<files...>', 'JSON files written by simulate --out')
    .requiredOption('-d, --out-dir <dir>', 'folder for the SVG files')
    .option('--prefix <name>', 'file name prefix (<prefix>-accuracy.svg)')
    .option(
      '--labels <names>',
      'legend names, comma-separated, one per file (default: the strategy)',
      stringList,
    )
    .action(plot);
  program
    .command('start')
    .description('run the coordinator server (socket.io) for one or more federations')
    .option('-c, --config <file>', 'JSON config: host, port, dataDir and the federations')
    .option('--host <host>', 'interface to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port (default 8080)', number)
    .option('--data-dir <dir>', 'checkpoints and client registries (default ./coordinator-data)')
    .option('--resume', 'continue the federations saved in the data folder')
    .option(
      '--demo',
      'without --config: the demo federation (USE Lite, FedHFT, SpamAssassin demo shards; npm start)',
    )
    .option(
      '--federation <id>',
      'without --config: the federation id (default "default", "demo" with --demo)',
    )
    .option('--token <token>', 'without --config: its join token (default $FEDHFT_TOKEN, else random)')
    .option(
      '--admin-token <token>',
      'without --config: token of the start/pause controls (default $FEDHFT_ADMIN_TOKEN, else random)',
    )
    .option('--encoder <name|folder>', `without --config: ${ENCODER_NAMES.join(', ')} or a BERT folder`)
    .addOption(new Option('--strategy <name>', 'without --config: strategy').choices([...STRATEGY_NAMES]))
    .option('--rounds <n>', 'without --config: federated rounds', number)
    .option('--min-clients <n>', 'without --config: fewest updates a round aggregates', number)
    .option('--no-pages', 'no client page or dashboard (HTTP API and model files only)')
    .option('--no-client-page', 'the dashboard but not the client page')
    .option('--no-web', 'socket.io only: no HTTP API, model files or pages')
    .option(
      '--redis <url>',
      'one of several coordinator processes sharing clients through this Redis (socket.io Redis adapter)',
    )
    .addOption(
      new Option('--cluster-role <role>', 'with --redis: leader (owns the federations, one) or member')
        .choices(['leader', 'member'])
        .default('leader'),
    )
    .action(async (flags) => {
      await runStart(flags);
    });
  return program;
}

const isMain =
  process.argv[1] !== undefined && path.resolve(process.argv[1]).endsWith(path.join('src', 'cli.ts'));
if (isMain) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}
