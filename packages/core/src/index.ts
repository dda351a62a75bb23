export * from './masks';
export * from './metrics';
