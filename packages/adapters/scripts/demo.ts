/**
 * `npm run demo`: fine-tunes masked LoRA adapters inside USE Lite on the offline SpamAssassin corpus shipped by
 * npm, as one FedHFT client would, and reports held-out accuracy and the size of the update it would upload.
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
import type { LabelledDataset } from '@fedhft/adapters';
import { loadSpamAssassin, stepProgress, useLitePackageFiles } from '@fedhft/adapters/node';
import type { StepProgress } from '@fedhft/adapters/node';

const { values: args } = parseArgs({
  options: {
    examples: { type: 'string', default: '900' },
    budget: { type: 'string', default: '0.5' },
    epochs: { type: 'string', default: '2' },
    'learning-rate': { type: 'string', default: '0.003' },
  },
});

const backend = await activateBackend(['wasm', 'cpu'], (failed, reason) =>
  console.log(`backend ${failed} unavailable (${reason}), falling back`),
);
console.log(`tfjs backend: ${backend}`);
const corpus = await loadSpamAssassin({ maxLength: 600 });
const sample = subsample(corpus, Number(args.examples), 7);
const [train, test] = splitDataset(sample, [2 / 3, 1 / 3], 7) as [LabelledDataset, LabelledDataset];
console.log(
  `SpamAssassin: ${train.texts.length} training and ${test.texts.length} held-out e-mails (ham/spam)`,
);

const encoder = await loadUseLite(useLitePackageFiles());
const budget = Number(args.budget);
const lora = new LoraAdapters(encoder.adaptableWeights(), { maskMode: 'pre', budget, seed: 7 });
const head = ClassificationHead.forEncoder(encoder, 2, 7);
const before = await evaluate(encoder, head, test, { lora, maxSeqLen: 64 });

let bar: StepProgress | null = null;

const result = await trainLocal(
  encoder,
  head,
  train,
  {
    mode: 'lora',
    epochs: Number(args.epochs),
    batchSize: 16,
    learningRate: Number(args['learning-rate']),
    maxSeqLen: 64,
    seed: 7,
    onStep: ({ step, totalSteps, loss }) => {
      bar ??= stepProgress('training', totalSteps);
      bar.update(step + 1, loss);
    },
  },
  lora,
);
(bar as StepProgress | null)?.stop();
const after = await evaluate(encoder, head, test, { lora, maxSeqLen: 64 });

let uploadFloats = 0;
for (const f of result.factors!.values()) uploadFloats += f.A.length + f.B.length;
const headFloats = result.head.kernel.length + result.head.bias.length;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(
  `held-out accuracy ${pct(before.accuracy)} -> ${pct(after.accuracy)} (macro-F1 ${pct(after.macroF1)})`,
);
console.log(
  `update to upload at budget ${budget}: ${((4 * (uploadFloats + headFloats)) / 1024).toFixed(0)} KiB of fp32 ` +
    `(LoRA factors of ${result.factors!.size} weights + head) vs ${((4 * encoder.weights.parameterCount()) / 2 ** 20).toFixed(1)} MiB for the whole encoder`,
);
lora.dispose();
head.dispose();
encoder.dispose();
