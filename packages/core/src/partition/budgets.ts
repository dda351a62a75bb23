import { validateBudget } from '../masks';
import { seededRandom } from '../random';
import { permutation } from './sampling';
import { checkSeed, positiveInt } from './validate';

/**
 * Resource budgets s_k for nClients clients: levels[i] goes to a share proportions[i] of them. Counts follow the
 * largest-remainder rule, so each is floor or ceil of proportion * nClients and they sum to nClients (ties go to
 * the earlier level); a seeded shuffle then decides who gets which.
 */
export function assignBudgets(
  nClients: number,
  levels: readonly number[] = [1, 0.5, 0.25],
  proportions: readonly number[] = levels.map(() => 1 / levels.length),
  seed: number | string = 0,
): number[] {
  positiveInt(nClients, 'nClients');
  checkSeed(seed);
  if (levels.length === 0) throw new Error('levels must not be empty');
  if (proportions.length !== levels.length) {
    throw new Error(`got ${proportions.length} proportions for ${levels.length} levels`);
  }
  levels.forEach((level) => validateBudget(level));
  let total = 0;
  for (const p of proportions) {
    if (!Number.isFinite(p) || p < 0) throw new Error(`proportions must be non-negative numbers, got ${p}`);
    total += p;
  }
  if (Math.abs(total - 1) > 1e-9) throw new Error(`proportions sum to ${total}, not 1`);
  const exact = proportions.map((p) => p * nClients);
  const counts = exact.map((x) => Math.floor(x + 1e-9)); // 1e-9: 0.3 * 10 must count 3, not 2.9999...
  const order = exact
    .map((_, i) => i)
    .sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!) || a - b);
  let left = nClients - counts.reduce((s, c) => s + c, 0);
  for (const i of order) {
    if (left <= 0) break;
    counts[i]! += 1;
    left--;
  }
  const budgets: number[] = [];
  counts.forEach((count, i) => budgets.push(...new Array<number>(count).fill(levels[i]!)));
  return Array.from(permutation(nClients, seededRandom(`budgets:${seed}`)), (i) => budgets[i]!);
}
