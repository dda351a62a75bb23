import { seededRandom } from '../random';
import { permutation } from './sampling';
import { checkSeed, positiveInt, sortedClients } from './validate';

/**
 * Partition by group key (source document, genre, author...): every group goes whole to one client, so clients
 * differ in what they write about, not only in labels. Groups are placed largest first on the client holding
 * the fewest examples so far (the LPT rule), which keeps sizes close; a seeded shuffle decides among groups of
 * equal size. Needs at least as many groups as clients.
 */
export function groupPartition(
  groups: ArrayLike<string | number>,
  nClients: number,
  seed: number | string,
): Int32Array[] {
  positiveInt(nClients, 'nClients');
  checkSeed(seed);
  const members = new Map<string | number, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const key = groups[i]!;
    if (typeof key !== 'string' && !(typeof key === 'number' && Number.isFinite(key))) {
      throw new Error(`groups[${i}] must be a string or a finite number, got ${String(key)}`);
    }
    const list = members.get(key);
    if (list) list.push(i);
    else members.set(key, [i]);
  }
  const lists = [...members.values()];
  if (lists.length < nClients)
    throw new Error(`${lists.length} groups cannot give each of ${nClients} clients one`);
  const order = Array.from(permutation(lists.length, seededRandom(`group:${seed}`)), (i) => lists[i]!);
  order.sort((a, b) => b.length - a.length); // stable: equal sizes keep the shuffled order
  const clients: number[][] = Array.from({ length: nClients }, () => []);
  for (const list of order) {
    let smallest = 0;
    for (let k = 1; k < nClients; k++) if (clients[k]!.length < clients[smallest]!.length) smallest = k;
    clients[smallest]!.push(...list);
  }
  return sortedClients(clients);
}
