/**
 * bench:memory — peak tfjs bytes of one training step: full fine-tuning (AdamW on every encoder weight) versus
 * LoRA at budgets 1, 0.5 and 0.25 (pre-masks, so the budget shrinks B, its gradient and its AdamW state), same
 * batch and sequence length, under each memory regime (plain backprop, activation checkpointing, micro-batching).
 * Writes docs/bench/memory.json and its section of docs/BENCHMARKS.md (`--encoder bert-mini`: a random-weight
 * encoder of bert-mini's shape from ../shared/tokenizers/bert-uncased, written to memory-bert-mini.json).
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import {
  activateBackend,
  ClassificationHead,
  installMemoryMeter,
  LoraAdapters,
  TrainSession,
} from '@fedhft/adapters';
import type { Encoder, TrainMode } from '@fedhft/adapters';
import { environment, markdownTable, MB, writeBenchJson, writeBenchSection } from './lib/report';
import { benchEncoder } from './lib/encoders';
import { fullLengthBatch } from './lib/synthetic';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    'seq-len': { type: 'string', default: '128' },
    backend: { type: 'string', default: 'wasm' },
    regimes: { type: 'string', default: 'plain,checkpoint,micro4+checkpoint,micro1+checkpoint' },
    encoder: { type: 'string', default: 'use-lite' },
  },
});
const { label: ENCODER_LABEL, load: loadEncoder, outputName: NAME } = benchEncoder(args.encoder!, 'memory');
const BATCH = Number(args.batch);
const SEQ_LEN = Number(args['seq-len']);

interface Regime {
  name: string;
  microBatchSize: number | null;
  checkpoint: boolean;
}
const REGIMES: Regime[] = args.regimes!.split(',').map((name) => {
  const micro = /micro(\d+)/.exec(name);
  return { name, microBatchSize: micro ? Number(micro[1]) : null, checkpoint: name.includes('checkpoint') };
});

interface Setup {
  label: string;
  mode: TrainMode;
  budget?: number;
}
const SETUPS: Setup[] = [
  { label: 'full', mode: 'full' },
  { label: 'lora-1', mode: 'lora', budget: 1 },
  { label: 'lora-0.5', mode: 'lora', budget: 0.5 },
  { label: 'lora-0.25', mode: 'lora', budget: 0.25 },
  { label: 'probe', mode: 'probe' },
];

async function measure(encoder: Encoder, setup: Setup, regime: Regime) {
  const head = ClassificationHead.forEncoder(encoder, 2, 1);
  const lora =
    setup.mode === 'lora'
      ? new LoraAdapters(encoder.adaptableWeights(), {
          seed: 1,
          maskMode: setup.budget === 1 ? 'none' : 'pre',
          budget: setup.budget,
        })
      : undefined;
  const session = new TrainSession(
    encoder,
    head,
    {
      mode: setup.mode,
      maxSeqLen: SEQ_LEN,
      microBatchSize: regime.microBatchSize,
      checkpoint: regime.checkpoint,
    },
    lora,
  );
  const { texts, labels } = fullLengthBatch(BATCH, SEQ_LEN);
  try {
    await session.step(texts, labels, 1e-5); // first step allocates the optimizer state
    const residentBytes = meter.liveBytes();
    meter.resetPeak();
    const started = performance.now();
    const profile = await tf.profile(() => session.step(texts, labels, 1e-5));
    const stepSeconds = (performance.now() - started) / 1000;
    const peakBytes = meter.peakBytes();
    const frozenBytes = 4 * encoder.weights.parameterCount();
    const trainableBytes = 4 * session.trainableParameterCount();
    const optimizerStateBytes = session.optimizer.stateBytes();
    return {
      budget: setup.budget ?? null,
      mode: setup.mode,
      peakBytes,
      residentBytes,
      // tfjs's own figure adds up tensor sizes, counting buffers shared by several tensors repeatedly.
      tfjsCountedPeakBytes: profile.peakBytes,
      frozenWeightBytes: frozenBytes,
      trainableParameters: session.trainableParameterCount(),
      trainableBytes,
      optimizerStateBytes,
      // What the step adds on top of what stays resident: activations, gradients, temporaries.
      stepTransientBytes: peakBytes - residentBytes,
      stepSeconds,
    };
  } finally {
    session.dispose();
    lora?.dispose();
    head.dispose();
  }
}

// Installed before any tensor exists, so it counts every buffer (see memory-meter.ts for why not tf.memory()).
const meter = installMemoryMeter();
const backend = await activateBackend([args.backend as 'wasm' | 'cpu']);
const encoder = await loadEncoder();
const regimes = [];
for (const regime of REGIMES) {
  const rows: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const setup of SETUPS) {
    process.stdout.write(`${regime.name.padEnd(20)} ${setup.label.padEnd(10)} `);
    rows[setup.label] = await measure(encoder, setup, regime);
    console.log(
      `peak ${MB(rows[setup.label]!.peakBytes)} MiB in ${rows[setup.label]!.stepSeconds.toFixed(1)} s`,
    );
  }
  const full = rows.full!;
  const lora = SETUPS.filter((s) => s.mode === 'lora').map((s) => ({
    ...rows[s.label]!,
    reductionVsFull: full.peakBytes / rows[s.label]!.peakBytes,
  }));
  regimes.push({ ...regime, full, lora, probe: rows.probe! });
}
encoder.dispose();

const primary = regimes[0]!;
const result = {
  environment: environment('bench:memory', backend),
  encoder: args.encoder,
  batch: BATCH,
  seqLen: SEQ_LEN,
  lora: primary.lora,
  full: primary.full,
  primaryRegime: primary.name,
  targetReductionAtQuarterBudget: 3,
  regimes,
};
const file = await writeBenchJson(NAME, result);

const table = markdownTable(
  [
    'regime',
    'setup',
    'peak MiB',
    'resident MiB',
    'step transient MiB',
    'trainable params',
    'optimizer MiB',
    'full / this',
  ],
  regimes.flatMap((r) =>
    [['full', r.full], ...r.lora.map((l) => [`LoRA budget ${l.budget}`, l] as const), ['probe', r.probe]].map(
      ([label, m]) => {
        const row = m as typeof r.full;
        return [
          r.name,
          label as string,
          MB(row.peakBytes),
          MB(row.residentBytes),
          MB(row.stepTransientBytes),
          row.trainableParameters.toLocaleString('en-US'),
          MB(row.optimizerStateBytes),
          (r.full.peakBytes / row.peakBytes).toFixed(2) + 'x',
        ];
      },
    ),
  ),
);
await writeBenchSection(
  NAME,
  `### Client memory per training step (\`${result.environment.command}\`)\n\n${ENCODER_LABEL}, batch ${BATCH}, every row ${SEQ_LEN} tokens, backend ${backend}, measured ${result.environment.date.slice(0, 10)}. Peak = most bytes of tensor data buffers alive at once during the second step (the first allocates the optimizer state), each buffer counted once (\`installMemoryMeter\`); resident = what stays alive between steps (weights, trainable copies, optimizer state).\n\n${table}`,
);
console.log(`wrote ${file}`);
