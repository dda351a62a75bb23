import { z } from 'zod';
import { DEFAULT_DECODE_LIMITS, decodeUpdate, type DecodeLimits } from '@fedhft/core';
import type { CapabilityReport, CoordinatorLink, UpdateAck, UpdateMeta } from './link';

/**
 * The only way anything leaves the page. It accepts exactly two kinds of message, and checks each before the
 * link sees it: a capability report (a backend name from a fixed list and numbers) and an update (bytes that
 * decode as a ClientUpdate of the core codec, for this client and round, with metadata made of identifiers the
 * coordinator issued and numbers). No field can carry free text, so neither raw text nor token ids can be
 * smuggled out by a bug elsewhere. It also counts the bytes sent.
 */

// Identifiers come from the coordinator; no spaces or punctuation beyond these, so no sentence fits in one.
const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');
const finite = z.number().refine(Number.isFinite, 'must be finite');
const nonNegative = finite.refine((v) => v >= 0, 'must be >= 0');

const capabilitySchema = z.strictObject({
  backend: z.enum(['webgpu', 'wasm', 'cpu', 'webgl']),
  memoryBytes: nonNegative,
  tokensPerSecond: nonNegative,
  examples: z.number().int().nonnegative().optional(),
});

const metaSchema = z.strictObject({
  federation: identifier,
  clientId: identifier,
  round: z.number().int().nonnegative(),
  offerId: identifier,
  metrics: z
    .strictObject({
      loss: finite.optional(),
      accuracy: z.number().min(0).max(1).optional(),
      heldOutExamples: z.number().int().nonnegative().optional(),
      trainSeconds: nonNegative.optional(),
      peakBytes: nonNegative.optional(),
    })
    .optional(),
});

export class OutboxRefusal extends Error {
  constructor(message: string) {
    super(`outbox refused: ${message}`);
    this.name = 'OutboxRefusal';
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ');
}

export class Outbox {
  private sent = 0;

  /** `limits`: the model schema's decode limits, once known (decodeLimits(schema)). */
  constructor(
    private readonly link: Pick<CoordinatorLink, 'reportCapabilities' | 'sendUpdate'>,
    private limits: DecodeLimits | null = null,
  ) {}

  setLimits(limits: DecodeLimits): void {
    this.limits = limits;
  }

  /** Bytes handed to the link: binary updates plus the JSON of every message. */
  get bytesSent(): number {
    return this.sent;
  }

  async sendCapabilities(report: CapabilityReport): Promise<{ budget: number }> {
    const parsed = capabilitySchema.safeParse(report);
    if (!parsed.success) throw new OutboxRefusal(`capability report: ${issues(parsed.error)}`);
    this.sent += jsonBytes(parsed.data);
    return this.link.reportCapabilities(parsed.data);
  }

  async sendUpdate(meta: UpdateMeta, bytes: Uint8Array): Promise<UpdateAck> {
    const parsed = metaSchema.safeParse(meta);
    if (!parsed.success) throw new OutboxRefusal(`update metadata: ${issues(parsed.error)}`);
    if (!(bytes instanceof Uint8Array)) throw new OutboxRefusal('an update must be bytes');
    let update;
    try {
      update = decodeUpdate(bytes, this.limits ?? { maxBytes: 2 ** 31, ...DEFAULT_DECODE_LIMITS });
    } catch (error) {
      throw new OutboxRefusal(`the bytes are not a valid update: ${(error as Error).message}`);
    }
    if (update.clientId !== parsed.data.clientId || update.round !== parsed.data.round) {
      throw new OutboxRefusal(
        `the update is for ${update.clientId} round ${update.round}, the message for ` +
          `${parsed.data.clientId} round ${parsed.data.round}`,
      );
    }
    this.sent += bytes.byteLength + jsonBytes(parsed.data);
    return this.link.sendUpdate(parsed.data, bytes);
  }
}

function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).byteLength;
}
