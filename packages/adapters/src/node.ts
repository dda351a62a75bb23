// Node-only entry point (file system access); browser code imports '@fedhft/adapters' instead.
export { folderModelFiles, useLitePackageFiles, useLitePackageFolder } from './models/model-files-node';
export * from './data/node';
export { copyBertModelFiles, randomBertFromFolder } from './encoders/bert/node';
export { savePeftAdapter } from './models/peft-node';
export { stepProgress } from './cli/progress';
export type { StepProgress } from './cli/progress';
