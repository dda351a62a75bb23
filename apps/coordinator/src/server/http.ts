import http from 'node:http';

/**
 * The coordinator's HTTP server. socket.io handles its own path (/socket.io/); every other request goes through
 * the handlers added with `use` in order (the dashboard and the HTTP API attach here), then gets a 404.
 */

/** Returns true when it answered the request. */
export type RequestHandler = (
  request: http.IncomingMessage,
  response: http.ServerResponse,
) => boolean | Promise<boolean>;

export interface CoordinatorHttp {
  readonly server: http.Server;
  use(handler: RequestHandler): void;
}

export function createCoordinatorHttp(): CoordinatorHttp {
  const handlers: RequestHandler[] = [];
  const server = http.createServer((request, response) => {
    void (async () => {
      try {
        for (const handler of handlers) if (await handler(request, response)) return;
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'not found' }));
      } catch (error) {
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: (error as Error).message }));
      }
    })();
  });
  return { server, use: (handler) => handlers.push(handler) };
}
