import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStrategy,
  decodeModelPayload,
  decodeUpdate,
  encodeModelPayload,
  encodeUpdate,
  keptRowCount,
  type ClientProfile,
  type StrategyName,
} from '@fedhft/core';
import {
  evaluateSharedModel,
  modelSchema,
  payloadDeltas,
  runClientRound,
  type ClientTrainConfig,
} from '../src/federated/client-runtime';
import { installMemoryMeter } from '../src/memory-meter';
import { TinyEncoder } from './fixtures/tiny-encoder';
import { useTestBackend } from './helpers/backend';

const POSITIVE = ['good', 'great', 'excellent', 'happy', 'love', 'wonderful'];
const NEGATIVE = ['bad', 'awful', 'terrible', 'sad', 'hate', 'boring'];
const FILLER = ['the', 'movie', 'was', 'a', 'plot', 'film', 'story', 'really'];

function sentimentSet(n: number, seed: number): { texts: string[]; labels: number[] } {
  const random = seedrandom(`federated-sentiment:${seed}`);
  const pick = (words: readonly string[]) => words[Math.floor(random() * words.length)]!;
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    texts.push([pick(FILLER), pick(label ? POSITIVE : NEGATIVE), pick(FILLER)].join(' '));
    labels.push(label);
  }
  return { texts, labels };
}

const TRAIN = sentimentSet(16, 1);
const HELD_OUT = sentimentSet(8, 2);
const CONFIG: ClientTrainConfig = { epochs: 1, batchSize: 8, learningRate: 0.01, maxSeqLen: 16 };

let encoder: TinyEncoder;

function pretrained(): Float32Array[] {
  return encoder.weights.names().map((name) => new Float32Array(encoder.weights.get(name).dataSync()));
}

/** Two rounds of one strategy for two clients through the codec; checks leaks, unmerging and acceptance. */
async function twoRounds(name: StrategyName, options: Record<string, unknown> = {}) {
  const schema = modelSchema(encoder, { numClasses: 2, rank: 4, alpha: 8, targets: ['query', 'value'] });
  const strategy = createStrategy(name, schema, options as never);
  const clients: ClientProfile[] = [
    { clientId: 'a', budget: 0.5, exampleCount: TRAIN.texts.length },
    { clientId: 'b', budget: 1, exampleCount: TRAIN.texts.length },
  ];
  const before = pretrained();
  const tensors = tf.memory().numTensors;
  const results = [];
  for (const round of [0, 1]) {
    for (const client of clients) {
      const offer = strategy.offer(client, round);
      if (offer.kind !== 'train') throw new Error(`unexpected skip: ${offer.reason}`);
      const bytes = encodeModelPayload(offer.payload, { precision: 'fp32' });
      const payload = decodeModelPayload(bytes, { maxBytes: bytes.length });
      const result = await runClientRound(
        encoder,
        { payload, plan: offer.plan },
        TRAIN,
        CONFIG,
        { clientId: client.clientId, round, seed: 3 },
        { heldOut: HELD_OUT, meter: installMemoryMeter() },
      );
      const upload = encodeUpdate(result.update, { precision: 'fp32' });
      strategy.receive(decodeUpdate(upload, { maxBytes: upload.length }), client);
      results.push({ result, plan: offer.plan, payload });
    }
    strategy.finishRound(round);
  }
  expect(tf.memory().numTensors, `${name} leaks tensors`).toBe(tensors);
  pretrained().forEach((values, i) => expect(values, `${name} left a delta merged`).toEqual(before[i]));
  return { results, strategy, schema };
}

beforeAll(async () => {
  await useTestBackend();
  encoder = new TinyEncoder({ seed: 5 });
});
afterAll(() => encoder.dispose());

