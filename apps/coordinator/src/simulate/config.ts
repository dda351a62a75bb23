import { readFile } from 'node:fs/promises';
import { STRATEGY_NAMES } from '@fedhft/core';
import { z } from 'zod';

/**
 * The simulator's configuration: a JSON file and command-line flags (flags win), validated here. Every field has
 * a default, so `{}` is a valid configuration; unknown keys are refused, because a misspelt key would otherwise
 * silently keep its default.
 */

const probability = z.number().gt(0).lte(1);
const positiveInt = z.number().int().positive();
const columnRef = z.union([z.string().min(1), z.number().int().nonnegative()]);

const budgetsSchema = z
  .strictObject({
    /** s_k levels (fraction of adapter rows a client can afford). */
    levels: z.array(probability).min(1),
    /** Share of clients at each level (default: equal shares). */
    proportions: z.array(z.number().nonnegative()).optional(),
  })
  .superRefine((budgets, context) => {
    const { levels, proportions } = budgets;
    if (proportions === undefined) return;
    if (proportions.length !== levels.length) {
      context.addIssue({
        code: 'custom',
        message: `${proportions.length} proportions for ${levels.length} levels`,
        path: ['proportions'],
      });
    }
    const total = proportions.reduce((sum, p) => sum + p, 0);
    if (Math.abs(total - 1) > 1e-6) {
      context.addIssue({
        code: 'custom',
        message: `proportions sum to ${total}, not 1`,
        path: ['proportions'],
      });
    }
  });

const fieldsSchema = z.strictObject({
  /**
   * 'sst2', 'ag_news' or '20newsgroups' (folders of the shared data folder; their train split is the client
   * pool, their test split the global test set), 'spam-assassin' (the npm corpus), or a CSV/TSV/JSONL file.
   */
  dataset: z.string().min(1).default('spam-assassin'),
  /** The shared data folder (default $FEDHFT_DATA_DIR, else ../shared/datasets). */
  dataDir: z.string().min(1).optional(),
  /** File datasets: the text column(s) and the label column. */
  textColumn: z.union([columnRef, z.array(columnRef).min(1)]).default('text'),
  labelColumn: columnRef.default('label'),
  /** Datasets without a test split (files, spam-assassin): the share held back as the global test set. */
  testFraction: z.number().gt(0).lt(1).default(0.2),
  /** The global test set is subsampled (stratified) to at most this many examples. */
  testExamples: positiveInt.default(500),
  /** The client pool is subsampled (stratified) to clients x this many examples before partitioning. */
  examplesPerClient: positiveInt.default(100),
  /** Share of each client's examples held out for its personalized evaluation (never trained on). */
  heldOutFraction: z.number().gt(0).lt(1).default(0.2),
  /** Fewest examples a client may hold (the Dirichlet partition is redrawn, then rebalanced, to ensure it). */
  minClientExamples: z.number().int().min(2).default(5),
  /** Dirichlet concentration of the label-skewed partition, or 'iid'. */
  dirichletAlpha: z.union([z.number().positive(), z.literal('iid')]).default(1),
  /** Texts of the spam-assassin corpus are cut to this many characters. */
  maxTextChars: positiveInt.default(1000),

  /** 'use-lite', 'bert-mini' (bert-mini's shape, random weights) or a folder with config.json + model.safetensors. */
  encoder: z.string().min(1).default('use-lite'),
  backend: z.enum(['wasm', 'cpu']).default('wasm'),

  strategy: z.enum(STRATEGY_NAMES as [string, ...string[]]).default('fedhft'),
  /** Passed to the strategy (which refuses unknown options); `clusters` below fills in its K_c. */
  strategyOptions: z.record(z.string(), z.unknown()).default({}),
  /** K_c for fedhft and heterofl. */
  clusters: positiveInt.optional(),
  /** Start every strategy from a seeded random head ('random', like a fresh client's) or from zeros. */
  initialHead: z.enum(['random', 'zeros']).default('random'),

  clients: positiveInt.default(10),
  /** Share of clients selected each round (at least one). */
  participation: probability.default(1),
  rounds: positiveInt.default(10),
  localEpochs: positiveInt.default(2),
  batchSize: positiveInt.default(32),
  microBatchSize: positiveInt.optional(),
  checkpoint: z.boolean().default(false),
  /**
   * Memory levers by budget level (key: the level as written in budgets.levels, e.g. "0.25"): clients at that
   * level train with this micro-batch size and/or activation checkpointing instead of the settings above, as a
   * device that can afford less memory would. Neither changes the gradient (up to float rounding).
   */
  levers: z
    .record(
      z.string(),
      z.strictObject({
        microBatchSize: positiveInt.nullable().optional(),
        checkpoint: z.boolean().optional(),
      }),
    )
    .default({}),
  learningRate: z.number().positive().default(0.003),
  roundDecay: probability.default(0.9),
  maxSeqLen: positiveInt.default(128),
  rank: positiveInt.default(32),
  alpha: z.number().positive().default(32),
  dropout: z.number().min(0).lt(1).default(0.1),
  targets: z.array(z.string().min(1)).min(1).default(['query', 'value']),
  budgets: budgetsSchema.default({ levels: [1, 0.5, 0.25] }),

  /** One run per seed (data partition, budgets, selection, initialisations). */
  seeds: z.array(z.number().int()).min(1).default([0]),
  /** Wire precision of payloads and updates (A, B, dense values); the head's defaults to the same. */
  precision: z.enum(['fp32', 'fp16', 'int8']).default('fp32'),
  headPrecision: z.enum(['fp32', 'fp16', 'int8']).optional(),

  /**
   * Hostile clients (see simulate/attack.ts): round(fraction x clients) of them, drawn by a seeded shuffle,
   * train honestly and then send their update scaled by `factor` ('scale', default -10) or replaced by Gaussian
   * noise of standard deviation `factor` per coordinate ('random', default 1).
   */
  attack: z
    .strictObject({
      fraction: z.number().min(0).lt(1),
      kind: z.enum(['scale', 'random']),
      factor: z.number().finite().optional(),
    })
    .optional(),

  /** Evaluate the cluster models on the global test set every this many rounds (and after the last). */
  evalEvery: positiveInt.default(1),
  evalBatchSize: positiveInt.default(64),
});

