import { subsample, type LabelledDataset } from '@fedhft/adapters';
import { loadSpamAssassin } from '@fedhft/adapters/node';
import { dirichletLabelPartition, type DemoShard } from '@fedhft/core';
import type { DemoConfig } from './config';

/**
 * Demo data for `npm start`: a public corpus shipped by npm, cut into non-IID shards (Dirichlet label skew), so
 * a person can open a few client pages and watch a federation learn without having data files. The server
 * hands a shard to a client that asks for one (PROTOCOL_EVENTS.demoShard), only to that client. Shards are
 * given out in turn; a client that asks again (reload, reconnect, server restart) gets the same one.
 */

export const DEMO_NOTICE =
  'Public demo data from the coordinator (a shard of an npm-shipped corpus), not anyone’s own data.';

export interface DemoShardSummary {
  readonly index: number;
  readonly size: number;
  /** Examples per label, in label order. */
  readonly labelCounts: number[];
  readonly clients: string[];
}

export class DemoShards {
  private readonly assigned = new Map<string, number>();

  private constructor(
    readonly corpus: string,
    readonly labelNames: readonly string[],
    private readonly shards: readonly { readonly texts: string[]; readonly labels: number[] }[],
  ) {}

  /** Loads the configured corpus (from node_modules, offline) and splits it. */
  static async load(config: DemoConfig, numClasses: number): Promise<DemoShards> {
    const corpus = await loadSpamAssassin({ maxLength: config.maxLength });
    if (corpus.labelNames.length !== numClasses) {
      throw new Error(
        `demo corpus ${config.corpus} has ${corpus.labelNames.length} labels, the federation ${numClasses}`,
      );
    }
    return DemoShards.fromDataset(corpus, config);
  }

  /** Splits `dataset` as `load` does (tests pass a small one). */
  static fromDataset(
    dataset: LabelledDataset,
    config: Pick<DemoConfig, 'shards' | 'alpha' | 'examples' | 'seed'> & { corpus?: string },
  ): DemoShards {
    const sample = subsample(dataset, Math.min(config.examples, dataset.texts.length), `demo:${config.seed}`);
    // Small shards still need a held-out split on the client: at least 8 examples each.
    const minSize = Math.min(8, Math.floor(sample.texts.length / config.shards));
    if (minSize < 1) {
      throw new Error(`${sample.texts.length} demo examples cannot fill ${config.shards} shards`);
    }
    const parts = dirichletLabelPartition(sample.labels, config.shards, {
      alpha: config.alpha,
      seed: `demo:${config.seed}`,
      minSize,
    });
    const shards = parts.map((rows) => ({
      texts: Array.from(rows, (i) => sample.texts[i]!),
      labels: Array.from(rows, (i) => sample.labels[i]!),
    }));
    return new DemoShards(config.corpus ?? dataset.name, dataset.labelNames, shards);
  }

  get count(): number {
    return this.shards.length;
  }

  /** The client's shard: its earlier one, else the next in turn. */
  shardFor(clientId: string): DemoShard {
    let index = this.assigned.get(clientId);
    if (index === undefined) {
      index = this.assigned.size % this.shards.length;
      this.assigned.set(clientId, index);
    }
    const shard = this.shards[index]!;
    return {
      index,
      count: this.shards.length,
      corpus: this.corpus,
      labelNames: [...this.labelNames],
      texts: [...shard.texts],
      labels: [...shard.labels],
      notice: DEMO_NOTICE,
    };
  }

  summary(): DemoShardSummary[] {
    const classes = this.labelNames.length;
    return this.shards.map((shard, index) => {
      const labelCounts = new Array<number>(classes).fill(0);
      for (const label of shard.labels) labelCounts[label] = (labelCounts[label] ?? 0) + 1;
      const clients = [...this.assigned].filter(([, i]) => i === index).map(([id]) => id);
      return { index, size: shard.labels.length, labelCounts, clients };
    });
  }

  /** Assignments for the client registry file. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.assigned);
  }

  /** Restores saved assignments; entries that do not fit this split are dropped (they get a new shard). */
  restore(value: unknown): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [clientId, index] of Object.entries(value as Record<string, unknown>)) {
      if (Number.isInteger(index) && (index as number) >= 0 && (index as number) < this.shards.length) {
        this.assigned.set(clientId, index as number);
      }
    }
  }
}
