import {
  ClassificationHead,
  LoraAdapters,
  TrainSession,
  type Encoder,
  type MemoryMeter,
} from '@fedhft/adapters';
import type { ProbeShape } from './messages';

/**
 * The capability probe: LoRA training steps on a synthetic batch whose every row fills `seqLen` tokens (the
 * worst case for activations), so the figure does not depend on the person's data. The first step compiles
 * kernels (shader compiles on WebGPU cost up to a second per shape) and is not timed.
 */

export interface ProbeResult {
  readonly tokensPerSecond: number;
  readonly stepSeconds: number;
  readonly seqLen: number;
  readonly peakBytes: number;
  readonly trainingBytes: number;
}

const WORDS = 'the film was a quiet and moving study of grief with superb acting but a slow plot'.split(' ');

/** `batch` texts of at least `seqLen` tokens each, with alternating labels. */
export function probeBatch(batch: number, seqLen: number): { texts: string[]; labels: number[] } {
  const texts = Array.from({ length: batch }, (_, i) =>
    Array.from({ length: seqLen * 2 }, (_, j) => WORDS[(i * 5 + j * 3) % WORDS.length]).join(' '),
  );
  return { texts, labels: texts.map((_, i) => i % 2) };
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export async function measureTraining(
  encoder: Encoder,
  meter: MemoryMeter,
  shape: ProbeShape,
): Promise<ProbeResult> {
  const base = meter.liveBytes();
  meter.resetPeak();
  const head = ClassificationHead.forEncoder(encoder, 2, 1);
  const lora = new LoraAdapters(encoder.adaptableWeights(), { rank: shape.rank, alpha: shape.rank, seed: 1 });
  const session = new TrainSession(encoder, head, { mode: 'lora', maxSeqLen: shape.seqLen }, lora);
  const { texts, labels } = probeBatch(shape.batch, shape.seqLen);
  try {
    // A tiny learning rate: the probe must not matter, only its cost.
    await session.step(texts, labels, 1e-6);
    const times: number[] = [];
    for (let i = 0; i < shape.steps; i++) {
      const started = performance.now();
      await session.step(texts, labels, 1e-6);
      times.push((performance.now() - started) / 1000);
    }
    const stepSeconds = median(times);
    const seqLen = encoder.tokenize(texts, shape.seqLen).seqLen;
    const peakBytes = meter.peakBytes();
    return {
      tokensPerSecond: (shape.batch * seqLen) / stepSeconds,
      stepSeconds,
      seqLen,
      peakBytes,
      trainingBytes: peakBytes - base,
    };
  } finally {
    session.dispose();
    lora.dispose();
    head.dispose();
  }
}

/**
 * Memory the client offers for training. Browsers do not say how much is free: Chromium gives
 * navigator.deviceMemory (GiB, rounded and capped at 8 to limit fingerprinting), and we offer half of it; without
 * it, the 2 GiB a 32-bit wasm heap can reliably grow to.
 */
export function memoryOffer(
  deviceMemoryGiB: number | undefined,
  maxBytes?: number,
): { bytes: number; source: string } {
  const offer =
    typeof deviceMemoryGiB === 'number' && Number.isFinite(deviceMemoryGiB) && deviceMemoryGiB > 0
      ? {
          bytes: Math.round((deviceMemoryGiB / 2) * 2 ** 30),
          source: `half of navigator.deviceMemory (${deviceMemoryGiB} GiB)`,
        }
      : { bytes: 2 ** 31, source: 'navigator.deviceMemory unavailable: assumed 2 GiB (wasm heap)' };
  // The person may give training less than that (the link's maxMemory): the coordinator then assigns a
  // smaller budget, i.e. fewer adapter rows to train and send.
  if (maxBytes !== undefined && maxBytes < offer.bytes) {
    return { bytes: maxBytes, source: `capped by the page's maxMemory (${offer.source})` };
  }
  return offer;
}
