export { mixtureDelta, validateClusterDeltas, type ClusterDeltas } from './cluster-deltas';
export {
  exactClusterFactors,
  mixFactors,
  personalizedFactors,
  type FactorOptions,
  type PersonalizedFactors,
} from './factors';
export { mixtureHead } from './head';
