import type { DenseTensor, HeadParams } from '../update';
import { DenseAggregator, type DensePartial } from './dense-aggregator';
import { validateHead } from './validate';

function headTensors(head: HeadParams): Map<string, DenseTensor> {
  return new Map([
    ['kernel', { shape: [head.embeddingSize, head.numClasses], data: head.kernel }],
    ['bias', { shape: [head.numClasses], data: head.bias }],
  ]);
}

export interface HeadPartial {
  readonly size: { readonly embeddingSize: number; readonly numClasses: number } | null;
  readonly mean: DensePartial;
}

/** Streaming weighted mean of classifier heads: H = sum_k w_k H_k / sum_k w_k. */
export class HeadAggregator {
  private readonly mean = new DenseAggregator();
  private size: { embeddingSize: number; numClasses: number } | undefined;

  add(head: HeadParams, weight: number): void {
    this.check(head, weight);
    this.size ??= { embeddingSize: head.embeddingSize, numClasses: head.numClasses };
    this.mean.add(headTensors(head), weight);
  }

  /** Throws unless `add(head, weight)` would be accepted; touches nothing. */
  check(head: HeadParams, weight: number): void {
    validateHead(head, 'head', this.size);
    this.mean.check(headTensors(head), weight);
  }

  get totalWeight(): number {
    return this.mean.totalWeight;
  }

  bufferFloats(): number {
    return this.mean.bufferFloats();
  }

  /** The running sums, for combining with another process's by merge(). */
  partial(): HeadPartial {
    return { size: this.size ?? null, mean: this.mean.partial() };
  }

  /** Adds another HeadAggregator's sums. */
  merge(partial: HeadPartial): void {
    if (partial.size !== null) {
      if (
        this.size &&
        (this.size.embeddingSize !== partial.size.embeddingSize ||
          this.size.numClasses !== partial.size.numClasses)
      ) {
        throw new Error(
          `head partial is ${partial.size.embeddingSize} x ${partial.size.numClasses}, expected ` +
            `${this.size.embeddingSize} x ${this.size.numClasses}`,
        );
      }
      this.size ??= { ...partial.size };
    }
    this.mean.merge(partial.mean);
  }

  /** The mean head, or null when nothing with positive weight was added. Single use. */
  finish(): HeadParams | null {
    const means = this.mean.finish();
    if (means === null || this.size === undefined) return null;
    return { ...this.size, kernel: means.get('kernel')!.data, bias: means.get('bias')!.data };
  }
}

/** One-shot weighted mean of heads. Throws when no head has positive weight. */
export function averageHeads(heads: readonly HeadParams[], weights: readonly number[]): HeadParams {
  if (heads.length !== weights.length) throw new Error(`${heads.length} heads but ${weights.length} weights`);
  const aggregator = new HeadAggregator();
  heads.forEach((head, k) => aggregator.add(head, weights[k]!));
  const mean = aggregator.finish();
  if (mean === null) throw new Error('averageHeads needs at least one head with positive weight');
  return mean;
}
