export { adjustedRandIndex } from './ari';
export { minCostAssignment } from './assignment';
export {
  bayesianInformationCriterion,
  chooseClusterCount,
  diagonalGmmParameterCount,
  type ClusterCountCandidate,
  type ClusterCountChoice,
} from './bic';
export { clientFeatures, FeatureExtractor, type ClientFeatureOptions, type FeatureSource } from './features';
export {
  fitGaussianMixture,
  hardLabels,
  mixtureResponsibilities,
  type GaussianMixture,
  type GaussianMixtureFit,
  type GaussianMixtureOptions,
} from './gmm';
export {
  MembershipUpdater,
  type MembershipParticipant,
  type MembershipRoundResult,
  type MembershipState,
  type MembershipUpdaterOptions,
} from './membership';
export { GaussianProjection, RankOneSketch } from './projection';
export { standardizeFeatures, type StandardizedFeatures } from './standardize';
