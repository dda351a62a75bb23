import type http from 'node:http';
import { PROTOCOL_EVENTS, PROTOCOL_VERSION } from '@fedhft/core';
import { z } from 'zod';
import type { Coordinator } from '../server/coordinator';
import type { Federation } from '../server/federation';
import type { RequestHandler } from '../server/http';
import { ADAPTER_FILES, type AdapterExports } from './adapters';
import { federationMetrics } from './metrics';
import { dpSettings } from './privacy';
import { checkAdmin, sendBytes, sendError, sendJson } from './respond';

/**
 * The HTTP JSON API under /api (see SERVER.md, "HTTP API"). Reads are open (bind the server to a trusted
 * interface); the run controls need the federation's admin token as a bearer token.
 */

export interface ApiOptions {
  /** Adapter exports by federation id. */
  readonly exports: ReadonlyMap<string, AdapterExports>;
  /** URL prefix of each encoder's model files served by this coordinator ('use-lite' -> '/models/use-lite/'). */
  readonly models: Readonly<Record<string, string>>;
  /** Where the client page is served ('/' or null when not served). */
  readonly clientPath: string | null;
}

const federationId = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, 'a federation id has letters, digits and . _ - only');
const clusterIndex = z
  .string()
  .regex(/^\d{1,4}$/, 'a cluster is a non-negative integer')
  .transform(Number);
const adapterFile = z.enum(ADAPTER_FILES);

const ROUTES = [
  'GET /api/federations',
  'GET /api/federations/:id',
  'GET /api/federations/:id/metrics',
  'GET /api/federations/:id/manifest',
  'POST /api/federations/:id/start (Authorization: Bearer <adminToken>)',
  'POST /api/federations/:id/pause (Authorization: Bearer <adminToken>)',
  'GET /api/federations/:id/adapters',
  'GET /api/federations/:id/adapters/:cluster',
  `GET /api/federations/:id/adapters/:cluster/{${ADAPTER_FILES.join(',')}}`,
];

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // not valid percent-encoding: the id check refuses it
  }
}

function firstIssue(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'invalid';
}

export function createApi(coordinator: Coordinator, options: ApiOptions): RequestHandler {
  const summary = (federation: Federation) => {
    const state = federation.state();
    return {
      id: state.id,
      description: state.description,
      strategy: state.strategy,
      encoder: federation.config.encoder,
      phase: state.phase,
      paused: state.paused,
      round: state.round,
      totalRounds: state.totalRounds,
      clients: state.clients.length,
      connected: state.clients.filter((c) => c.connected).length,
      demo: federation.demo !== null,
    };
  };

  const manifest = (federation: Federation) => {
    const encoder = federation.config.encoder;
    const modelUrl = options.models[encoder] ?? null;
    return {
      protocolVersion: PROTOCOL_VERSION,
      federation: federation.info(),
      encoder: {
        name: encoder,
        modelUrl,
        ...(modelUrl === null ? { reason: `this coordinator does not serve the files of "${encoder}"` } : {}),
      },
      socket: { path: '/socket.io/', events: PROTOCOL_EVENTS },
      demo: federation.demo ? { corpus: federation.demo.corpus, shards: federation.demo.count } : null,
      clientPage: options.clientPath,
    };
  };

  const adapters = async (
    response: http.ServerResponse,
    federation: Federation,
    rest: string[],
  ): Promise<true> => {
    const exports = options.exports.get(federation.id);
    if (!exports) return sendError(response, 404, `federation "${federation.id}" has no adapter exports`);
    const found = await exports.index();
    if (!found.ok) return sendError(response, 404, found.reason);
    const { index } = found;
    const base = `/api/federations/${federation.id}/adapters`;
    const listing = (cluster: number) => ({
      cluster,
      round: index.round,
      relativeError: index.clusters.find((c) => c.cluster === cluster)?.relativeError ?? null,
      files: Object.fromEntries(ADAPTER_FILES.map((name) => [name, `${base}/${cluster}/${name}`])),
    });
    if (rest.length === 0) {
      return sendJson(response, 200, {
        ...index,
        format: 'peft LoRA (adapter_config.json + adapter_model.safetensors) and head.json per cluster',
        clusters: index.clusters.map((c) => listing(c.cluster)),
      });
    }
    const cluster = clusterIndex.safeParse(rest[0]);
    if (!cluster.success) return sendError(response, 400, firstIssue(cluster.error));
    if (!index.clusters.some((c) => c.cluster === cluster.data)) {
      return sendError(
        response,
        404,
        `no cluster ${cluster.data}: the export of round ${index.round} has clusters 0..${index.clusters.length - 1}`,
      );
    }
    if (rest.length === 1) return sendJson(response, 200, listing(cluster.data));
    if (rest.length > 2) return sendError(response, 404, 'not found');
    const file = adapterFile.safeParse(rest[1]);
    if (!file.success)
      return sendError(response, 404, `no file "${rest[1]}"; files: ${ADAPTER_FILES.join(', ')}`);
    const bytes = await exports.file(cluster.data, file.data);
    if (bytes === null) return sendError(response, 404, `cluster ${cluster.data} has no ${file.data}`);
    const type = file.data.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream';
    const name = `${federation.id}-cluster-${cluster.data}-${file.data}`;
    return sendBytes(response, bytes, type, name);
  };

  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://local');
    if (url.pathname !== '/api' && !url.pathname.startsWith('/api/')) return false;
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const method = request.method ?? 'GET';
    const only = (allowed: string): boolean => {
      if (method === allowed || (allowed === 'GET' && method === 'HEAD')) return true;
      response.setHeader('allow', allowed);
      sendError(response, 405, `${url.pathname} takes ${allowed}, not ${method}`);
      return false;
    };
    if (parts.length === 1) return only('GET') ? sendJson(response, 200, { routes: ROUTES }) : true;
    if (parts[1] !== 'federations')
      return sendError(response, 404, `no route ${url.pathname}`, { routes: ROUTES });
    if (parts.length === 2) {
      if (!only('GET')) return true;
      const server = coordinator.state().refusals;
      return sendJson(response, 200, {
        federations: [...coordinator.federations.values()].map(summary),
        refusals: server,
      });
    }
    const id = federationId.safeParse(safeDecode(parts[2]!));
    if (!id.success) return sendError(response, 400, firstIssue(id.error));
    const federation = coordinator.federations.get(id.data);
    if (!federation) return sendError(response, 404, `no federation "${id.data}"`);
    const action = parts[3];
    if (action === undefined) return only('GET') ? sendJson(response, 200, federation.state()) : true;
    if (action === 'metrics' && parts.length === 4) {
      const metrics = federationMetrics(federation.state(), dpSettings(federation.config));
      return only('GET') ? sendJson(response, 200, metrics) : true;
    }
    if (action === 'manifest' && parts.length === 4) {
      return only('GET') ? sendJson(response, 200, manifest(federation)) : true;
    }
    if ((action === 'start' || action === 'pause') && parts.length === 4) {
      if (!only('POST')) return true;
      const denied = checkAdmin(request, federation.config.adminToken, federation.id);
      if (denied) return sendError(response, denied.status, denied.reason);
      if (action === 'start') federation.startRounds();
      else federation.pauseRounds();
      const state = federation.state();
      return sendJson(response, 200, {
        ok: true,
        paused: state.paused,
        phase: state.phase,
        round: state.round,
      });
    }
    if (action === 'adapters') return only('GET') ? adapters(response, federation, parts.slice(4)) : true;
    return sendError(response, 404, `no route ${url.pathname}`, { routes: ROUTES });
  };
}
