import type { FederationMetrics } from '../../src/http/metrics';
import type { PrivacyMetrics } from '../../src/http/privacy';
import type { FederationEvent, FederationState } from '../../src/server/federation';
import type { RefusalEntry } from '../../src/server/refusals';
import { bytes, COLOURS, el, seconds, time } from './dom';

/** Tables and lists of the dashboard, rebuilt from each snapshot. */

function membershipBar(pi: readonly number[] | undefined): Node {
  if (!pi || pi.length === 0) return document.createTextNode('–');
  const bar = el('span', { title: pi.map((p) => p.toFixed(2)).join(' / ') });
  pi.forEach((p, j) => {
    const width = Math.round(p * 80);
    bar.append(
      el('span', {
        className: 'membership',
        style: `width:${width}px;background:${COLOURS[j % COLOURS.length]}`,
      }),
    );
  });
  bar.append(` ${pi.map((p) => p.toFixed(2)).join(' / ')}`);
  return bar;
}

export function renderClients(body: HTMLTableSectionElement, state: FederationState): void {
  const latest = new Map<string, number[]>();
  for (const record of state.history)
    for (const [id, pi] of Object.entries(record.memberships)) latest.set(id, pi);
  const shardOf = new Map<string, number>();
  for (const shard of state.demo ?? []) for (const id of shard.clients) shardOf.set(id, shard.index);
  const open = state.openRound;
  const rows = state.clients.map((c) => {
    let status = c.connected ? (c.status ?? 'connected') : 'disconnected';
    if (c.connected && c.progress !== undefined && c.status === 'training')
      status += ` ${Math.round(c.progress * 100)} %`;
    if (open?.training.includes(c.clientId))
      status += open.received.includes(c.clientId) ? ' · uploaded' : ' · selected';
    const badge = c.connected ? 'badge ok' : 'badge bad';
    return el(
      'tr',
      { className: 'client-row' },
      el('td', {}, el('code', {}, c.clientId)),
      el('td', {}, el('span', { className: badge }, status)),
      el('td', {}, c.budget === undefined ? '–' : String(c.budget)),
      el('td', {}, c.capabilities?.backend ?? '–'),
      el('td', {}, bytes(c.capabilities?.memoryBytes)),
      el('td', {}, c.capabilities ? String(Math.round(c.capabilities.tokensPerSecond)) : '–'),
      el('td', {}, membershipBar(latest.get(c.clientId))),
      el('td', {}, String(c.roundsIncluded)),
      el('td', {}, String(c.exampleCount)),
      el('td', {}, shardOf.has(c.clientId) ? String(shardOf.get(c.clientId)) : '–'),
    );
  });
  if (rows.length === 0)
    rows.push(el('tr', {}, el('td', {}, 'no clients yet: open the join link in a tab or two')));
  body.replaceChildren(...rows);
}

