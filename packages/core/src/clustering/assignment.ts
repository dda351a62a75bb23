/**
 * Minimum-cost assignment of every row to a distinct column (Hungarian method with potentials, O(n^2 m)) for an
 * n x m cost matrix with n <= m. Returns the column of each row. Ties resolve deterministically.
 */
export function minCostAssignment(cost: readonly ArrayLike<number>[]): Int32Array {
  const n = cost.length;
  if (n === 0) return new Int32Array(0);
  const m = cost[0]!.length;
  if (n > m) throw new Error(`cannot assign ${n} rows to ${m} columns`);
  cost.forEach((row, i) => {
    if (row.length !== m) throw new Error(`cost row ${i} has ${row.length} values, expected ${m}`);
    for (let j = 0; j < m; j++) {
      if (!Number.isFinite(row[j]!)) throw new Error(`cost[${i}][${j}] = ${row[j]} is not finite`);
    }
  });
  // 1-based arrays; column 0 is a virtual column holding the row being inserted.
  const u = new Float64Array(n + 1); // row potentials
  const v = new Float64Array(m + 1); // column potentials
  const rowOfColumn = new Int32Array(m + 1); // 0 = free
  const previous = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    rowOfColumn[0] = i;
    let column = 0;
    const slack = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    // Grow a tree of tight edges from row i until it reaches a free column (Dijkstra on reduced costs).
    do {
      used[column] = 1;
      const row = rowOfColumn[column]!;
      let delta = Infinity;
      let next = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const reduced = cost[row - 1]![j - 1]! - u[row]! - v[j]!;
        if (reduced < slack[j]!) {
          slack[j] = reduced;
          previous[j] = column;
        }
        if (slack[j]! < delta) {
          delta = slack[j]!;
          next = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[rowOfColumn[j]!]! += delta;
          v[j]! -= delta;
        } else {
          slack[j]! -= delta;
        }
      }
      column = next;
    } while (rowOfColumn[column] !== 0);
    // Flip the augmenting path back to the virtual column.
    do {
      const back = previous[column]!;
      rowOfColumn[column] = rowOfColumn[back]!;
      column = back;
    } while (column !== 0);
  }
  const assignment = new Int32Array(n);
  for (let j = 1; j <= m; j++) if (rowOfColumn[j]! > 0) assignment[rowOfColumn[j]! - 1] = j - 1;
  return assignment;
}
