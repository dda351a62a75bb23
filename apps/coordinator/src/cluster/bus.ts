import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Server } from 'socket.io';

/**
 * The engine several coordinator processes share: socket.io's Redis adapter. It routes emits to sockets on
 * any process (io.to(socketId) reaches a client connected elsewhere) and carries server-side events between
 * processes, acknowledged ones included (each process answers; see ask()).
 */

export interface RedisBus {
  close(): Promise<void>;
}

export async function attachRedisAdapter(
  io: Server,
  redisUrl: string,
  options: { requestsTimeoutMs?: number } = {},
): Promise<RedisBus> {
  let started = false;
  // Retry with back-off once running (Redis restarts); give up at once on start-up, so a wrong URL fails clearly.
  const reconnectStrategy = (retries: number, cause: Error) =>
    started ? Math.min(100 * (retries + 1), 3_000) : cause;
  const pub = createClient({ url: redisUrl, socket: { reconnectStrategy } });
  const sub = pub.duplicate();
  // Connection failures after start-up are reported and retried by the client; before it, they reject.
  pub.on('error', () => {});
  sub.on('error', () => {});
  try {
    await Promise.all([pub.connect(), sub.connect()]);
    started = true;
  } catch (error) {
    for (const client of [pub, sub]) if (client.isOpen) client.destroy();
    throw new Error(`cannot reach Redis at ${redisUrl}: ${(error as Error).message}`);
  }
  io.adapter(
    createAdapter(pub, sub, { key: 'fedhft', requestsTimeout: options.requestsTimeoutMs ?? 10_000 }),
  );
  return {
    async close() {
      await Promise.allSettled([pub.close(), sub.close()]);
    },
  };
}

/**
 * Emits a server-side event every other process answers through its acknowledgement; returns the answers
 * that are not null (the processes the event was for) and, when some process did not answer in time, why.
 */
export function ask(
  io: Server,
  event: string,
  message: unknown,
): Promise<{ answers: unknown[]; error: Error | null }> {
  return new Promise((resolve) => {
    io.serverSideEmit(event, message, (error: Error | null, responses: unknown[] = []) => {
      resolve({ answers: responses.filter((r) => r !== null && r !== undefined), error });
    });
  });
}
