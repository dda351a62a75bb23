import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LoraAdapters } from '../src/lora/lora';
import { evaluate } from '../src/train/evaluate';
import { ClassificationHead } from '../src/train/head';
import { TrainSession } from '../src/train/session';
import type { StepInfo, TrainConfig } from '../src/train/train-config';
import { trainLocal } from '../src/train/trainer';
import { TinyEncoder } from './fixtures/tiny-encoder';
import { useTestBackend } from './helpers/backend';

const POSITIVE = ['good', 'great', 'excellent', 'happy', 'love', 'wonderful'];
const NEGATIVE = ['bad', 'awful', 'terrible', 'sad', 'hate', 'boring'];
const FILLER = ['the', 'movie', 'was', 'a', 'plot', 'film', 'story', 'really', 'and', 'acting'];

/** A small sentiment set: three filler words and one polarity word in random order; label 1 = positive. */
function sentimentSet(n: number, seed: number): { texts: string[]; labels: number[] } {
  const random = seedrandom(`sentiment:${seed}`);
  const pick = (words: readonly string[]) => words[Math.floor(random() * words.length)]!;
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const words = [pick(FILLER), pick(FILLER), pick(FILLER), pick(label ? POSITIVE : NEGATIVE)];
    words.sort(() => random() - 0.5);
    texts.push(words.join(' '));
    labels.push(label);
  }
  return { texts, labels };
}

const DATA = sentimentSet(40, 1);
const BASE: TrainConfig = { mode: 'lora', epochs: 2, batchSize: 8, learningRate: 0.01, seed: 1 };

const disposables: { dispose(): void }[] = [];
function track<T extends { dispose(): void }>(value: T): T {
  disposables.push(value);
  return value;
}

function setup(loraConfig: ConstructorParameters<typeof LoraAdapters>[1] = { rank: 4, seed: 1 }) {
  const encoder = track(new TinyEncoder());
  const head = track(new ClassificationHead(encoder.embeddingSize, 2, { seed: 1 }));
  const lora = track(new LoraAdapters(encoder.adaptableWeights(), loraConfig));
  return { encoder, head, lora };
}

function snapshot(variables: readonly tf.Tensor[]): Float32Array[] {
  return variables.map((v) => new Float32Array(v.dataSync()));
}

function encoderSnapshot(encoder: TinyEncoder): Float32Array[] {
  return snapshot(encoder.weights.names().map((n) => encoder.weights.get(n)));
}

beforeAll(useTestBackend);
afterEach(() => {
  for (const d of disposables.splice(0)) d.dispose();
});

