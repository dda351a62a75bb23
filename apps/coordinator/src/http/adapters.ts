import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  exportPeftFactors,
  peftAdapterFiles,
  weightNameNaming,
  type AdapterFactors,
  type PeftModelShape,
} from '@fedhft/adapters';
import { randomizedSvd, type ClusterModel } from '@fedhft/core';
import { z } from 'zod';
import type { Federation } from '../server/federation';
import { writeFileAtomic } from '../server/store';

/**
 * Each cluster's trained adapter as downloadable files, in peft's format (adapter_config.json +
 * adapter_model.safetensors) plus head.json (the cluster's classification head). After every aggregated round
 * the cluster's accumulated delta G_j is re-factorised to the federation's rank r by randomized SVD (the
 * adapter a client fully in cluster j merges) and written to `<dataDir>/<federation>/adapters/cluster-<j>/`,
 * so the files survive a restart. index.json says which round they are from.
 */

export const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'head.json'] as const;
export type AdapterFileName = (typeof ADAPTER_FILES)[number];

const indexSchema = z.strictObject({
  federation: z.string(),
  round: z.number().int().nonnegative(),
  exportedAt: z.number(),
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  clusters: z.array(
    z.strictObject({ cluster: z.number().int().nonnegative(), relativeError: z.number().nonnegative() }),
  ),
});
export type AdapterIndex = z.infer<typeof indexSchema>;

/** Factors of one cluster: dW ~ (alpha / r) B A for every adapted weight, with the truncation error. */
export function clusterFactors(
  model: ClusterModel,
  shapes: PeftModelShape['weights'],
  rank: number,
  alpha: number,
  seed: string,
): { factors: AdapterFactors; relativeError: number } {
  const factors: AdapterFactors = new Map();
  let total = 0;
  let lost = 0;
  for (const { name, dOut, dIn } of shapes) {
    const delta = model.deltas.get(name);
    if (delta === undefined) continue;
    const svd = randomizedSvd(delta, dOut, dIn, rank, { seed: `${seed}/${name}` });
    // peft applies (lora_alpha / r) B A: fold the inverse into B so lora_alpha is the federation's alpha.
    const scale = alpha / svd.rank;
    const B = svd.B.map((v) => v / scale);
    let norm2 = 0;
    for (const v of delta) norm2 += v * v;
    total += norm2;
    lost += svd.relativeError ** 2 * norm2;
    const rows = Int32Array.from({ length: dOut }, (_, i) => i);
    factors.set(name, { A: svd.A, B, rows, dOut, dIn, rank: svd.rank, scale });
  }
  return { factors, relativeError: total === 0 ? 0 : Math.sqrt(lost / total) };
}

export class AdapterExports {
  readonly folder: string;
  private pending: Promise<void> = Promise.resolve();
  private unavailable: string | null = null;

  constructor(private readonly federation: Federation) {
    this.folder = path.join(federation.store.folder, 'adapters');
  }

  private get model(): PeftModelShape {
    const { federation } = this;
    const weights = federation.schema.adapted;
    return federation.peft
      ? { id: federation.peft.encoderId, weights, naming: federation.peft.naming }
      : {
          id: federation.config.encoder,
          weights,
          naming: weightNameNaming(
            federation.config.encoder,
            weights.map((w) => w.name),
          ),
        };
  }

  /** Queues an export of the federation's latest cluster models (called after each aggregated round). */
  exportLatest(log: (line: string) => void = () => {}): Promise<void> {
    this.pending = this.pending
      .then(() => this.write())
      .catch((error: unknown) => {
        log(`federation ${this.federation.id}: adapter export failed: ${(error as Error).message}`);
      });
    return this.pending;
  }

  private async write(): Promise<void> {
    const latest = this.federation.clusterModels();
    if (latest === null) return;
    const { config, schema } = this.federation;
    if (latest.models.every((m) => m.deltas.size === 0)) {
      this.unavailable = `strategy ${config.strategy} trains no LoRA adapters (dense weights only)`;
      return;
    }
    const model = this.model;
    const clusters: AdapterIndex['clusters'] = [];
    for (const [cluster, clusterModel] of latest.models.entries()) {
      const seed = `adapter:${config.id}:${latest.round}:${cluster}`;
      const { factors, relativeError } = clusterFactors(
        clusterModel,
        model.weights,
        config.rank,
        config.alpha,
        seed,
      );
      const adapter = exportPeftFactors(model, factors, {
        baseModel: model.id,
        metadata: {
          'fedhft.federation': config.id,
          'fedhft.round': String(latest.round),
          'fedhft.cluster': String(cluster),
        },
      });
      const folder = path.join(this.folder, `cluster-${cluster}`);
      await mkdir(folder, { recursive: true });
      for (const [name, bytes] of peftAdapterFiles(adapter))
        await writeFileAtomic(path.join(folder, name), bytes);
      const head = clusterModel.head;
      const headJson = {
        format: 'fedhft-head',
        round: latest.round,
        cluster,
        embeddingSize: head.embeddingSize,
        numClasses: head.numClasses,
        ...(config.labelNames ? { labelNames: config.labelNames } : {}),
        layout: 'kernel is row-major [embeddingSize, numClasses]; logits = embedding kernel + bias',
        kernel: Array.from(head.kernel),
        bias: Array.from(head.bias),
      };
      await writeFileAtomic(path.join(folder, 'head.json'), JSON.stringify(headJson));
      clusters.push({ cluster, relativeError });
    }
    const index: AdapterIndex = {
      federation: config.id,
      round: latest.round,
      exportedAt: Date.now(),
      rank: Math.min(config.rank, ...schema.adapted.map((w) => Math.min(w.dOut, w.dIn))),
      alpha: config.alpha,
      clusters,
    };
    await writeFileAtomic(path.join(this.folder, 'index.json'), JSON.stringify(index, null, 1));
  }

  /** The latest export's index, or why there is none. */
  async index(): Promise<{ ok: true; index: AdapterIndex } | { ok: false; reason: string }> {
    await this.pending;
    if (this.unavailable !== null) return { ok: false, reason: this.unavailable };
    let text: string;
    try {
      text = await readFile(path.join(this.folder, 'index.json'), 'utf8');
    } catch {
      return { ok: false, reason: `federation "${this.federation.id}" has no aggregated round yet` };
    }
    const parsed = indexSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return { ok: false, reason: 'the adapter index on disk is malformed' };
    return { ok: true, index: parsed.data };
  }

  /** One file of a cluster's adapter (null: no such cluster in the latest export). */
  async file(cluster: number, name: AdapterFileName): Promise<Uint8Array | null> {
    const index = await this.index();
    if (!index.ok || !index.index.clusters.some((c) => c.cluster === cluster)) return null;
    return readFile(path.join(this.folder, `cluster-${cluster}`, name));
  }
}
