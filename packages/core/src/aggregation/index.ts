export {
  aggregateClusters,
  ClusterAggregator,
  type ClusterAggregate,
  type ClusterAggregatorOptions,
  type ClusterPartial,
  type RowNormalizer,
} from './cluster-aggregator';
export { DenseAggregator, weightedMeanTensors, type DensePartial } from './dense-aggregator';
export { averageHeads, HeadAggregator, type HeadPartial } from './head-aggregator';
export { validateMemberships } from './validate';
