export { assignBudgets } from './budgets';
export { dirichletLabelPartition, type DirichletPartitionOptions } from './dirichlet';
export { groupPartition } from './group';
export { iidPartition } from './iid';
export { sampleDirichlet, sampleGamma, sampleLogGamma } from './sampling';
