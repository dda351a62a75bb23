import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { Federation, type FederationEvent, type FederationSetup, type FederationState } from './federation';
import { createCoordinatorHttp, type RequestHandler } from './http';
import { RefusalLog, type RefusalEntry, type RefusalSummary } from './refusals';
import type { RequestLimit } from './request-limit';
import { attachSocketHandlers, type JoinLimit, type SocketLimits } from './socket';
import { attachRedisAdapter, type RedisBus } from '../cluster/bus';
import { attachLeader } from '../cluster/leader';
import { attachMember, type MemberFederation } from '../cluster/member';
import type { FederationEndpoint } from './endpoint';

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
  /** Requests per connection (token bucket; default 20 per second, burst 60, closed after 600 refused in a row). */
  readonly requestLimit?: RequestLimit;
  /** One of several processes sharing the load through socket.io's Redis adapter (see ClusterOptions). */
  readonly cluster?: ClusterOptions;
}

/**
 * Several coordinator processes behind one Redis: the leader owns the federations (identities, rounds,
 * checkpoints, HTTP API); members carry client connections and fold their clients' updates into shares of
 * each round that the leader merges. Clients may connect to any of them.
 */
export interface ClusterOptions {
  readonly redisUrl: string;
  readonly role: 'leader' | 'member';
  /** How long a process waits for the others' answers (default 10 s). */
  readonly requestsTimeoutMs?: number;
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

  private bus: RedisBus | null = null;

  private constructor(
    federations: Map<string, Federation>,
    endpoints: ReadonlyMap<string, FederationEndpoint> | null,
    setups: readonly FederationSetup[],
    log: (line: string) => void,
    limits: SocketLimits,
  ) {
    super();
    this.federations = federations;
    const { server, use } = createCoordinatorHttp();
    this.httpServer = server;
    this.addHandler = use;
    const largest = Math.max(...setups.map((s) => s.config.maxUpdateBytes));
    // A little above the largest update limit, so an oversized update still gets a refusal with its size.
    this.io = new Server(server, { maxHttpBufferSize: largest + TRANSPORT_SLACK, serveClient: false });
    this.refusals = new RefusalLog((entry: RefusalEntry) => {
      log(`refused ${entry.event} from ${entry.socketId ?? '?'}: ${entry.code}: ${entry.reason}`);
      this.emit('event', { federation: '', at: entry.at, type: 'refused', entry } satisfies FederationEvent);
    });
    for (const federation of federations.values()) {
      federation.on('event', (event: FederationEvent) => this.emit('event', event));
    }
    attachSocketHandlers(this.io, endpoints ?? federations, this.refusals, log, limits);
  }

  /** Opens (or resumes) every federation, then listens. */
  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    if (options.federations.length === 0) throw new Error('a coordinator needs at least one federation');
    const log = options.log ?? (() => {});
    const ids = options.federations.map((s) => s.config.id);
    const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
    if (duplicate !== undefined) throw new Error(`duplicate federation id "${duplicate}"`);
    const { cluster } = options;
    const federations = new Map<string, Federation>();
    // A member keeps no state of its own: the leader's federations are the only ones.
    if (cluster?.role !== 'member') {
      for (const setup of options.federations) {
        const runtime = { dataDir: options.dataDir, resume: options.resume ?? false, log };
        federations.set(setup.config.id, await Federation.open(setup, runtime));
      }
    }
    let members: Map<string, MemberFederation> | null = null;
    const coordinator = new Coordinator(
      federations,
      cluster?.role === 'member' ? (members = new Map()) : null,
      options.federations,
      log,
      {
        ...(options.joinLimit ? { join: options.joinLimit } : {}),
        ...(options.requestLimit ? { requests: options.requestLimit } : {}),
      },
    );
    if (cluster !== undefined) {
      try {
        coordinator.bus = await attachRedisAdapter(coordinator.io, cluster.redisUrl, cluster);
        if (cluster.role === 'leader') attachLeader(coordinator.io, federations, log);
        else
          for (const [id, m] of attachMember(coordinator.io, options.federations, log)) members!.set(id, m);
      } catch (error) {
        await coordinator.close();
        throw error;
      }
      log(`coordinator: ${cluster.role} of a multi-process coordinator (Redis at ${cluster.redisUrl})`);
    }
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
    await this.bus?.close();
    this.httpServer.closeAllConnections?.();
  }
}

export const startCoordinator = (options: CoordinatorOptions) => Coordinator.start(options);
