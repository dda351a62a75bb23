import { describe, expect, it } from 'vitest';
import { parsePageMessage, parseWorkerMessage } from '../src/worker/messages';
import { readPageConfig } from '../src/config';
import { memoryOffer } from '../src/worker/capability';

const TRAIN = {
  type: 'train',
  id: 3,
  clientId: 'local-client',
  round: 0,
  offerId: 'local-0',
  seed: 1,
  plan: { mode: 'lora', rank: 8, adapterStart: 'merge', maskMode: 'pre', budget: 0.5, scale: 2 },
  train: { epochs: 1, batchSize: 4, learningRate: 0.003, roundDecay: 0.9, maxSeqLen: 16, loraDropout: 0.1 },
  precision: 'fp32',
  payload: new ArrayBuffer(8),
};

describe('worker messages', () => {
  it('accepts well-formed messages both ways', () => {
    expect(parsePageMessage(TRAIN).type).toBe('train');
    expect(
      parsePageMessage({
        type: 'init',
        id: 0,
        modelUrl: 'http://127.0.0.1:5173/models/use-lite/',
        backend: 'wasm',
        probe: { batch: 4, seqLen: 16, steps: 1, rank: 4 },
      }).type,
    ).toBe('init');
    expect(parseWorkerMessage({ type: 'progress', round: 0, step: 1, totalSteps: 3, loss: 0.69 }).type).toBe(
      'progress',
    );
  });

  it('refuses malformed ones, naming the field', () => {
    expect(() => parsePageMessage({ ...TRAIN, payload: [1, 2, 3] })).toThrow(/payload/);
    expect(() => parsePageMessage({ ...TRAIN, extra: 1 })).toThrow(/extra/);
    expect(() => parsePageMessage({ ...TRAIN, plan: { ...TRAIN.plan, budget: 2 } })).toThrow(/plan\.budget/);
    expect(() => parsePageMessage({ type: 'launch', id: 1 })).toThrow(/malformed message to the worker/);
    expect(() =>
      parseWorkerMessage({ type: 'progress', round: 0, step: 1, totalSteps: 3, loss: NaN }),
    ).toThrow(/loss/);
    expect(() =>
      parsePageMessage({
        type: 'data',
        id: 1,
        numClasses: 2,
        train: { texts: ['a'], labels: [] },
        heldOut: { texts: [], labels: [] },
      }),
    ).toThrow(/texts and labels differ/);
  });
});

describe('page config', () => {
  const at = (search: string) => ({
    href: `http://127.0.0.1:5173/${search}`,
    search,
    origin: 'http://127.0.0.1:5173',
  });

  it('reads the coordinator, token, backend and training settings from the link', () => {
    const config = readPageConfig(
      at('?coordinator=https://fed.example/&token=abc&backend=wasm&seqLen=16&batch=4'),
    );
    expect(config.coordinator).toBe('https://fed.example/');
    expect(config.token).toBe('abc');
    expect(config.backend).toBe('wasm');
    expect(config.modelUrl).toBe('https://fed.example/models/use-lite/');
    expect(config.train).toMatchObject({ maxSeqLen: 16, batchSize: 4, epochs: 1 });
    expect(readPageConfig(at('')).modelUrl).toBe('http://127.0.0.1:5173/models/use-lite/');
  });

  it('reads the federation, the demo flag and the memory cap', () => {
    const config = readPageConfig(at('?federation=spam&demo=1&maxMemory=512'));
    expect(config).toMatchObject({ federation: 'spam', demo: true, maxMemoryBytes: 512 * 2 ** 20 });
    const plain = readPageConfig(at(''));
    expect(plain).toMatchObject({ federation: 'demo', demo: false });
    expect(plain.maxMemoryBytes).toBeUndefined();
  });

  it('refuses bad values', () => {
    expect(() => readPageConfig(at('?backend=webgl'))).toThrow(/backend/);
    expect(() => readPageConfig(at('?seqLen=0'))).toThrow(/seqLen/);
    expect(() => readPageConfig(at('?demo=yes'))).toThrow(/demo/);
    expect(() => readPageConfig(at('?maxMemory=-1'))).toThrow(/maxMemory/);
  });

  it('offers half the device memory, or less when the page caps it', () => {
    expect(memoryOffer(8).bytes).toBe(4 * 2 ** 30);
    expect(memoryOffer(8, 2 ** 29)).toMatchObject({
      bytes: 2 ** 29,
      source: expect.stringMatching(/maxMemory/),
    });
    expect(memoryOffer(undefined, 2 ** 40).bytes).toBe(2 ** 31);
  });
});
