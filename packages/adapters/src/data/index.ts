// Browser-safe dataset code: the dataset type, seeded sampling and file parsing.
export * from './labelled-texts';
export * from './parse';
