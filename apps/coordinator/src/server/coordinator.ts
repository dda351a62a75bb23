import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { Federation, type FederationEvent, type FederationSetup, type FederationState } from './federation';
import { createCoordinatorHttp, type RequestHandler } from './http';
import { RefusalLog, type RefusalEntry, type RefusalSummary } from './refusals';
import { attachSocketHandlers, type JoinLimit } from './socket';

/**
 * The coordinator: an HTTP server with socket.io on it and several federations side by side. Dashboards and
 * HTTP APIs attach through `use` (request handlers), `state()` (plain JSON of every federation) and the
 * 'event' event (every FederationEvent, plus server-level refusals).
 */

export interface CoordinatorOptions {
  readonly federations: readonly FederationSetup[];
  /** Folder of the checkpoints, one sub-folder per federation. */
  readonly dataDir: string;
  /** Continue every federation from its checkpoint. */
  readonly resume?: boolean;
  readonly host?: string;
  /** 0 picks a free port (tests). Default 8080. */
  readonly port?: number;
  readonly log?: (line: string) => void;
  /** New identities (joins without clientId) one remote address may create per window; default 100 per minute. */
  readonly joinLimit?: JoinLimit;
}

export interface CoordinatorState {
  readonly federations: FederationState[];
  /** Refusals before a federation was named (unknown federation, malformed join, unknown events). */
  readonly refusals: RefusalSummary;
}

/** Messages above this are cut off by engine.io itself (connection closed, no refusal possible). */
const TRANSPORT_SLACK = 1024 * 1024;

export class Coordinator extends EventEmitter {
  readonly httpServer: http.Server;
  readonly io: Server;
  readonly federations: ReadonlyMap<string, Federation>;
  readonly refusals: RefusalLog;
  private readonly addHandler: (handler: RequestHandler) => void;

  private constructor(
    federations: Map<string, Federation>,
    log: (line: string) => void,
    joinLimit?: JoinLimit,
  ) {
    super();
    this.federations = federations;
    const { server, use } = createCoordinatorHttp();
    this.httpServer = server;
    this.addHandler = use;
    const largest = Math.max(...[...federations.values()].map((f) => f.config.maxUpdateBytes));
    // A little above the largest update limit, so an oversized update still gets a refusal with its size.
    this.io = new Server(server, { maxHttpBufferSize: largest + TRANSPORT_SLACK, serveClient: false });
    this.refusals = new RefusalLog((entry: RefusalEntry) => {
      log(`refused ${entry.event} from ${entry.socketId ?? '?'}: ${entry.code}: ${entry.reason}`);
      this.emit('event', { federation: '', at: entry.at, type: 'refused', entry } satisfies FederationEvent);
    });
    for (const federation of federations.values()) {
      federation.on('event', (event: FederationEvent) => this.emit('event', event));
    }
    attachSocketHandlers(this.io, federations, this.refusals, log, joinLimit);
  }

  /** Opens (or resumes) every federation, then listens. */
  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    if (options.federations.length === 0) throw new Error('a coordinator needs at least one federation');
    const log = options.log ?? (() => {});
    const federations = new Map<string, Federation>();
    for (const setup of options.federations) {
      if (federations.has(setup.config.id)) throw new Error(`duplicate federation id "${setup.config.id}"`);
      const runtime = { dataDir: options.dataDir, resume: options.resume ?? false, log };
      federations.set(setup.config.id, await Federation.open(setup, runtime));
    }
    const coordinator = new Coordinator(federations, log, options.joinLimit);
    await new Promise<void>((resolve, reject) => {
      coordinator.httpServer.once('error', reject);
      coordinator.httpServer.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
        coordinator.httpServer.off('error', reject);
        resolve();
      });
    });
    log(`coordinator listening on ${coordinator.url}`);
    return coordinator;
  }

  get port(): number {
    return (this.httpServer.address() as AddressInfo).port;
  }

  get url(): string {
    const address = this.httpServer.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Adds an HTTP request handler (tried in order before the 404). */
  use(handler: RequestHandler): void {
    this.addHandler(handler);
  }

  state(): CoordinatorState {
    return {
      federations: [...this.federations.values()].map((f) => f.state()),
      refusals: this.refusals.summary(),
    };
  }

  /** Stops rounds and timers, flushes pending writes, closes every connection and the server. */
  async close(): Promise<void> {
    for (const federation of this.federations.values()) await federation.stop();
    await new Promise<void>((resolve) => {
      void this.io.close(() => resolve());
    });
    this.httpServer.closeAllConnections?.();
  }
}

export const startCoordinator = (options: CoordinatorOptions) => Coordinator.start(options);
