export type * from './encoders/encoder';
