export * from './masks';
export * from './metrics';
export * from './update';
export * from './random';
export * from './codec';
export * from './linalg/index';
export * from './aggregation/index';
export * from './mixture/index';