export function renderTimeline(
  list: HTMLOListElement,
  openLine: HTMLElement,
  state: FederationState,
  metrics: FederationMetrics,
): void {
  const items = metrics.rounds.map((r) =>
    el(
      'li',
      { className: r.status, title: r.reason ?? `${r.closedBy}; ${time(r.startedAt)} – ${time(r.closedAt)}` },
      el('strong', {}, `round ${r.round}${r.attempt > 1 ? ` #${r.attempt}` : ''}`),
      el('br'),
      `${r.status} · ${seconds(r.durationMs)}`,
      el('br'),
      `${r.participants}/${r.selected} in${r.missing ? `, ${r.missing} missing` : ''}`,
    ),
  );
  const open = state.openRound;
  if (open) {
    items.push(
      el(
        'li',
        { className: 'open' },
        el('strong', {}, `round ${open.round}${open.attempt > 1 ? ` #${open.attempt}` : ''}`),
        el('br'),
        'training',
        el('br'),
        `${open.received.length}/${open.training.length} updates`,
      ),
    );
  }
  list.replaceChildren(...items);
  const left = open ? Math.max(0, open.deadline - Date.now()) : 0;
  openLine.textContent = open
    ? `Round ${open.round} open: ${open.received.length} of ${open.training.length} updates, deadline in ${seconds(left)}.`
    : state.phase === 'finished'
      ? `Finished all ${state.totalRounds} rounds.`
      : state.paused
        ? `Paused before round ${state.round}: press Start.`
        : `Waiting for ${state.minClients} ready clients to start round ${state.round} (${state.clients.filter((c) => c.connected && c.budget !== undefined).length} ready).`;
}

/** A number in short form: 4 significant digits, exponent notation for small deltas (1e-5, 2.5e-6). */
function short(value: number): string {
  const rounded = Number(value.toPrecision(4));
  return rounded !== 0 && Math.abs(rounded) < 1e-3 ? rounded.toExponential() : String(rounded);
}

/** The privacy readout: the accountant's epsilon so far, or that DP is off. */
export function renderPrivacy(node: HTMLElement, privacy: PrivacyMetrics): void {
  if (!privacy.enabled) {
    node.textContent = 'differential privacy: off';
    node.className = 'badge';
    node.title = 'updates are aggregated without clipping to a DP bound or noise (strategyOptions.dp unset)';
    return;
  }
  const rounds = `${privacy.rounds} round${privacy.rounds === 1 ? '' : 's'}`;
  node.textContent = `privacy: epsilon = ${short(privacy.epsilon)} at delta = ${short(privacy.delta)} after ${rounds}`;
  node.className = 'badge ok';
  node.title =
    `Gaussian mechanism: noise multiplier ${privacy.noiseMultiplier}, clip norm ${privacy.clipNorm}, ` +
    `sum divided by ${privacy.expectedParticipants}; RDP accountant at sampling rate ${privacy.samplingRate} ` +
    '(valid when each client takes part in a round independently with that probability)';
}

export function renderRefusals(
  body: HTMLTableSectionElement,
  counts: HTMLElement,
  recent: readonly RefusalEntry[],
  byCode: Record<string, number | undefined>,
  total: number,
): void {
  const rows = [...recent]
    .reverse()
    .slice(0, 50)
    .map((r) =>
      el(
        'tr',
        {},
        el('td', {}, time(r.at)),
        el('td', {}, r.event),
        el('td', {}, el('code', {}, r.code)),
        el('td', {}, r.clientId ?? r.socketId ?? '?'),
        el('td', { className: 'reason' }, r.reason),
      ),
    );
  body.replaceChildren(...rows);
  const parts = Object.entries(byCode).map(([code, n]) => `${code} ${n ?? 0}`);
  counts.textContent = total === 0 ? '(none)' : `(${total}: ${parts.join(', ')})`;
}

export function describeEvent(event: FederationEvent): string {
  const who = event.federation === '' ? 'server' : event.federation;
  switch (event.type) {
    case 'client-joined':
      return `${who}: ${event.clientId} ${event.resumed ? 'reconnected' : 'joined'}`;
    case 'client-left':
      return `${who}: ${event.clientId} left`;
    case 'capabilities':
      return `${who}: ${event.clientId} reported capabilities, budget ${event.budget}`;
    case 'round-started':
      return `${who}: round ${event.round} started with ${event.selected.length} clients`;
    case 'update-accepted':
      return `${who}: round ${event.round} update from ${event.clientId} (${bytes(event.bytes)})`;
    case 'round-closed':
      return `${who}: round ${event.record.round} ${event.record.status} (${event.record.participants.length} updates)`;
    case 'checkpoint':
      return `${who}: checkpoint, next round ${event.nextRound}`;
    case 'refused':
      return `${who}: refused ${event.entry.event}: ${event.entry.code}: ${event.entry.reason}`;
    case 'run-state':
      return `${who}: ${event.paused ? 'paused' : 'started'}`;
    case 'demo-shard':
      return `${who}: ${event.clientId} got demo shard ${event.index}`;
    case 'finished':
      return `${who}: finished`;
  }
}
