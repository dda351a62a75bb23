import { io } from 'socket.io-client';
import type { DashboardSnapshot } from '../../src/http/dashboard-socket';
import type { FederationEvent } from '../../src/server/federation';
import { Charts } from './charts';
import { byId, el, time } from './dom';
import { describeEvent, renderClients, renderPrivacy, renderRefusals, renderTimeline } from './views';

/**
 * The coordinator dashboard: reads snapshots and events from the read-only `/dashboard` socket.io namespace;
 * Start and Pause call the HTTP API with the admin token, which comes from the input field or the URL fragment
 * `#federation=<id>&admin=<token>` (a fragment never reaches the server or its logs) and stays in this tab only.
 */

const select = byId<HTMLSelectElement>('federation');
const tokenInput = byId<HTMLInputElement>('admin-token');
const message = byId('control-message');
const charts = new Charts(
  byId<HTMLCanvasElement>('accuracy-chart'),
  byId<HTMLCanvasElement>('bytes-chart'),
  byId<HTMLCanvasElement>('memory-chart'),
  byId<HTMLCanvasElement>('privacy-chart'),
  byId('privacy-figure'),
);
let snapshot: DashboardSnapshot | null = null;

const fragment = new URLSearchParams(location.hash.slice(1));
const wanted = fragment.get('federation') ?? new URLSearchParams(location.search).get('federation');
const fromFragment = fragment.get('admin');
if (fromFragment) {
  sessionStorage.setItem('fedhft-admin-token', fromFragment);
  history.replaceState(null, '', location.pathname + location.search);
}
tokenInput.value = sessionStorage.getItem('fedhft-admin-token') ?? '';
tokenInput.addEventListener('change', () => sessionStorage.setItem('fedhft-admin-token', tokenInput.value));

function render(): void {
  if (!snapshot) return;
  const ids = snapshot.federations.map((f) => f.state.id);
  if (select.options.length !== ids.length || ids.some((id, i) => select.options[i]?.value !== id)) {
    select.replaceChildren(...ids.map((id) => el('option', {}, id)));
    if (wanted && ids.includes(wanted)) select.value = wanted;
  }
  const current = snapshot.federations.find((f) => f.state.id === select.value) ?? snapshot.federations[0];
  if (!current) return;
  const { state, metrics } = current;
  byId('description').textContent = state.description || `${state.strategy} federation`;
  const phase = byId('phase');
  phase.textContent = `${state.paused ? 'paused' : state.phase} · round ${Math.min(state.round, state.totalRounds)}/${state.totalRounds}`;
  phase.className = `badge ${state.paused ? 'warn' : state.phase === 'training' ? 'ok' : ''}`;
  renderClients(byId<HTMLTableElement>('clients').tBodies[0]!, state);
  renderTimeline(byId<HTMLOListElement>('timeline'), byId('open-round'), state, metrics);
  renderPrivacy(byId('privacy'), metrics.privacy);
  charts.update(metrics);
  const recent = [...state.refusals.recent, ...snapshot.refusals.recent].sort((a, b) => a.at - b.at);
  renderRefusals(
    byId<HTMLTableElement>('refusals').tBodies[0]!,
    byId('refusal-counts'),
    recent,
    state.refusals.byCode,
    state.refusals.total,
  );
}

const socket = io('/dashboard', { transports: ['websocket', 'polling'] });
const connection = byId('connection');
socket.on('connect', () => {
  connection.textContent = 'live';
  connection.className = 'badge ok';
});
socket.on('disconnect', () => {
  connection.textContent = 'disconnected';
  connection.className = 'badge bad';
});
socket.on('snapshot', (value: DashboardSnapshot) => {
  snapshot = value;
  render();
});
socket.on('event', (event: FederationEvent) => {
  const log = byId<HTMLOListElement>('events');
  log.prepend(el('li', {}, `${time(event.at)} ${describeEvent(event)}`));
  while (log.children.length > 200) log.lastElementChild?.remove();
});
select.addEventListener('change', render);
// The open round's countdown moves between snapshots.
setInterval(render, 1000);

async function control(action: 'start' | 'pause'): Promise<void> {
  const id = select.value;
  message.textContent = '…';
  try {
    const response = await fetch(`/api/federations/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenInput.value.trim()}` },
    });
    const body = (await response.json()) as { error?: string; paused?: boolean; phase?: string };
    message.textContent = response.ok
      ? `${id}: ${body.paused ? 'paused' : 'running'} (${body.phase})`
      : `refused (${response.status}): ${body.error ?? 'no reason given'}`;
  } catch (error) {
    message.textContent = `failed: ${(error as Error).message}`;
  }
}
byId('start').addEventListener('click', () => void control('start'));
byId('pause').addEventListener('click', () => void control('pause'));
