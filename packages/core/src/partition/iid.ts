import { seededRandom } from '../random';
import { permutation } from './sampling';
import { checkSeed, positiveInt, sortedClients } from './validate';

/**
 * IID partition of example indices 0..count-1: a seeded shuffle dealt into nClients parts whose sizes differ by
 * at most one (the first count mod nClients clients get the extra example). Each client's indices ascend.
 */
export function iidPartition(count: number, nClients: number, seed: number | string): Int32Array[] {
  positiveInt(count, 'count');
  positiveInt(nClients, 'nClients');
  checkSeed(seed);
  if (count < nClients) throw new Error(`${count} examples cannot give each of ${nClients} clients one`);
  const order = permutation(count, seededRandom(`iid:${seed}`));
  const clients: number[][] = [];
  const base = Math.floor(count / nClients);
  let start = 0;
  for (let k = 0; k < nClients; k++) {
    const size = base + (k < count % nClients ? 1 : 0);
    clients.push(Array.from(order.subarray(start, start + size)));
    start += size;
  }
  return sortedClients(clients);
}
