/**
 * bench:speed — forward+backward throughput of one LoRA training step (and of full fine-tuning) on USE Lite per
 * tfjs backend available in Node, and its efficiency: (step FLOPs / the backend's measured matmul FLOP/s) /
 * step time, i.e. the fraction of the backend's own matmul speed the whole step achieves. Step FLOPs are
 * counted from the matrix multiplications the step actually ran (tf.profile), so the count includes backward
 * and recomputation. WebGPU is measured in the browser by the e2e run. Writes docs/bench/speed.json
 * (`--encoder bert-mini`: a random-weight encoder of bert-mini's shape from ../shared/tokenizers/bert-uncased,
 * written to speed-bert-mini.json).
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { activateBackend, ClassificationHead, LoraAdapters, TrainSession } from '@fedhft/adapters';
import type { BackendName, Encoder, TrainMode } from '@fedhft/adapters';
import { commandLine, environment, markdownTable, writeBenchJson, writeBenchSection } from './lib/report';
import { benchEncoder } from './lib/encoders';
import { fullLengthBatch } from './lib/synthetic';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    batch: { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    // The cpu backend is ~30x slower than wasm: a smaller batch there keeps the run short.
    'cpu-batch': { type: 'string', default: '4' },
    'cpu-seq-len': { type: 'string', default: '32' },
    encoder: { type: 'string', default: 'use-lite' },
  },
});
const { label: ENCODER_LABEL, load: loadEncoder, outputName: NAME } = benchEncoder(args.encoder!, 'speed');
const BATCH = Number(args.batch);
const SEQ_LEN = Number(args['seq-len']);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Matmul FLOP/s of the backend on a transformer-sized product ([1024 x 512] x [512 x 512]). */
async function matmulFlops(): Promise<number> {
  const a = tf.randomNormal([1024, 512]);
  const b = tf.randomNormal([512, 512]);
  const once = async () => {
    const started = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    return (performance.now() - started) / 1000;
  };
  for (let i = 0; i < 3; i++) await once();
  const times = [];
  for (let i = 0; i < 10; i++) times.push(await once());
  tf.dispose([a, b]);
  return (2 * 1024 * 512 * 512) / median(times);
}

/** FLOPs of the matrix products in a profiled run (2 m n k per product, batched). */
function matmulFlopsOf(
  kernels: { name: string; inputShapes: number[][]; outputShapes: number[][] }[],
): number {
  let flops = 0;
  for (const k of kernels) {
    if (k.name !== 'BatchMatMul' && k.name !== '_FusedMatMul') continue;
    const out = k.outputShapes[0]!;
    const a = k.inputShapes[0]!;
    const outSize = out.reduce((x, y) => x * y, 1);
    const n = out[out.length - 1]!;
    const inner = (a.reduce((x, y) => x * y, 1) * n) / outSize;
    flops += 2 * outSize * inner;
  }
  return flops;
}

interface StepShape {
  batch: number;
  seqLen: number;
  steps: number;
}

async function stepSpeed(encoder: Encoder, mode: TrainMode, flopsPerSecond: number, shape: StepShape) {
  const { batch, seqLen, steps } = shape;
  const head = ClassificationHead.forEncoder(encoder, 2, 1);
  const lora = mode === 'lora' ? new LoraAdapters(encoder.adaptableWeights(), { seed: 1 }) : undefined;
  const session = new TrainSession(encoder, head, { mode, maxSeqLen: seqLen }, lora);
  const { texts, labels } = fullLengthBatch(batch, seqLen);
  try {
    await session.step(texts, labels, 1e-5); // warm-up: kernels, optimizer state
    const profile = await tf.profile(() => session.step(texts, labels, 1e-5));
    const stepFlops = matmulFlopsOf(profile.kernels);
    const times = [];
    for (let i = 0; i < steps; i++) {
      const started = performance.now();
      await session.step(texts, labels, 1e-5);
      times.push((performance.now() - started) / 1000);
    }
    const seconds = median(times);
    const tokens = batch * encoder.tokenize(texts, seqLen).seqLen;
    return {
      mode,
      batch,
      seqLen,
      stepSeconds: seconds,
      tokensPerSecond: tokens / seconds,
      stepGflop: stepFlops / 1e9,
      efficiency: stepFlops / flopsPerSecond / seconds,
    };
  } finally {
    session.dispose();
    lora?.dispose();
    head.dispose();
  }
}

const results = [];
for (const name of args.backends!.split(',') as BackendName[]) {
  const backend = await activateBackend([name]);
  const encoder = await loadEncoder();
  const flops = await matmulFlops();
  const shape: StepShape =
    backend === 'cpu'
      ? { batch: Number(args['cpu-batch']), seqLen: Number(args['cpu-seq-len']), steps: 1 }
      : { batch: BATCH, seqLen: SEQ_LEN, steps: Number(args.steps) };
  const lora = await stepSpeed(encoder, 'lora', flops, shape);
  console.log(
    `${backend}: matmul ${(flops / 1e9).toFixed(1)} GFLOP/s, LoRA ${lora.tokensPerSecond.toFixed(0)} tok/s`,
  );
  const full = await stepSpeed(encoder, 'full', flops, shape);
  console.log(`${backend}: full fine-tuning ${full.tokensPerSecond.toFixed(0)} tok/s`);
  results.push({ backend, matmulGflops: flops / 1e9, steps: [lora, full] });
  encoder.dispose();
}

const file = await writeBenchJson(NAME, {
  environment: environment('bench:speed', args.backends!),
  encoder: args.encoder,
  batch: BATCH,
  seqLen: SEQ_LEN,
  backends: results,
});
await writeBenchSection(
  NAME,
  `### Training-step speed (\`${commandLine('bench:speed')}\`)\n\n${ENCODER_LABEL}, one forward+backward+AdamW step on a batch whose rows all have the given length, Node ${process.version}, measured ${new Date().toISOString().slice(0, 10)}. Efficiency = (step matmul FLOPs / the backend's measured matmul FLOP/s) / step time.\n\n${markdownTable(
    [
      'backend',
      'matmul GFLOP/s',
      'training',
      'batch x tokens',
      'step s',
      'tokens/s',
      'step GFLOP',
      'efficiency',
    ],
    results.flatMap((r) =>
      r.steps.map((s) => [
        r.backend,
        r.matmulGflops.toFixed(1),
        s.mode === 'lora' ? 'LoRA r=32 (q, v)' : 'full fine-tuning',
        `${s.batch} x ${s.seqLen}`,
        s.stepSeconds.toFixed(2),
        s.tokensPerSecond.toFixed(0),
        s.stepGflop.toFixed(1),
        `${(100 * s.efficiency).toFixed(0)}%`,
      ]),
    ),
  )}`,
);
console.log(`wrote ${file}`);
