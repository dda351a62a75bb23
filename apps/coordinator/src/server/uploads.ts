import {
  CodecError,
  decodeUpdate,
  type ClientUpdate,
  type DecodeLimits,
  type Refusal,
  type RefusalCode,
  type UpdateMeta,
} from '@fedhft/core';

/**
 * The checks an uploaded update passes before any strategy sees it, shared by the federation and by member
 * processes of a multi-process coordinator (which fold the updates that reach them): the offer it answers,
 * once only, within the size limit, decoding with the codec's limits, and naming the client and round it
 * came for.
 */

export function refusal(code: RefusalCode, reason: string, event: string): Refusal {
  return { ok: false, code, reason, event };
}

/** What the open round offered one client, as far as its upload is concerned. */
export interface OfferedUpload {
  readonly round: number;
  /** Null: the client was told to skip this round. */
  readonly offerId: string | null;
  readonly alreadyReceived: boolean;
}

/** The upload answers this round's offer to the client and is its first; null when it does. */
export function checkOffered(
  clientId: string,
  offered: OfferedUpload | undefined,
  meta: Pick<UpdateMeta, 'round' | 'offerId'>,
): Refusal | null {
  const event = 'update';
  if (offered === undefined || offered.offerId === null) {
    return refusal(
      'not-offered',
      `client "${clientId}" was not offered training in round ${meta.round}`,
      event,
    );
  }
  if (meta.offerId !== offered.offerId) {
    return refusal(
      'not-offered',
      `offer id "${meta.offerId}" is not this round's offer to you (a stale upload from an earlier attempt?)`,
      event,
    );
  }
  if (offered.alreadyReceived) {
    return refusal('duplicate', `round ${offered.round}: your update was already received`, event);
  }
  return null;
}

/** checkOffered, then the size limit and the codec; the decoded update must name this client and round. */
export function decodeOfferedUpload(
  clientId: string,
  offered: OfferedUpload | undefined,
  meta: UpdateMeta,
  bytes: Uint8Array,
  limits: DecodeLimits & { readonly maxBytes: number },
): ClientUpdate | Refusal {
  const event = 'update';
  const refused = checkOffered(clientId, offered, meta);
  if (refused !== null) return refused;
  if (bytes.byteLength > limits.maxBytes) {
    return refusal(
      'too-large',
      `update of ${bytes.byteLength} bytes exceeds the limit of ${limits.maxBytes}`,
      event,
    );
  }
  let update;
  try {
    update = decodeUpdate(bytes, limits);
  } catch (error) {
    const message = error instanceof CodecError ? error.message : String(error);
    return refusal('bad-payload', `the update does not decode: ${message}`, event);
  }
  if (update.clientId !== clientId) {
    return refusal(
      'wrong-client',
      `the encoded update is for client "${update.clientId}", you are "${clientId}"`,
      event,
    );
  }
  if (update.round !== offered!.round) {
    return refusal(
      'wrong-round',
      `the encoded update is for round ${update.round}, the open round is ${offered!.round}`,
      event,
    );
  }
  return update;
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}
