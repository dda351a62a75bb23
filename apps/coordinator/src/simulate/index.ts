export * from './config';
export * from './data';
export * from './encoders';
export * from './plot';
export * from './report';
export * from './run';
export * from './summary';
