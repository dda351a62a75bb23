export * from './client-runtime';
