export * from './simulate/index';
export * from './server/index';
export * from './http/index';
