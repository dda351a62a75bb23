import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activateBackend,
  installMemoryMeter,
  loadUseLite,
  modelSchema,
  type MemoryMeter,
  type UseLiteEncoder,
} from '@fedhft/adapters';
import { useLitePackageFiles } from '@fedhft/adapters/node';
import { decodeUpdate, decodeLimits } from '@fedhft/core';
import { prepareLocalData } from '../src/data/local-data';
import type { RoundNotice, SkipOffer, TrainOffer, UpdateMeta } from '../src/link';
import { LocalLink } from '../src/local-link';
import { Outbox } from '../src/outbox';
import type { ProgressEvent, RoundMetrics } from '../src/worker/messages';
import { trainOfferedRound } from '../src/worker/round';

// Sentences with rare words, so any trace of them (as text or as their token ids) is unmistakable.
const TEXTS = [
  'the quixotic zebrafinch adored marmalade sandwiches',
  'my neighbour Bartholomew whispers secrets to cacti',
  'a wonderful film about xylophones and thunderstorms',
  'terrible plot, the saxophonist kept juggling pineapples',
  'brilliant cinematography of Reykjavik at midnight',
  'boring dialogue about quarterly spreadsheets in Zanzibar',
  'a heartwarming tale of a lighthouse keeper named Ottoline',
  'the worst sequel, full of malfunctioning hovercraft',
  'delightful puppetry and an unforgettable kazoo solo',
  'dreadful pacing; the villain only ate pistachios',
  'gorgeous soundtrack with theremins and bagpipes',
  'an awful mess of holograms and soggy croissants',
];
const CSV = ['text,label', ...TEXTS.map((t, i) => `"${t}",${i % 2 === 0 ? 'good' : 'bad'}`)].join('\n');

const TRAIN = {
  epochs: 1,
  batchSize: 4,
  learningRate: 3e-3,
  roundDecay: 0.9,
  maxSeqLen: 16,
  loraDropout: 0.1,
};

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  if (needle.length === 0 || needle.length > haystack.length) return false;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function utf16(text: string): Uint8Array {
  const units = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return new Uint8Array(units.buffer);
}

/** Every way a run of token ids could be laid out in a binary message. */
function idEncodings(ids: readonly number[]): Uint8Array[] {
  return [
    new Uint8Array(Int32Array.from(ids).buffer),
    new Uint8Array(Uint16Array.from(ids).buffer),
    new Uint8Array(Float32Array.from(ids).buffer),
    new Uint8Array(Float64Array.from(ids).buffer),
  ];
}

