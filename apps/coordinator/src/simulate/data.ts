import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  labelCounts,
  parseLabelledText,
  splitDataset,
  subsample,
  type LabelledDataset,
} from '@fedhft/adapters';
import {
  SHARED_DATASETS,
  loadSharedDataset,
  loadSpamAssassin,
  type SharedDatasetName,
} from '@fedhft/adapters/node';
import { assignBudgets, dirichletLabelPartition, iidPartition } from '@fedhft/core';
import type { SimulationConfig } from './config';

/** One simulated client's private data: a training split and a held-out split, fixed by the run's seed. */
export interface ClientData {
  readonly clientId: string;
  readonly budget: number;
  readonly train: { readonly texts: string[]; readonly labels: number[] };
  /** Never trained on: the client's personalized evaluation. May be empty for a very small client. */
  readonly heldOut: { readonly texts: string[]; readonly labels: number[] };
}

export interface FederatedData {
  readonly name: string;
  readonly labelNames: string[];
  readonly clients: ClientData[];
  /** The global test set: never used for training or any selection, only to evaluate the shared models. */
  readonly test: { readonly texts: string[]; readonly labels: number[] };
  readonly poolExamples: number;
}

/** The train (client pool) and test parts of a dataset before any per-seed sampling. */
export interface SourceData {
  readonly name: string;
  readonly labelNames: string[];
  readonly pool: LabelledDataset;
  readonly test: LabelledDataset;
  /** Where the test set came from: the dataset's own test split, or a seeded share of one file. */
  readonly testSource: 'test split' | 'held-back share';
}

function isSharedName(name: string): name is SharedDatasetName {
  return Object.hasOwn(SHARED_DATASETS, name);
}

/**
 * Loads the configured dataset. Shared datasets give their train split as the pool and their test split as the
 * test set; spam-assassin and files are split once, by a fixed seed independent of the run seeds, so that every
 * seed of a run (and every strategy compared) is evaluated on the same test set.
 */
export async function loadSource(config: SimulationConfig): Promise<SourceData> {
  const { dataset } = config;
  if (isSharedName(dataset)) {
    const [pool, test] = await Promise.all([
      loadSharedDataset(dataset, 'train', config.dataDir ?? null),
      loadSharedDataset(dataset, 'test', config.dataDir ?? null),
    ]);
    return { name: dataset, labelNames: pool.labelNames, pool, test, testSource: 'test split' };
  }
  let whole: LabelledDataset;
  if (dataset === 'spam-assassin') {
    whole = await loadSpamAssassin({ maxLength: config.maxTextChars });
  } else {
    const file = path.resolve(dataset);
    if (!existsSync(file)) {
      throw new Error(
        `dataset "${dataset}" is neither a shared dataset (${Object.keys(SHARED_DATASETS).join(', ')}), ` +
          `'spam-assassin', nor an existing CSV/TSV/JSONL file`,
      );
    }
    whole = parseLabelledText(await readFile(file, 'utf8'), {
      format: 'auto',
      fileName: file,
      name: path.basename(file),
      textColumn: config.textColumn,
      labelColumn: config.labelColumn,
    });
  }
  const [pool, test] = splitDataset(whole, [1 - config.testFraction, config.testFraction], 'simulate:test');
  return {
    name: whole.name,
    labelNames: whole.labelNames,
    pool: pool!,
    test: test!,
    testSource: 'held-back share',
  };
}

function rows(dataset: LabelledDataset, indices: ArrayLike<number>): LabelledDataset {
  const picked = Array.from(indices);
  return {
    name: dataset.name,
    labelNames: dataset.labelNames,
    texts: picked.map((i) => dataset.texts[i]!),
    labels: picked.map((i) => dataset.labels[i]!),
  };
}

/**
 * A seed's federation: the pool subsampled to clients x examplesPerClient (stratified), partitioned by
 * Dirichlet label skew (or IID), each client's part split into train and held-out, budgets assigned by level
 * proportions; the test set subsampled to testExamples. Everything is fixed by the seed.
 */
export function federate(source: SourceData, config: SimulationConfig, seed: number): FederatedData {
  const poolSize = Math.min(source.pool.texts.length, config.clients * config.examplesPerClient);
  const pool = subsample(source.pool, poolSize, `simulate:pool:${seed}`);
  const minSize = config.minClientExamples;
  if (pool.texts.length < config.clients * minSize) {
    throw new Error(
      `${pool.texts.length} pool examples cannot give ${config.clients} clients ${minSize} each ` +
        `(raise examplesPerClient or lower minClientExamples)`,
    );
  }
  const parts =
    config.dirichletAlpha === 'iid'
      ? iidPartition(pool.texts.length, config.clients, `simulate:iid:${seed}`)
      : dirichletLabelPartition(pool.labels, config.clients, {
          alpha: config.dirichletAlpha,
          seed: `simulate:dirichlet:${seed}`,
          minSize,
        });
  const budgets = assignBudgets(
    config.clients,
    config.budgets.levels,
    config.budgets.proportions,
    `simulate:budgets:${seed}`,
  );
  const width = String(config.clients - 1).length;
  const clients = parts.map((indices, k): ClientData => {
    const clientId = `client-${String(k).padStart(width, '0')}`;
    const own = rows(pool, indices);
    const [train, heldOut] = splitDataset(
      own,
      [1 - config.heldOutFraction, config.heldOutFraction],
      `simulate:split:${seed}:${clientId}`,
    );
    return {
      clientId,
      budget: budgets[k]!,
      train: { texts: train!.texts, labels: train!.labels },
      heldOut: { texts: heldOut!.texts, labels: heldOut!.labels },
    };
  });
  const test = subsample(
    source.test,
    Math.min(config.testExamples, source.test.texts.length),
    'simulate:test',
  );
  return {
    name: source.name,
    labelNames: source.labelNames,
    clients,
    test: { texts: test.texts, labels: test.labels },
    poolExamples: pool.texts.length,
  };
}

/** Per-client sizes and label counts, for the report. */
export function describeClients(data: FederatedData) {
  return data.clients.map((client) => ({
    clientId: client.clientId,
    budget: client.budget,
    trainExamples: client.train.texts.length,
    heldOutExamples: client.heldOut.texts.length,
    labelCounts: labelCounts({ name: '', labelNames: data.labelNames, ...client.train }),
  }));
}
