/**
 * A deterministic batch whose every row is at least `seqLen` tokens long (worst case for activations), so
 * memory and speed figures do not depend on a dataset's length distribution.
 */
export function fullLengthBatch(batch: number, seqLen: number): { texts: string[]; labels: number[] } {
  const words = 'the film was a quiet and moving study of grief with superb acting but a slow plot'.split(
    ' ',
  );
  const texts = Array.from({ length: batch }, (_, i) =>
    Array.from({ length: seqLen * 2 }, (_, j) => words[(i * 5 + j * 3) % words.length]).join(' '),
  );
  return { texts, labels: texts.map((_, i) => i % 2) };
}
