import type { AdaptableKind } from '../encoder';
import type { BertConfig } from './config';

/**
 * Where each of our weights lives in a Hugging Face checkpoint. Our names follow USE Lite's
 * (`layers.0.attention.query`, `layers.0.ffn.in`, `pooler`, ...); Hugging Face names modules by the PyTorch
 * module tree (`encoder.layer.0.attention.self.query`), which is also what PEFT's adapter names build on.
 */

/** A dense layer: our name (the kernel is `${ours}.kernel` [dIn, dOut], bias `${ours}.bias`). */
export interface LinearModule {
  readonly ours: string;
  /** PyTorch module path without the checkpoint prefix; tensors `${module}.weight` [dOut, dIn] and `.bias`. */
  readonly module: string;
  readonly kind: AdaptableKind;
  readonly dIn: number;
  readonly dOut: number;
}

/** A LayerNorm: ours `${ours}.scale` / `${ours}.bias`, theirs `${module}.weight` / `.bias` (or gamma / beta). */
export interface NormModule {
  readonly ours: string;
  readonly module: string;
}

/** An embedding table: ours `ours`, theirs `${module}.weight` [rows, hidden]. */
export interface EmbeddingModule {
  readonly ours: string;
  readonly module: string;
  readonly rows: number;
}

export interface BertLayout {
  readonly embeddings: readonly EmbeddingModule[];
  readonly norms: readonly NormModule[];
  /** In the encoder's order: per layer query, key, value, attention.output, ffn.in, ffn.out; then the pooler. */
  readonly linears: readonly LinearModule[];
  /** Prefixes a checkpoint may put before every name (BertModel saves none, BertFor* saves `bert.`). */
  readonly checkpointPrefixes: readonly string[];
  /**
   * PEFT `target_modules` entry that selects every layer's module of a kind and nothing else, by suffix match;
   * null when no suffix is unambiguous (BERT's FFN output `output.dense` also matches `attention.output.dense`).
   */
  readonly peftKindSuffix: Readonly<Partial<Record<AdaptableKind, string | null>>>;
}

export function bertLayout(config: BertConfig, withPooler: boolean): BertLayout {
  const { hiddenSize: h, intermediateSize: ffn, numLayers } = config;
  const linears: LinearModule[] = [];
  const norms: NormModule[] = [];
  const bert = config.family === 'bert';
  for (let i = 0; i < numLayers; i++) {
    const ours = `layers.${i}.`;
    const theirs = bert ? `encoder.layer.${i}.` : `transformer.layer.${i}.`;
    const attention = bert
      ? {
          query: `${theirs}attention.self.query`,
          key: `${theirs}attention.self.key`,
          value: `${theirs}attention.self.value`,
          output: `${theirs}attention.output.dense`,
          ffnIn: `${theirs}intermediate.dense`,
          ffnOut: `${theirs}output.dense`,
          attentionNorm: `${theirs}attention.output.LayerNorm`,
          ffnNorm: `${theirs}output.LayerNorm`,
        }
      : {
          query: `${theirs}attention.q_lin`,
          key: `${theirs}attention.k_lin`,
          value: `${theirs}attention.v_lin`,
          output: `${theirs}attention.out_lin`,
          ffnIn: `${theirs}ffn.lin1`,
          ffnOut: `${theirs}ffn.lin2`,
          attentionNorm: `${theirs}sa_layer_norm`,
          ffnNorm: `${theirs}output_layer_norm`,
        };
    linears.push(
      { ours: `${ours}attention.query`, module: attention.query, kind: 'query', dIn: h, dOut: h },
      { ours: `${ours}attention.key`, module: attention.key, kind: 'key', dIn: h, dOut: h },
      { ours: `${ours}attention.value`, module: attention.value, kind: 'value', dIn: h, dOut: h },
      {
        ours: `${ours}attention.output`,
        module: attention.output,
        kind: 'attention.output',
        dIn: h,
        dOut: h,
      },
      { ours: `${ours}ffn.in`, module: attention.ffnIn, kind: 'ffn.in', dIn: h, dOut: ffn },
      { ours: `${ours}ffn.out`, module: attention.ffnOut, kind: 'ffn.out', dIn: ffn, dOut: h },
    );
    norms.push(
      { ours: `${ours}attention.norm`, module: attention.attentionNorm },
      { ours: `${ours}ffn.norm`, module: attention.ffnNorm },
    );
  }
  if (withPooler) linears.push({ ours: 'pooler', module: 'pooler.dense', kind: 'pooler', dIn: h, dOut: h });
  const embeddings: EmbeddingModule[] = [
    { ours: 'embeddings.word', module: 'embeddings.word_embeddings', rows: config.vocabSize },
    { ours: 'embeddings.position', module: 'embeddings.position_embeddings', rows: config.maxPositions },
  ];
  if (config.typeVocabSize > 0) {
    embeddings.push({
      ours: 'embeddings.tokenType',
      module: 'embeddings.token_type_embeddings',
      rows: config.typeVocabSize,
    });
  }
  norms.unshift({ ours: 'embeddings.norm', module: 'embeddings.LayerNorm' });
  return {
    embeddings,
    norms,
    linears,
    checkpointPrefixes: bert ? ['', 'bert.'] : ['', 'distilbert.'],
    peftKindSuffix: bert
      ? {
          query: 'query',
          key: 'key',
          value: 'value',
          'attention.output': 'attention.output.dense',
          'ffn.in': 'intermediate.dense',
          'ffn.out': null,
          pooler: 'pooler.dense',
        }
      : {
          query: 'q_lin',
          key: 'k_lin',
          value: 'v_lin',
          'attention.output': 'out_lin',
          'ffn.in': 'lin1',
          'ffn.out': 'lin2',
        },
  };
}
