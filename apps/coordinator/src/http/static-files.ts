import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { RequestHandler } from '../server/http';
import { sendError } from './respond';

/**
 * Read-only files of `folder` at URL `prefix` (the model files clients load, so they need no model hub). Paths
 * are decoded and resolved inside the folder; anything outside it, or not a plain file, is refused.
 */

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export function staticFolder(prefix: string, folder: string): RequestHandler {
  const root = path.resolve(folder);
  const mount = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://local');
    if (!url.pathname.startsWith(mount)) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return sendError(response, 405, `${mount} is read-only (GET, HEAD)`);
    }
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname.slice(mount.length));
    } catch {
      return sendError(response, 400, 'the path is not valid percent-encoding');
    }
    const full = path.resolve(root, relative);
    if (relative.includes('\0') || !full.startsWith(root + path.sep)) {
      return sendError(response, 403, 'outside the served folder');
    }
    const info = await stat(full).catch(() => null);
    if (info === null || !info.isFile()) return sendError(response, 404, `no file ${url.pathname}`);
    // Weight shards have no extension: octet-stream.
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(full)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
    });
    if (request.method === 'HEAD') {
      response.end();
      return true;
    }
    await new Promise<void>((resolve) => {
      createReadStream(full)
        .on('error', () => {
          response.destroy();
          resolve();
        })
        .on('end', resolve)
        .pipe(response);
    });
    return true;
  };
}
