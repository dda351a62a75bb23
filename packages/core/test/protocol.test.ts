import { describe, expect, it } from 'vitest';
import {
  binaryAttachment,
  joinRequestSchema,
  offerMessageSchema,
  parseMessage,
  PROTOCOL_VERSION,
  roundNoticeSchema,
  updateMetaSchema,
} from '../src/index';

describe('protocol messages', () => {
  it('parses valid messages and refuses invalid ones naming the field', () => {
    const join = { protocolVersion: PROTOCOL_VERSION, federation: 'spam', token: 'secret-token' };
    expect(parseMessage(joinRequestSchema, join, 'join')).toEqual({ ok: true, value: join });
    const bad = parseMessage(joinRequestSchema, { ...join, federation: 'a b', extra: 1 }, 'join');
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.refusal).toMatchObject({ ok: false, code: 'malformed', event: 'join' });
      expect(bad.refusal.reason).toMatch(/federation: letters, digits/);
      expect(bad.refusal.reason).toMatch(/extra/);
    }
    const meta = { federation: 'spam', clientId: 'c-1', round: -1, offerId: 'x' };
    expect(parseMessage(updateMetaSchema, meta, 'update').ok).toBe(false);
  });

  it('tells training offers from skips', () => {
    const skip = { kind: 'skip', federation: 'spam', round: 3, reason: 'budget too small' };
    expect(offerMessageSchema.parse(skip)).toEqual(skip);
    expect(() => offerMessageSchema.parse({ ...skip, kind: 'train' })).toThrow();
  });

  it("carries a client's memberships in a round notice, each in [0, 1]", () => {
    const notice = { federation: 'spam', round: 2, status: 'aggregated', participants: 3, included: true };
    expect(roundNoticeSchema.parse(notice)).toEqual(notice);
    const withPi = { ...notice, memberships: [0.25, 0.75] };
    expect(roundNoticeSchema.parse(withPi)).toEqual(withPi);
    expect(() => roundNoticeSchema.parse({ ...notice, memberships: [1.5, -0.5] })).toThrow();
  });

  it('accepts binary attachments as Node Buffers, Uint8Arrays or ArrayBuffers, nothing else', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(binaryAttachment(bytes)).toBe(bytes);
    expect(binaryAttachment(bytes.buffer)).toEqual(bytes);
    expect(binaryAttachment(Buffer.from(bytes))).toEqual(Buffer.from(bytes));
    expect(binaryAttachment('AQID')).toBeNull();
    expect(binaryAttachment([1, 2, 3])).toBeNull();
  });
});
