/**
 * The architecture fields of a Hugging Face BERT-family config.json, validated. BertModel (`model_type` "bert":
 * bert-tiny/mini/base, all-MiniLM-L6-v2, ...) and DistilBertModel ("distilbert": the same post-LayerNorm block
 * without token types and pooler) are read into one shape.
 */

export type BertFamily = 'bert' | 'distilbert';
/** Activation of the FFN: exact (erf) GELU, its tanh approximation, or ReLU. */
export type BertActivation = 'gelu' | 'gelu_tanh' | 'relu';

export interface BertConfig {
  readonly family: BertFamily;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  /** Token-type (segment) vocabulary; 0 for DistilBERT (no token types). */
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly activation: BertActivation;
  readonly padTokenId: number;
}

const ACTIVATIONS: Readonly<Record<string, BertActivation>> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a parsed config.json; `origin` names the file in errors. */
export function parseBertConfig(raw: unknown, origin = 'config.json'): BertConfig {
  if (!isRecord(raw)) throw new Error(`${origin} is not a JSON object`);
  const modelType = raw.model_type ?? 'bert';
  if (modelType !== 'bert' && modelType !== 'distilbert') {
    throw new Error(
      `${origin}: model_type ${JSON.stringify(modelType)} is not supported (bert or distilbert)`,
    );
  }
  const int = (key: string, min: number, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) < min) {
      throw new Error(`${origin}: ${key} must be an integer >= ${min}, got ${JSON.stringify(raw[key])}`);
    }
    return value as number;
  };
  const activationOf = (key: string): BertActivation => {
    const name = raw[key] ?? 'gelu';
    const activation = typeof name === 'string' ? ACTIVATIONS[name] : undefined;
    if (!activation) {
      throw new Error(
        `${origin}: ${key} ${JSON.stringify(name)} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`,
      );
    }
    return activation;
  };
  let config: BertConfig;
  if (modelType === 'bert') {
    if ((raw.position_embedding_type ?? 'absolute') !== 'absolute') {
      throw new Error(
        `${origin}: position_embedding_type ${JSON.stringify(raw.position_embedding_type)} is not supported (absolute only)`,
      );
    }
    const eps = raw.layer_norm_eps ?? 1e-12;
    if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) {
      throw new Error(`${origin}: layer_norm_eps must be a number in (0, 1), got ${JSON.stringify(eps)}`);
    }
    config = {
      family: 'bert',
      vocabSize: int('vocab_size', 1),
      hiddenSize: int('hidden_size', 1),
      numLayers: int('num_hidden_layers', 1),
      numHeads: int('num_attention_heads', 1),
      intermediateSize: int('intermediate_size', 1),
      maxPositions: int('max_position_embeddings', 1),
      typeVocabSize: int('type_vocab_size', 1, 2),
      layerNormEps: eps,
      activation: activationOf('hidden_act'),
      padTokenId: int('pad_token_id', 0, 0),
    };
  } else {
    if (raw.sinusoidal_pos_embds === true) {
      throw new Error(`${origin}: sinusoidal_pos_embds is not supported (learned positions only)`);
    }
    config = {
      family: 'distilbert',
      vocabSize: int('vocab_size', 1),
      hiddenSize: int('dim', 1),
      numLayers: int('n_layers', 1),
      numHeads: int('n_heads', 1),
      intermediateSize: int('hidden_dim', 1),
      maxPositions: int('max_position_embeddings', 1),
      typeVocabSize: 0,
      // DistilBERT's LayerNorms are built with eps 1e-12 (not configurable).
      layerNormEps: 1e-12,
      activation: activationOf('activation'),
      padTokenId: int('pad_token_id', 0, 0),
    };
  }
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new Error(
      `${origin}: hidden size ${config.hiddenSize} is not a multiple of the ${config.numHeads} attention heads`,
    );
  }
  if (config.padTokenId >= config.vocabSize) {
    throw new Error(
      `${origin}: pad_token_id ${config.padTokenId} is outside the vocabulary (${config.vocabSize})`,
    );
  }
  return config;
}
