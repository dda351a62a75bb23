export { lowRankProduct, validateFactoredMatrix, type FactoredMatrix } from './low-rank';
export { exactTruncatedSvd, randomizedSvd, type RandomizedSvdOptions, type TruncatedSvd } from './svd';
