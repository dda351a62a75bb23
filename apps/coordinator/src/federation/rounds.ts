import { seededRandom } from '@fedhft/core';

/** Round helpers the simulator and the socket.io coordinator share, so both select clients alike. */

/**
 * ceil-free selection: round(participation x clients), at least one, drawn by a seeded shuffle per round.
 * `stream` names the random stream ('simulate' for the simulator, whose runs it keeps reproducible).
 */
export function selectClients(
  ids: readonly string[],
  participation: number,
  seed: number,
  round: number,
  stream = 'simulate',
): string[] {
  const count = Math.max(1, Math.round(participation * ids.length));
  if (count >= ids.length) return [...ids];
  const random = seededRandom(`${stream}:select:${seed}:${round}`);
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, count).sort();
}
