import seedrandom from 'seedrandom';
import type { Encoder } from '../encoders/encoder';
import type { AdapterFactors, LoraAdapters } from '../lora/lora';
import { validateLabelledTexts, type LabelledTexts } from './data';
import type { ClassificationHead, HeadParams } from './head';
import { TrainSession } from './session';
import { learningRateAt, resolveTrainConfig, totalSteps, type TrainConfig } from './train-config';

export interface TrainResult {
  /**
   * mode 'lora': the factors to upload. With maskMode 'post' B is cut to the top ceil(budget * dOut) rows of the
   * trained update; with 'pre' it holds the pre-selected rows; with 'none' every row.
   */
  readonly factors?: AdapterFactors;
  /** mode 'full': trained minus starting value of every encoder weight (weight-store layout). */
  readonly fullDeltas?: Map<string, Float32Array>;
  readonly head: HeadParams;
  /** N_k, for sample-weighted aggregation. */
  readonly exampleCount: number;
  /** Mean batch loss of every step, in order. */
  readonly losses: number[];
  readonly steps: number;
}

/** Seeded Fisher-Yates permutation of [0, n). */
function permutation(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * One client's local training (FedHFT's inner problem): AdamW on shuffled mini-batches, the learning rate decayed
 * per round and linearly to 0 within the round. The encoder's frozen weights are left as they were.
 */
export async function trainLocal(
  encoder: Encoder,
  head: ClassificationHead,
  data: LabelledTexts,
  config: TrainConfig,
  lora?: LoraAdapters,
): Promise<TrainResult> {
  const resolved = resolveTrainConfig(config);
  validateLabelledTexts(data, head.numClasses);
  const exampleCount = data.texts.length;
  const steps = totalSteps(resolved, exampleCount);
  const random = seedrandom(`train:${resolved.seed}:${resolved.round}`);
  const session = new TrainSession(encoder, head, resolved, lora);
  const losses: number[] = [];
  try {
    let order: number[] = [];
    let position = exampleCount; // forces a shuffle before the first batch
    let epoch = -1;
    for (let step = 0; step < steps; step++) {
      if (position >= exampleCount) {
        order = permutation(exampleCount, random);
        position = 0;
        epoch++;
      }
      // The last batch of an epoch may be smaller: every example is seen once per epoch.
      const indices = order.slice(position, position + resolved.batchSize);
      position += resolved.batchSize;
      const learningRate = learningRateAt(resolved, step, steps);
      const loss = await session.step(
        indices.map((i) => data.texts[i]!),
        indices.map((i) => data.labels[i]!),
        learningRate,
      );
      losses.push(loss);
      resolved.onStep?.({ step, totalSteps: steps, epoch, loss, learningRate });
    }
    // The exports below read synchronously. On webgpu tfjs does a synchronous read through an OffscreenCanvas,
    // which in a Web Worker destroys the device (Chromium 156, SwiftShader); an asynchronous read caches the
    // values on the CPU, so read the trained values that way first.
    await Promise.all([...(lora?.trainableVariables() ?? []), ...head.variables()].map((v) => v.data()));
    let factors: AdapterFactors | undefined;
    if (lora) {
      const { maskMode, budget } = lora.config;
      factors = lora.exportFactors(maskMode === 'post' ? { rows: lora.postMaskRows(budget) } : {});
    }
    return {
      ...(factors ? { factors } : {}),
      ...(resolved.mode === 'full' ? { fullDeltas: session.fullDeltas() } : {}),
      head: head.exportParams(),
      exampleCount,
      losses,
      steps,
    };
  } finally {
    session.dispose();
  }
}
