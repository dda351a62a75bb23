// Node-only dataset loaders (file system): the shared corpora and the SpamAssassin corpus shipped by npm.
export * from './shared-datasets';
export * from './spam-assassin';
