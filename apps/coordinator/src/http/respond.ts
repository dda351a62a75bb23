import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

/** JSON replies and the admin-token check shared by the HTTP API routes. */

export function sendJson(response: http.ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
  return true;
}

/** An error reply: `{ error: reason }` plus any extra fields (e.g. `allow`). */
export function sendError(
  response: http.ServerResponse,
  status: number,
  reason: string,
  extra: Record<string, unknown> = {},
): true {
  return sendJson(response, status, { error: reason, ...extra });
}

export function sendBytes(
  response: http.ServerResponse,
  bytes: Uint8Array,
  contentType: string,
  fileName?: string,
): true {
  response.writeHead(200, {
    'content-type': contentType,
    'content-length': bytes.byteLength,
    'cache-control': 'no-store',
    ...(fileName ? { 'content-disposition': `attachment; filename="${fileName}"` } : {}),
  });
  response.end(bytes);
  return true;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Checks `Authorization: Bearer <adminToken>` against the federation's admin token (compared as SHA-256 digests
 * in constant time). Returns null when allowed, else the status and reason to send.
 */
export function checkAdmin(
  request: http.IncomingMessage,
  adminToken: string | undefined,
  federation: string,
): { status: 401 | 403; reason: string } | null {
  if (adminToken === undefined) {
    return {
      status: 403,
      reason: `federation "${federation}" has no adminToken in its config, so its controls are disabled`,
    };
  }
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (match === null) {
    return {
      status: 401,
      reason:
        'admin token required: send "Authorization: Bearer <adminToken>" (printed when the server started)',
    };
  }
  if (!timingSafeEqual(sha256(match[1]!), sha256(adminToken))) {
    return { status: 401, reason: `wrong admin token for federation "${federation}"` };
  }
  return null;
}
