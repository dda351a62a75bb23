export * from './config';
export * from './clients';
export * from './coordinator';
export * from './federation';
export * from './http';
export * from './model';
export * from './refusals';
export * from './store';