describe('trainLocal', () => {
  it('fits a small separable set to >= 95% train accuracy with LoRA', async () => {
    const { encoder, head, lora } = setup({ rank: 4, alpha: 8, seed: 1 });
    const result = await trainLocal(encoder, head, DATA, { ...BASE, epochs: 30, learningRate: 0.02 }, lora);
    const metrics = await evaluate(encoder, head, DATA, { batchSize: 16, lora });
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(metrics.macroF1).toBeGreaterThanOrEqual(0.95);
    expect(metrics.exampleCount).toBe(40);
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]! / 2);
    expect(metrics.loss).toBeLessThan(result.losses[0]!);
    // The adapters themselves moved (B starts at zero).
    expect(result.factors!.get('layers.0.attention.value')!.B.some((v) => v !== 0)).toBe(true);
  });

  it('is deterministic for a seed and depends on it', async () => {
    const runOnce = async (seed: number) => {
      const { encoder, head, lora } = setup({ rank: 4, seed: 2, dropout: 0.1 });
      return trainLocal(encoder, head, DATA, { ...BASE, seed }, lora);
    };
    const first = await runOnce(3);
    const second = await runOnce(3);
    expect(second.losses).toEqual(first.losses);
    expect(second.factors).toEqual(first.factors);
    expect(second.head).toEqual(first.head);
    expect((await runOnce(4)).losses).not.toEqual(first.losses);
  });

  it('counts steps by epochs and maxSteps and decays the learning rate per round and linearly', async () => {
    const { encoder, head, lora } = setup();
    const infos: StepInfo[] = [];
    const config: TrainConfig = { ...BASE, epochs: 2, batchSize: 16, round: 2, onStep: (i) => infos.push(i) };
    const result = await trainLocal(encoder, head, DATA, config, lora);
    expect(result.steps).toBe(6); // 2 epochs x ceil(40 / 16)
    expect(result.losses).toHaveLength(6);
    expect(result.exampleCount).toBe(40);
    expect(infos.map((i) => i.epoch)).toEqual([0, 0, 0, 1, 1, 1]);
    const peak = 0.01 * 0.9 ** 2;
    infos.forEach((info, step) => expect(info.learningRate).toBeCloseTo((peak * (6 - step)) / 6, 12));

    const capped = await trainLocal(encoder, head, DATA, { ...BASE, epochs: 5, maxSteps: 4 }, lora);
    expect(capped.steps).toBe(4);
    const onlySteps = await trainLocal(
      encoder,
      head,
      DATA,
      { ...BASE, epochs: undefined, maxSteps: 7 },
      lora,
    );
    expect(onlySteps.steps).toBe(7); // crosses an epoch boundary (5 batches of 8 per epoch)
  });

  it("mode 'lora' trains the adapters and the head, never the frozen encoder weights", async () => {
    const { encoder, head, lora } = setup();
    const frozen = encoderSnapshot(encoder);
    const adapters = snapshot(lora.trainableVariables());
    const headBefore = snapshot(head.variables());
    await trainLocal(encoder, head, DATA, BASE, lora);
    expect(encoderSnapshot(encoder)).toEqual(frozen);
    snapshot(lora.trainableVariables()).forEach((v, i) => expect(v).not.toEqual(adapters[i]));
    snapshot(head.variables()).forEach((v, i) => expect(v).not.toEqual(headBefore[i]));
  });

  it("mode 'probe' trains only the head", async () => {
    const { encoder, head } = setup();
    const frozen = encoderSnapshot(encoder);
    const headBefore = snapshot(head.variables());
    const result = await trainLocal(encoder, head, DATA, { ...BASE, mode: 'probe' });
    expect(result.factors).toBeUndefined();
    expect(result.fullDeltas).toBeUndefined();
    expect(encoderSnapshot(encoder)).toEqual(frozen);
    snapshot(head.variables()).forEach((v, i) => expect(v).not.toEqual(headBefore[i]));
    expect(result.head.kernel).toEqual(head.exportParams().kernel);
  });

  it("mode 'full' trains every encoder weight, returns the deltas and restores the frozen weights", async () => {
    const { encoder, head } = setup();
    const frozen = encoderSnapshot(encoder);
    const batch = encoder.tokenize(DATA.texts.slice(0, 4));
    const before = tf.tidy(() => encoder.embed(batch).arraySync());
    const result = await trainLocal(encoder, head, DATA, { ...BASE, mode: 'full' });
    expect([...result.fullDeltas!.keys()]).toEqual(encoder.weights.names());
    for (const name of encoder.weights.names()) {
      const delta = result.fullDeltas!.get(name)!;
      expect(delta).toHaveLength(encoder.weights.get(name).size);
      expect(delta.some((v) => v !== 0)).toBe(true);
    }
    expect(encoder.weights.names().some((n) => encoder.weights.get(n) instanceof tf.Variable)).toBe(false);
    expect(encoderSnapshot(encoder)).toEqual(frozen);
    expect(tf.tidy(() => encoder.embed(batch).arraySync())).toEqual(before);
  });

  it("with maskMode 'post' uploads the top ceil(budget * dOut) rows of the trained update", async () => {
    const { encoder, head, lora } = setup({ rank: 4, maskMode: 'post', budget: 0.25, seed: 1 });
    const result = await trainLocal(encoder, head, DATA, BASE, lora);
    const expected = lora.postMaskRows(0.25);
    for (const [name, factors] of result.factors!) {
      expect(factors.rows).toEqual(expected.get(name));
      expect(factors.B).toHaveLength(4 * 4);
    }
  });

  it("with maskMode 'pre' trains only the kept rows: optimizer state shrinks with the budget", async () => {
    const full = setup({ rank: 4 });
    const pre = setup({ rank: 4, maskMode: 'pre', budget: 0.25 });
    const sessionFull = new TrainSession(full.encoder, full.head, { mode: 'lora' }, full.lora);
    const sessionPre = new TrainSession(pre.encoder, pre.head, { mode: 'lora' }, pre.lora);
    const headBytes = 2 * 4 * (16 * 2 + 2);
    // Per target: A [4, 16] and B [16 or 4, 4], two moments each.
    expect(sessionFull.optimizer.stateBytes()).toBe(headBytes + 2 * 2 * 4 * (64 + 64));
    expect(sessionPre.optimizer.stateBytes()).toBe(headBytes + 2 * 2 * 4 * (64 + 16));
    sessionFull.dispose();
    sessionPre.dispose();
    const result = await trainLocal(pre.encoder, pre.head, DATA, BASE, pre.lora);
    for (const [name, factors] of result.factors!) expect(factors.rows).toEqual(pre.lora.rows(name));
  });

  it('leaks no tensors over train + evaluate in every mode', async () => {
    const { encoder, head, lora } = setup();
    for (const mode of ['lora', 'probe', 'full'] as const) {
      const before = tf.memory().numTensors;
      await trainLocal(encoder, head, DATA, { ...BASE, mode }, mode === 'lora' ? lora : undefined);
      await evaluate(encoder, head, DATA, { batchSize: 16, lora: mode === 'lora' ? lora : undefined });
      expect(tf.memory().numTensors, mode).toBe(before);
    }
  });

  it('rejects bad configs and data with clear errors', async () => {
    const { encoder, head, lora } = setup();
    const bad = (config: object, message: RegExp, withLora: LoraAdapters | null = lora, data = DATA) =>
      expect(
        trainLocal(encoder, head, data, { ...BASE, ...config } as TrainConfig, withLora ?? undefined),
      ).rejects.toThrow(message);
    await bad({ mode: 'adapter' }, /train mode must be one of lora, full, probe/);
    await bad({ learningRate: undefined }, /learningRate must be a positive number/);
    await bad({ learningRate: -1 }, /learningRate must be a positive number/);
    await bad({ batchSize: 0 }, /batchSize must be a positive integer/);
    await bad({ epochs: 1.5 }, /epochs must be a positive integer/);
    await bad({ maxSteps: 0 }, /maxSteps must be a positive integer/);
    await bad({ round: -1 }, /round must be a non-negative integer/);
    await bad({ roundDecay: 0 }, /roundDecay must be in \(0, 1\]/);
    await bad({ clipNorm: 0 }, /clipNorm must be a positive number or null/);
    await bad({ batchsize: 8 }, /unknown train config option "batchsize"/);
    await bad({}, /mode 'lora' needs LoRA adapters/, null);
    await bad({ mode: 'probe' }, /LoRA adapters were given but mode is 'probe'/);
    await bad({}, /data has 2 texts but 1 labels/, lora, { texts: ['a', 'b'], labels: [0] });
    await bad({}, /data is empty/, lora, { texts: [], labels: [] });
    await bad({}, /data.labels\[1\] = 2 is not a class id in \[0, 2\)/, lora, {
      texts: ['a', 'b'],
      labels: [0, 2],
    });
    const wide = track(new ClassificationHead(8, 2));
    await expect(trainLocal(encoder, wide, DATA, BASE, lora)).rejects.toThrow(
      /head takes embeddings of size 8/,
    );
  });
});

