/**
 * bench:learn — centralized LoRA fine-tuning of USE Lite on SST-2 versus a linear probe (frozen encoder + head)
 * trained the same way (same data, epochs, batch, AdamW and schedule). Each method's learning rate is chosen on
 * a validation split carved from the training sample; the official dev set is only used for the final figure.
 * Writes docs/bench/learning.json and its section of docs/BENCHMARKS.md.
 */
import { parseArgs } from 'node:util';
import {
  activateBackend,
  ClassificationHead,
  evaluate,
  LoraAdapters,
  loadUseLite,
  splitDataset,
  subsample,
  trainLocal,
} from '@fedhft/adapters';
import type { Encoder, LabelledDataset, TrainMode } from '@fedhft/adapters';
import {
  DatasetUnavailableError,
  loadSharedDataset,
  resolveDataDir,
  stepProgress,
  useLitePackageFiles,
} from '@fedhft/adapters/node';
import { environment, markdownTable, writeBenchJson, writeBenchSection } from './lib/report';

const { values: args } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    train: { type: 'string', default: '4000' },
    epochs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '32' },
    'max-seq-len': { type: 'string', default: '64' },
    'lora-lrs': { type: 'string', default: '0.001,0.003' },
    'probe-lrs': { type: 'string', default: '0.003,0.01,0.03' },
    seed: { type: 'string', default: '1' },
  },
});
const lrs = (s: string) => s.split(',').map(Number);
const SEED = Number(args.seed);

const dataDir = resolveDataDir(args['data-dir']);
let sample: LabelledDataset;
let dev: LabelledDataset;
try {
  if (!dataDir) throw new DatasetUnavailableError('../shared/datasets', 'the data folder');
  sample = subsample(await loadSharedDataset('sst2', 'train', dataDir), Number(args.train), SEED);
  dev = await loadSharedDataset('sst2', 'dev', dataDir);
} catch (error) {
  if (!(error instanceof DatasetUnavailableError)) throw error;
  console.log(`SKIPPED bench:learn: SST-2 is not available (${error.message})`);
  process.exit(0);
}
const [train, validation] = splitDataset(sample, [0.9, 0.1], SEED) as [LabelledDataset, LabelledDataset];

const backend = await activateBackend(['wasm']);
const encoder = await loadUseLite(useLitePackageFiles());

async function run(encoderModel: Encoder, mode: TrainMode, learningRate: number) {
  const head = ClassificationHead.forEncoder(encoderModel, 2, SEED);
  const lora =
    mode === 'lora' ? new LoraAdapters(encoderModel.adaptableWeights(), { seed: SEED }) : undefined;
  const epochs = Number(args.epochs);
  const steps = epochs * Math.ceil(train.texts.length / Number(args.batch));
  const bar = stepProgress(`${mode} lr ${learningRate}`, steps);

  const started = performance.now();
  try {
    const result = await trainLocal(
      encoderModel,
      head,
      train,
      {
        mode,
        epochs,
        batchSize: Number(args.batch),
        learningRate,
        maxSeqLen: Number(args['max-seq-len']),
        seed: SEED,
        onStep: (info) => bar.update(info.step + 1, info.loss),
      },
      lora,
    );
    bar.stop();
    const options = { lora, maxSeqLen: Number(args['max-seq-len']) };
    const validationMetrics = await evaluate(encoderModel, head, validation, options);
    const devMetrics = await evaluate(encoderModel, head, dev, options);
    return {
      mode,
      learningRate,
      steps: result.steps,
      finalLoss: result.losses.at(-1)!,
      validationAccuracy: validationMetrics.accuracy,
      devAccuracy: devMetrics.accuracy,
      devMacroF1: devMetrics.macroF1,
      trainSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    bar.stop();
    lora?.dispose();
    head.dispose();
  }
}

const runs: Awaited<ReturnType<typeof run>>[] = [];
for (const lr of lrs(args['lora-lrs']!)) runs.push(await run(encoder, 'lora', lr));
for (const lr of lrs(args['probe-lrs']!)) runs.push(await run(encoder, 'probe', lr));
encoder.dispose();

const best = (mode: TrainMode) =>
  runs.filter((r) => r.mode === mode).reduce((a, b) => (b.validationAccuracy > a.validationAccuracy ? b : a));
const lora = best('lora');
const probe = best('probe');
const result = {
  environment: environment('bench:learn', backend),
  dataset: 'sst2',
  trainExamples: train.texts.length,
  validationExamples: validation.texts.length,
  devExamples: dev.texts.length,
  epochs: Number(args.epochs),
  batch: Number(args.batch),
  maxSeqLen: Number(args['max-seq-len']),
  lora: { devAccuracy: lora.devAccuracy, devMacroF1: lora.devMacroF1, learningRate: lora.learningRate },
  probe: { devAccuracy: probe.devAccuracy, devMacroF1: probe.devMacroF1, learningRate: probe.learningRate },
  loraBeatsProbe: lora.devAccuracy > probe.devAccuracy,
  runs,
};
const file = await writeBenchJson('learning', result);
const pct = (x: number) => (100 * x).toFixed(1);
await writeBenchSection(
  'learn',
  `### Centralized fine-tuning on SST-2 (\`${result.environment.command}\`)\n\nUSE Lite, ${train.texts.length} training sentences sampled from SST-2 train (seed ${SEED}), ${validation.texts.length} held out for choosing the learning rate, the official dev set (${dev.texts.length}) for the reported accuracy; ${args.epochs} epochs, batch ${args.batch}, max length ${args['max-seq-len']}, AdamW with linear decay; LoRA r=32, alpha=32, dropout 0.1 on query and value. Backend ${backend}, measured ${result.environment.date.slice(0, 10)}.\n\n${markdownTable(
    ['method', 'learning rate', 'validation acc %', 'dev acc %', 'dev macro-F1 %', 'final loss', 'train s'],
    runs.map((r) => [
      r === lora || r === probe ? `**${r.mode}** (chosen)` : r.mode,
      r.learningRate,
      pct(r.validationAccuracy),
      pct(r.devAccuracy),
      pct(r.devMacroF1),
      r.finalLoss.toFixed(3),
      r.trainSeconds.toFixed(0),
    ]),
  )}\n\nLoRA ${pct(lora.devAccuracy)}% vs probe ${pct(probe.devAccuracy)}% dev accuracy: LoRA ${result.loraBeatsProbe ? 'beats' : 'does NOT beat'} the probe.`,
);
console.log(`LoRA dev ${pct(lora.devAccuracy)}%, probe dev ${pct(probe.devAccuracy)}%; wrote ${file}`);
