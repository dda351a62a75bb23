import type { TokenizedBatch } from './encoder';

/** Truncates each row to `maxLen` tokens and pads to the longest row (at least 1, so shapes stay valid). */
export function padTokenRows(
  rows: readonly (readonly number[])[],
  maxLen: number,
  padId: number,
): TokenizedBatch {
  const lengths = Int32Array.from(rows, (r) => Math.min(r.length, maxLen));
  const seqLen = Math.max(1, ...lengths);
  const ids = new Int32Array(rows.length * seqLen).fill(padId);
  const mask = new Float32Array(rows.length * seqLen);
  rows.forEach((row, i) => {
    const n = lengths[i]!;
    for (let j = 0; j < n; j++) {
      ids[i * seqLen + j] = row[j]!;
      mask[i * seqLen + j] = 1;
    }
  });
  return { batchSize: rows.length, seqLen, ids, mask, lengths };
}
