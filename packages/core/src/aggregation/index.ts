export {
  aggregateClusters,
  ClusterAggregator,
  type ClusterAggregate,
  type ClusterAggregatorOptions,
  type RowNormalizer,
} from './cluster-aggregator';
export { DenseAggregator, weightedMeanTensors } from './dense-aggregator';
export { averageHeads, HeadAggregator } from './head-aggregator';
export { validateMemberships } from './validate';
