import type { Namespace } from 'socket.io';
import type { Coordinator } from '../server/coordinator';
import type { FederationEvent } from '../server/federation';
import { federationMetrics, type FederationMetrics } from './metrics';
import { dpSettings } from './privacy';
import type { FederationState } from '../server/federation';
import type { RefusalSummary } from '../server/refusals';

/**
 * The read-only `/dashboard` socket.io namespace: a snapshot (every federation's state and metrics) on connect
 * and shortly after each change, and every FederationEvent as it happens. Dashboards send nothing here; their
 * controls go through the HTTP API with the admin token.
 */

export const DASHBOARD_NAMESPACE = '/dashboard';

export interface DashboardSnapshot {
  readonly at: number;
  readonly federations: { readonly state: FederationState; readonly metrics: FederationMetrics }[];
  /** Refusals before a federation was named. */
  readonly refusals: RefusalSummary;
}

export function dashboardSnapshot(coordinator: Coordinator): DashboardSnapshot {
  const state = coordinator.state();
  return {
    at: Date.now(),
    federations: state.federations.map((f) => {
      const config = coordinator.federations.get(f.id)?.config;
      return { state: f, metrics: federationMetrics(f, config ? dpSettings(config) : null) };
    }),
    refusals: state.refusals,
  };
}

/** Attaches the namespace; returns a detach function. `throttleMs` bounds snapshots per second. */
export function attachDashboardNamespace(coordinator: Coordinator, throttleMs = 250): () => void {
  const namespace: Namespace = coordinator.io.of(DASHBOARD_NAMESPACE);
  let timer: NodeJS.Timeout | null = null;
  namespace.on('connection', (socket) => {
    socket.emit('snapshot', dashboardSnapshot(coordinator));
    socket.onAny((event: string, ...args: unknown[]) => {
      const reply = {
        ok: false,
        code: 'unknown-event',
        reason: `the dashboard namespace is read-only ("${event}")`,
      };
      const ack = args.at(-1);
      if (typeof ack === 'function') (ack as (r: unknown) => void)(reply);
      else socket.emit('refused', reply);
    });
  });
  const onEvent = (event: FederationEvent) => {
    namespace.emit('event', event);
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      namespace.emit('snapshot', dashboardSnapshot(coordinator));
    }, throttleMs);
  };
  coordinator.on('event', onEvent);
  return () => {
    coordinator.off('event', onEvent);
    if (timer !== null) clearTimeout(timer);
    namespace.disconnectSockets(true);
  };
}