describe('runClientRound', () => {
  it('FedHFT with pre-masks trains exactly the offered rows and evaluates on the held-out split', async () => {
    const { results } = await twoRounds('fedhft', { clusters: 2, warmupRounds: 1 });
    for (const { result, plan, payload } of results) {
      expect(plan.maskMode).toBe('pre');
      for (const [name, factors] of result.update.adapters) {
        expect(factors.rows).toEqual(payload.preMasks.get(name)!.rows);
        expect(factors.rows.length).toBe(keptRowCount(16, plan.budget));
      }
      expect(result.update.exampleCount).toBe(TRAIN.texts.length);
      expect(result.evaluation!.count).toBe(HELD_OUT.texts.length);
      expect(result.evaluation!.accuracy).toBeGreaterThanOrEqual(0);
      expect(result.losses.length).toBe(result.steps);
      expect(result.peakBytes!).toBeGreaterThan(result.baseBytes!);
    }
    // Round 1 starts from a non-zero mixture: the client merged it (its payload is not empty).
    const late = results[2]!.payload;
    expect([...payloadDeltas(late).values()].some((d) => d.some((v) => v !== 0))).toBe(true);
  });

  it('FedHFT with post-masks and exact downloads sends at most the budget of rows', async () => {
    const { results } = await twoRounds('fedhft', { clusters: 2, download: 'exact', maskTiming: 'post' });
    for (const { result, plan } of results) {
      for (const factors of result.update.adapters.values())
        expect(factors.rows.length).toBe(keptRowCount(16, plan.budget));
    }
  });

  it('continue strategies start from the offered factors at the plan rank and scale', async () => {
    for (const name of ['fedavg-lora', 'hetlora', 'local-only'] as const) {
      const { results } = await twoRounds(name);
      for (const { result, plan } of results) {
        for (const factors of result.update.adapters.values()) {
          expect(factors.rank).toBe(plan.rank);
          expect(factors.scale).toBeCloseTo(plan.scale!, 6);
          expect(factors.rows.length).toBe(16);
        }
      }
    }
  });

  it('FLoRA merges the stacked modules and trains a fresh adapter of the client rank', async () => {
    const { results } = await twoRounds('flora');
    expect(results.map((r) => r.plan.rank)).toEqual([2, 4, 2, 4]);
  });

  it('full fine-tuning uploads every float encoder weight and merges the global delta', async () => {
    const { results, schema } = await twoRounds('fedavg-full');
    for (const { result } of results) {
      expect([...result.update.dense.keys()].sort()).toEqual(schema.dense.map((w) => w.name).sort());
      expect(result.update.adapters.size).toBe(0);
      expect(result.evaluation!.count).toBe(HELD_OUT.texts.length);
    }
  });

  it('evaluates a shared model and leaves the encoder unmerged', async () => {
    const { strategy } = await twoRounds('fedavg-lora');
    const offer = strategy.offer({ clientId: 'a', budget: 1, exampleCount: 16 }, 2);
    if (offer.kind !== 'train') throw new Error('skip');
    const before = pretrained();
    const model = {
      deltas: payloadDeltas(offer.payload),
      dense: new Map<string, Float32Array>(),
      head: offer.payload.head,
    };
    const result = await evaluateSharedModel(encoder, model, HELD_OUT);
    expect(result.count).toBe(HELD_OUT.texts.length);
    pretrained().forEach((values, i) => expect(values).toEqual(before[i]));
  });

  it('refuses a LoRA plan without a scale, leaking nothing', async () => {
    const schema = modelSchema(encoder, { numClasses: 2, rank: 4, alpha: 8, targets: ['query'] });
    const offer = createStrategy('fedavg-lora', schema).offer(
      { clientId: 'a', budget: 1, exampleCount: 0 },
      0,
    );
    if (offer.kind !== 'train') throw new Error('skip');
    const tensors = tf.memory().numTensors;
    const plan = { ...offer.plan, scale: undefined };
    await expect(
      runClientRound(encoder, { payload: offer.payload, plan }, TRAIN, CONFIG, {
        clientId: 'a',
        round: 0,
        seed: 1,
      }),
    ).rejects.toThrow(/scale/);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
