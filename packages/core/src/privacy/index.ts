export {
  blocksNorm,
  deltaRowsFromFactors,
  denseDeltaRows,
  HEAD_BIAS_BLOCK,
  HEAD_KERNEL_BLOCK,
  scaleBlocks,
  updateDeltaBlocks,
  validateDeltaRows,
  type DeltaBlocks,
  type DeltaRows,
} from './blocks';
export { clipBlocks, clipFactor, clipUpdate, updateNorm, type Clipped } from './clip';
export { addGaussianNoise, gaussianNoiseStd, secureRandom } from './noise';
export { GaussianSumMechanism, type BlockShape, type GaussianSumOptions } from './gaussian-sums';
export {
  DEFAULT_RDP_ORDERS,
  dpEpsilon,
  epsilonFromRdp,
  RdpAccountant,
  rdpSampledGaussian,
  type PrivacySpent,
} from './rdp';
export {
  normBoundedMean,
  trimmedMean,
  type AggregatedRows,
  type NormBoundedOptions,
  type NormBoundedResult,
} from './robust';
