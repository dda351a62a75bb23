export * from './simulate/index';