describe('TrainSession', () => {
  it('runs single steps that lower the loss on a fixed batch', async () => {
    const { encoder, head, lora } = setup();
    const session = new TrainSession(encoder, head, { mode: 'lora', maxSeqLen: 16 }, lora);
    expect(session.trainableParameterCount()).toBe(lora.parameterCount() + 16 * 2 + 2);
    const texts = DATA.texts.slice(0, 8);
    const labels = DATA.labels.slice(0, 8);
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) losses.push(await session.step(texts, labels, 0.01));
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    session.dispose();
    await expect(session.step(texts, labels, 0.01)).rejects.toThrow(/disposed/);
  });
});

describe('ClassificationHead', () => {
  it('rescales a normalised embedding by sqrt(embeddingSize)', () => {
    const encoder = track(new TinyEncoder({ normalized: true }));
    const head = track(ClassificationHead.forEncoder(encoder, 3, 5));
    expect(head.inputScale).toBe(4);
    const logits = tf.tidy(() => head.apply(tf.ones([1, 16])).arraySync()[0]!);
    const { kernel } = head.exportParams();
    const expected = [0, 1, 2].map(
      (c) => 4 * Array.from({ length: 16 }, (_, i) => kernel[i * 3 + c]!).reduce((a, b) => a + b),
    );
    logits.forEach((v, c) => expect(v).toBeCloseTo(expected[c]!, 4));
    expect(track(ClassificationHead.forEncoder(track(new TinyEncoder()), 3)).inputScale).toBe(1);
  });

  it('exports, imports and validates its parameters', () => {
    const a = track(new ClassificationHead(4, 3, { seed: 1 }));
    const b = track(new ClassificationHead(4, 3, { seed: 2 }));
    expect(b.exportParams()).not.toEqual(a.exportParams());
    b.importParams(a.exportParams());
    expect(b.exportParams()).toEqual(a.exportParams());
    const params = a.exportParams();
    expect(() => b.importParams({ ...params, numClasses: 2 })).toThrow(
      /head params are \[4 x 2\], expected \[4 x 3\]/,
    );
    expect(() => b.importParams({ ...params, bias: new Float32Array(2) })).toThrow(/head bias has 2 values/);
    expect(() => b.importParams({ ...params, kernel: new Float32Array(12).fill(Infinity) })).toThrow(
      /non-finite/,
    );
    expect(() => new ClassificationHead(4, 1)).toThrow(/numClasses must be an integer >= 2/);
    expect(() => new ClassificationHead(0, 2)).toThrow(/embeddingSize must be a positive integer/);
  });
});
