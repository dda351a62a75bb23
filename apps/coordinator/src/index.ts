export * from './simulate/index';
export * from './server/index';