/** Cross-field checks that zod's per-field schemas cannot express. */
function checkConsistency(config: z.output<typeof fieldsSchema>, context: z.RefinementCtx): void {
  const levels = config.budgets.levels.map(String);
  for (const key of Object.keys(config.levers)) {
    if (!levels.includes(key)) {
      context.addIssue({
        code: 'custom',
        message: `"${key}" is not one of the budget levels (${levels.join(', ')})`,
        path: ['levers', key],
      });
    }
  }
}

export const simulationConfigSchema = fieldsSchema.superRefine(checkConsistency);

export type SimulationConfig = z.output<typeof simulationConfigSchema>;
export type SimulationConfigInput = z.input<typeof simulationConfigSchema>;

/** Readable one-line-per-problem message from a zod error. */
export function describeConfigError(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return `  ${where}: ${issue.message}`;
  });
  return `invalid simulation config (${source}):\n${lines.join('\n')}`;
}

/** Validates a configuration object (file contents merged with flags); throws with every problem listed. */
export function parseConfig(input: unknown, source = 'config'): SimulationConfig {
  const result = simulationConfigSchema.safeParse(input);
  if (!result.success) throw new Error(describeConfigError(result.error, source));
  return result.data;
}

/** Reads a JSON config file, merges `overrides` (flags) over it and validates the result. */
export async function loadConfig(
  file: string | undefined,
  overrides: Record<string, unknown> = {},
): Promise<SimulationConfig> {
  let fromFile: unknown = {};
  if (file !== undefined) {
    const text = await readFile(file, 'utf8');
    try {
      fromFile = JSON.parse(text);
    } catch (error) {
      throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile)) {
      throw new Error(`${file}: the config must be a JSON object`);
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return parseConfig(
    { ...(fromFile as Record<string, unknown>), ...defined },
    file === undefined ? 'flags' : `${file} and flags`,
  );
}

/** The strategy options a run uses: the config's, with K_c from `clusters` and the starting head added. */
export function strategyOptions(config: SimulationConfig): Record<string, unknown> {
  const options: Record<string, unknown> = { ...config.strategyOptions };
  if (config.clusters !== undefined) {
    if (config.strategy !== 'fedhft' && config.strategy !== 'heterofl') {
      throw new Error(`clusters applies to fedhft and heterofl, not ${config.strategy}`);
    }
    if (options.clusters !== undefined && options.clusters !== config.clusters) {
      throw new Error(
        `clusters ${config.clusters} disagrees with strategyOptions.clusters ${String(options.clusters)}`,
      );
    }
    options.clusters = config.clusters;
  }
  return options;
}