describe('what leaves the page', () => {
  let encoder: UseLiteEncoder;
  let meter: MemoryMeter;
  beforeAll(async () => {
    await activateBackend(['wasm']);
    meter = installMemoryMeter();
    encoder = await loadUseLite(useLitePackageFiles());
  });
  afterAll(() => encoder?.dispose());

  it('an update message, its metadata, metrics and progress hold no raw text and no token ids', async () => {
    const data = prepareLocalData(CSV, 'private.csv', { textColumn: 'text', labelColumn: 'label' });
    const schema = modelSchema(encoder, { numClasses: 2, rank: 4, alpha: 8, targets: ['query', 'value'] });
    const link = new LocalLink({
      numClasses: 2,
      rank: 4,
      alpha: 8,
      targets: ['query', 'value'],
      clusters: 2,
      train: TRAIN,
      precision: 'fp32',
      seed: 3,
    });
    link.setSchema(schema);
    // Everything the outbox passes on is recorded here, as a socket would send it.
    const wire: { meta?: UpdateMeta; bytes?: Uint8Array; capability?: unknown } = {};
    const outbox = new Outbox(
      {
        reportCapabilities: async (report) => {
          wire.capability = report;
          return link.reportCapabilities(report);
        },
        sendUpdate: async (meta, bytes) => {
          wire.meta = meta;
          wire.bytes = bytes;
          return link.sendUpdate(meta, bytes);
        },
      },
      decodeLimits(schema),
    );
    await outbox.sendCapabilities({
      backend: 'wasm',
      memoryBytes: 2 ** 30,
      tokensPerSecond: 800,
      examples: 9,
    });
    let offered: { offer: TrainOffer | SkipOffer; payload: Uint8Array | null } | undefined;
    link.onOffer((offer, payload) => (offered = { offer, payload }));
    link.offerRound();
    const offer = offered!.offer as TrainOffer;
    expect(offer.kind).toBe('train');

    const progress: ProgressEvent[] = [];
    const { bytes, metrics } = await trainOfferedRound(
      encoder,
      schema,
      {
        clientId: 'local-client',
        round: offer.round,
        offerId: offer.offerId,
        seed: offer.seed,
        plan: offer.plan,
        train: offer.train,
        precision: offer.precision,
        payload: offered!.payload!,
      },
      { train: data.train, heldOut: data.heldOut },
      {
        meter,
        onStep: (step, totalSteps, loss) =>
          progress.push({ type: 'progress', round: 0, step, totalSteps, loss }),
      },
    );
    const meta: UpdateMeta = {
      federation: offer.federation,
      clientId: 'local-client',
      round: offer.round,
      offerId: offer.offerId,
      metrics: {
        loss: metrics.meanLoss,
        heldOutExamples: metrics.heldOutExamples,
        peakBytes: metrics.peakBytes,
      },
    };
    const notices: RoundNotice[] = [];
    link.onRound((notice) => notices.push(notice));
    await expect(outbox.sendUpdate(meta, bytes)).resolves.toEqual({ round: 0, received: 1 });
    await Promise.resolve();
    // The local coordinator folded the update in; one client stays uniformly in both clusters.
    expect(notices).toEqual([expect.objectContaining({ round: 0, included: true, memberships: [0.5, 0.5] })]);

    // The round really trained and the update is the one that went out.
    expect(metrics.steps).toBe(3);
    expect(metrics.losses.every(Number.isFinite)).toBe(true);
    expect(metrics.heldOutExamples).toBe(data.heldOut.texts.length);
    expect(wire.bytes).toBe(bytes);
    const update = decodeUpdate(bytes, decodeLimits(schema));
    expect(update.exampleCount).toBe(data.train.texts.length);
    expect(update.adapters.size).toBe(4);

    // The search works: the one string the update does carry, the client id, is found.
    expect(contains(bytes, new TextEncoder().encode('local-client'))).toBe(true);
    const sentJson = new TextEncoder().encode(
      JSON.stringify([wire.meta, wire.capability, metrics, progress]),
    );
    const messages = [bytes, sentJson];
    const allTexts = [...data.train.texts, ...data.heldOut.texts];
    // Whole texts and every word of 5+ letters, in UTF-8 and UTF-16.
    const words = [...new Set(allTexts.flatMap((t) => t.match(/[A-Za-z]{5,}/g) ?? []))];
    for (const piece of [...allTexts, ...words]) {
      for (const message of messages) {
        expect(contains(message, new TextEncoder().encode(piece)), `"${piece}" found`).toBe(false);
        expect(contains(message, utf16(piece)), `"${piece}" (UTF-16) found`).toBe(false);
      }
    }
    // Token ids: every run of 3 consecutive ids of every text, in binary layouts and as JSON numbers.
    const tokenized = encoder.tokenize(allTexts, TRAIN.maxSeqLen);
    let runs = 0;
    for (let row = 0; row < tokenized.batchSize; row++) {
      const ids = Array.from(
        tokenized.ids.subarray(row * tokenized.seqLen, row * tokenized.seqLen + tokenized.lengths[row]!),
      );
      for (let start = 0; start + 3 <= ids.length; start++) {
        const run = ids.slice(start, start + 3);
        runs++;
        for (const layout of idEncodings(run))
          expect(contains(bytes, layout), `token ids ${run} found`).toBe(false);
        expect(contains(sentJson, new TextEncoder().encode(run.join(','))), `token ids ${run} in JSON`).toBe(
          false,
        );
      }
    }
    expect(runs).toBeGreaterThan(50);
    // The only string in the update is the client id.
    expect(JSON.stringify(metricsStrings(metrics))).toBe('[]');
  });
});

/** Every string value inside the metrics (there should be none). */
function metricsStrings(metrics: RoundMetrics): string[] {
  return Object.values(metrics).flatMap((v) => (typeof v === 'string' ? [v] : []));
}
