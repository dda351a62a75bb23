import type { NamedArray } from '../../models/tfjs-weights';

/** Architecture of USE Lite, as read from its graph (verified against the graph's constants at load time). */
export const USE_LITE = {
  vocabRows: 8002,
  embeddingDim: 256,
  maxSeqLen: 128,
  hidden: 512,
  ffnHidden: 1536,
  layers: [
    { width: 256, heads: 4 },
    { width: 512, heads: 4 },
  ],
  layerNormEpsilon: 1e-6,
  paddingBias: -1e9,
  l2Epsilon: 1e-12,
} as const;

const K = 'module_apply_default/Encoder_en/KonaTransformer/Encode/';
const KERNEL = 'module/Encoder_en/KonaTransformer/Encode/';

/** Graph weight name -> our name, one entry per weight we read. Kernels are reshaped to [dIn, dOut]. */
function graphNames(layer: number): Record<string, string> {
  const enc = `${K}Layer_${layer}/TransformerLayer/`;
  const stack = `${K}TransformerStack/Layer_${layer}/TransformerLayer/`;
  const p = `layers.${layer}.`;
  const names: Record<string, string> = {
    [`${enc}layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`]: `${p}attention.norm.scale`,
    [`${enc}layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`]: `${p}attention.norm.bias`,
    [`${KERNEL}Layer_${layer}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`]: `${p}attention.qkv.kernel`,
    [`${enc}MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`]: `${p}attention.qkv.bias`,
    [`${KERNEL}Layer_${layer}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`]: `${p}attention.output.kernel`,
    [`${enc}MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`]: `${p}attention.output.bias`,
    [`${enc}FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat`]: `${p}ffn.norm.scale`,
    [`${enc}FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat`]: `${p}ffn.norm.bias`,
    [`${stack}FFN/conv1/Tensordot/Reshape_1`]: `${p}ffn.in.kernel`,
    [`${enc}FFN/conv1/bias/ConcatPartitions/concat`]: `${p}ffn.in.bias`,
    [`${stack}FFN/conv2/Tensordot/Reshape_1`]: `${p}ffn.out.kernel`,
    [`${enc}FFN/conv2/bias/ConcatPartitions/concat`]: `${p}ffn.out.bias`,
  };
  if (layer === 0) {
    // Layer 0 widens 256 -> 512, so its residual goes through a dense projection.
    names[`${enc}dense/kernel/ConcatPartitions/concat`] = `${p}residual.kernel`;
    names[`${enc}dense/bias/ConcatPartitions/concat`] = `${p}residual.bias`;
  }
  return names;
}

const TOP_LEVEL: Record<string, string> = {
  'module/Embeddings_en': 'embeddings',
  [`${K}TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`]: 'timing.invTimescales',
  'module/Encoder_en/hidden_layers/tanh_layer_0/weights': 'pooler.kernel',
  'module/Encoder_en/hidden_layers/tanh_layer_0/bias': 'pooler.bias',
};

/** Graph constants our rebuild hard-codes; checked so a different export fails loudly instead of drifting. */
const CONSTANTS: Array<[string, number]> = [
  [`${K}TransformerStack/Layer_0/TransformerLayer/MultiheadAttention/mul/y`, 1 / Math.sqrt(64)],
  [`${K}TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/mul/y`, 1 / Math.sqrt(128)],
  [
    `${K}TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`,
    USE_LITE.layerNormEpsilon,
  ],
  [
    `${K}TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y`,
    USE_LITE.paddingBias,
  ],
  ['module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y', USE_LITE.maxSeqLen],
  ['module_apply_default/Encoder_en/KonaTransformer/Encode/SparseToDense/default_value', -1],
  ['module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y', USE_LITE.l2Epsilon],
];

function expectShape(name: string, array: NamedArray, shape: readonly number[]): void {
  const got = array.shape.filter((d, i) => !(d === 1 && i < array.shape.length - shape.length));
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    throw new Error(`USE Lite weight ${name} has shape [${array.shape}], expected [${shape}]`);
  }
}

/** Expected shape of each of our weights ([dIn, dOut] for kernels). */
function expectedShapes(): Record<string, readonly number[]> {
  const { embeddingDim, hidden, ffnHidden, vocabRows } = USE_LITE;
  const shapes: Record<string, readonly number[]> = {
    embeddings: [vocabRows, embeddingDim],
    'timing.invTimescales': [embeddingDim / 2],
    'pooler.kernel': [hidden, hidden],
    'pooler.bias': [hidden],
  };
  USE_LITE.layers.forEach(({ width }, layer) => {
    const p = `layers.${layer}.`;
    Object.assign(shapes, {
      [`${p}attention.norm.scale`]: [width],
      [`${p}attention.norm.bias`]: [width],
      [`${p}attention.qkv.kernel`]: [width, 3 * width],
      [`${p}attention.qkv.bias`]: [3 * width],
      [`${p}attention.output.kernel`]: [width, hidden],
      [`${p}attention.output.bias`]: [hidden],
      [`${p}ffn.norm.scale`]: [hidden],
      [`${p}ffn.norm.bias`]: [hidden],
      [`${p}ffn.in.kernel`]: [hidden, ffnHidden],
      [`${p}ffn.in.bias`]: [ffnHidden],
      [`${p}ffn.out.kernel`]: [ffnHidden, hidden],
      [`${p}ffn.out.bias`]: [hidden],
    });
    if (layer === 0)
      Object.assign(shapes, { [`${p}residual.kernel`]: [width, hidden], [`${p}residual.bias`]: [hidden] });
  });
  return shapes;
}

/**
 * Maps the graph model's weights to our names and checks every shape and hard-coded constant. The fused qkv
 * kernel stays fused here; the encoder splits it into query, key and value.
 */
export function mapUseLiteWeights(graph: Map<string, NamedArray>): Map<string, NamedArray> {
  const mapping: Record<string, string> = { ...TOP_LEVEL, ...graphNames(0), ...graphNames(1) };
  const shapes = expectedShapes();
  const out = new Map<string, NamedArray>();
  for (const [graphName, ours] of Object.entries(mapping)) {
    const array = graph.get(graphName);
    if (!array) throw new Error(`USE Lite model is missing weight ${graphName} (our ${ours})`);
    const shape = shapes[ours];
    if (!shape) throw new Error(`internal: no expected shape for ${ours}`);
    expectShape(graphName, array, shape);
    out.set(ours, { shape, data: array.data });
  }
  for (const [graphName, expected] of CONSTANTS) {
    const value = graph.get(graphName)?.data[0];
    if (value === undefined || Math.abs(value - expected) > 1e-6 * Math.max(1, Math.abs(expected))) {
      throw new Error(`USE Lite constant ${graphName} is ${value}, our rebuild assumes ${expected}`);
    }
  }
  return out;
}
