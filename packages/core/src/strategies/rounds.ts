import { validateBudget } from '../masks';
import { PROTOCOL_VERSION } from '../update';
import type { ClientUpdate } from '../update';
import type { ClientProfile } from './strategy';

interface OpenRound<T> {
  readonly round: number;
  /** clientId -> what the strategy offered it (null: told to skip). */
  readonly offers: Map<string, T | null>;
  /** Clients whose update was folded in, in arrival order. */
  readonly received: Set<string>;
}

export function checkProfile(client: ClientProfile): void {
  if (client === null || typeof client !== 'object') throw new Error('client profile is missing');
  if (typeof client.clientId !== 'string' || client.clientId === '') {
    throw new Error('client.clientId must be a non-empty string');
  }
  validateBudget(client.budget);
  const n = client.exampleCount;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new Error(`client "${client.clientId}": exampleCount must be a finite number >= 0, got ${n}`);
  }
}

function checkRound(round: number): void {
  if (typeof round !== 'number' || !Number.isInteger(round) || round < 0) {
    throw new Error(`round must be a non-negative integer, got ${round}`);
  }
}

/**
 * The round protocol every strategy shares: offers open a round, updates are accepted only from clients
 * offered training in that round (once each, for that round), finishRound closes it, and rounds only move
 * forward. The check* methods touch nothing, so a strategy can validate everything before it changes any
 * state. T is what the strategy remembers of each offer (plan, masks, starting head) to validate the update
 * against.
 */
export class RoundTracker<T> {
  /** The lowest round number the next round may have. */
  nextRound = 0;
  private open: OpenRound<T> | null = null;

  get isOpen(): boolean {
    return this.open !== null;
  }

  checkOffer(client: ClientProfile, round: number): void {
    checkProfile(client);
    checkRound(round);
    if (this.open === null) {
      if (round < this.nextRound) throw new Error(`round ${round} is over (next round is ${this.nextRound})`);
      return;
    }
    if (round !== this.open.round) {
      throw new Error(`round ${this.open.round} is still open: finish it before offering round ${round}`);
    }
    if (this.open.offers.has(client.clientId)) {
      throw new Error(`client "${client.clientId}" already has an offer for round ${round}`);
    }
  }

  /** Records an offer checked by checkOffer (null for a skip), opening the round if needed. */
  recordOffer(clientId: string, round: number, record: T | null): void {
    this.open ??= { round, offers: new Map(), received: new Set() };
    this.open.offers.set(clientId, record);
  }

  /** Checks an update's envelope against the open round and returns what its client was offered. */
  checkUpdate(update: ClientUpdate, client: ClientProfile): T {
    if (update === null || typeof update !== 'object') throw new Error('update is missing');
    checkProfile(client);
    const who = `update from "${update.clientId}"`;
    if (update.clientId !== client.clientId) {
      throw new Error(`${who} does not match the client profile "${client.clientId}"`);
    }
    if (update.protocolVersion !== PROTOCOL_VERSION) {
      throw new Error(`${who} has protocol version ${update.protocolVersion}, expected ${PROTOCOL_VERSION}`);
    }
    const open = this.open;
    if (open === null) throw new Error(`${who}: no round is open`);
    if (update.round !== open.round)
      throw new Error(`${who} is for round ${update.round}, the open round is ${open.round}`);
    const record = open.offers.get(client.clientId);
    if (record === undefined) throw new Error(`${who}: the client was not offered round ${open.round}`);
    if (record === null) throw new Error(`${who}: the client was told to skip round ${open.round}`);
    if (open.received.has(client.clientId)) throw new Error(`${who} was already received this round`);
    const n = update.exampleCount;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      throw new Error(`${who}: exampleCount must be a finite positive number, got ${n}`);
    }
    return record;
  }

  /**
   * Checks that `clientId` was offered training in the open round `round` and is not received yet (an update
   * folded by another process of a split round); returns what it was offered.
   */
  checkRemote(clientId: string, round: number): T {
    const open = this.open;
    if (open === null || open.round !== round) throw new Error(`round ${round} is not open here`);
    const record = open.offers.get(clientId);
    if (record === undefined || record === null) {
      throw new Error(`"${clientId}" was not offered training in round ${round}`);
    }
    if (open.received.has(clientId)) throw new Error(`"${clientId}" was already received this round`);
    return record;
  }

  /** Clients received so far in the open round, in arrival order. */
  receivedIds(): string[] {
    return [...(this.open?.received ?? [])];
  }

  markReceived(clientId: string): void {
    this.open?.received.add(clientId);
  }

  /**
   * Closes the round (or an empty round nobody was offered) and returns its participants in arrival order.
   */
  finish(round: number): string[] {
    checkRound(round);
    const open = this.open;
    if (open !== null && round !== open.round) {
      throw new Error(`finishRound(${round}) but round ${open.round} is open`);
    }
    if (open === null && round < this.nextRound) {
      throw new Error(`round ${round} is over (next round is ${this.nextRound})`);
    }
    this.open = null;
    this.nextRound = round + 1;
    return [...(open?.received ?? [])];
  }

  /** Snapshots are taken between rounds, when no accumulator holds anything. */
  assertIdle(action: string): void {
    if (this.open !== null)
      throw new Error(`${action} is only possible between rounds (round ${this.open.round} is open)`);
  }
}
