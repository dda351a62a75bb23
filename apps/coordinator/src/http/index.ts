export * from './adapters';
export * from './api';
export * from './dashboard-socket';
export * from './metrics';
export * from './pages';
export * from './respond';
export * from './static-files';
export * from './web';
