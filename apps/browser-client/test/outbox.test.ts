import { describe, expect, it } from 'vitest';
import { encodeUpdate, PROTOCOL_VERSION, type ClientUpdate } from '@fedhft/core';
import type { CapabilityReport, UpdateMeta } from '../src/link';
import { Outbox, OutboxRefusal } from '../src/outbox';

function update(clientId = 'client-1', round = 2): ClientUpdate {
  return {
    protocolVersion: PROTOCOL_VERSION,
    clientId,
    round,
    exampleCount: 3,
    adapters: new Map([
      [
        'w',
        {
          dOut: 4,
          dIn: 3,
          rank: 2,
          rows: Int32Array.from([1, 3]),
          A: new Float32Array(6).fill(0.5),
          B: new Float32Array(4).fill(0.25),
          scale: 1,
        },
      ],
    ]),
    dense: new Map(),
    head: { embeddingSize: 3, numClasses: 2, kernel: new Float32Array(6), bias: new Float32Array(2) },
  };
}

const META: UpdateMeta = {
  federation: 'fed-1',
  clientId: 'client-1',
  round: 2,
  offerId: 'offer-7',
  metrics: { loss: 0.5, accuracy: 0.75, heldOutExamples: 4, trainSeconds: 1.5, peakBytes: 1000 },
};

function recordingLink() {
  const sent: { kind: string; value: unknown; bytes?: Uint8Array }[] = [];
  return {
    sent,
    reportCapabilities: async (report: CapabilityReport) => {
      sent.push({ kind: 'capabilities', value: report });
      return { budget: 0.5 };
    },
    sendUpdate: async (meta: UpdateMeta, bytes: Uint8Array) => {
      sent.push({ kind: 'update', value: meta, bytes });
      return { round: meta.round, received: 1 };
    },
  };
}

describe('Outbox', () => {
  it('passes a valid update and capability report to the link and counts the bytes', async () => {
    const link = recordingLink();
    const outbox = new Outbox(link);
    const bytes = encodeUpdate(update(), { precision: 'fp32' });
    await expect(outbox.sendUpdate(META, bytes)).resolves.toEqual({ round: 2, received: 1 });
    await expect(
      outbox.sendCapabilities({ backend: 'wasm', memoryBytes: 2 ** 30, tokensPerSecond: 900, examples: 12 }),
    ).resolves.toEqual({ budget: 0.5 });
    expect(link.sent.map((s) => s.kind)).toEqual(['update', 'capabilities']);
    expect(link.sent[0]!.bytes).toBe(bytes);
    expect(outbox.bytesSent).toBeGreaterThan(bytes.byteLength);
  });

  it('refuses anything that could carry text', async () => {
    const link = recordingLink();
    const outbox = new Outbox(link);
    const bytes = encodeUpdate(update(), { precision: 'fp32' });
    const refusals: [UpdateMeta, Uint8Array][] = [
      // An extra field, a string where a number belongs, an identifier with spaces.
      [{ ...META, note: 'the movie was great' } as UpdateMeta, bytes],
      [{ ...META, metrics: { loss: 'the movie was great' as unknown as number } }, bytes],
      [{ ...META, metrics: { ...META.metrics, text: 'hello' } as UpdateMeta['metrics'] }, bytes],
      [{ ...META, offerId: 'the movie was great' }, bytes],
      // Bytes that are not an update, and an update for another client or round.
      [META, new TextEncoder().encode('the movie was great')],
      [META, encodeUpdate(update('client-2'), { precision: 'fp32' })],
      [META, encodeUpdate(update('client-1', 3), { precision: 'fp32' })],
      [META, Array.from(bytes) as unknown as Uint8Array],
    ];
    for (const [meta, body] of refusals) {
      await expect(outbox.sendUpdate(meta, body)).rejects.toBeInstanceOf(OutboxRefusal);
    }
    await expect(
      outbox.sendCapabilities({ backend: 'my phone', memoryBytes: 1, tokensPerSecond: 1 }),
    ).rejects.toBeInstanceOf(OutboxRefusal);
    await expect(
      outbox.sendCapabilities({
        backend: 'wasm',
        memoryBytes: 1,
        tokensPerSecond: 1,
        text: 'x',
      } as CapabilityReport),
    ).rejects.toBeInstanceOf(OutboxRefusal);
    expect(link.sent).toEqual([]);
    expect(outbox.bytesSent).toBe(0);
  });
});
