function pairs(count: number): number {
  return (count * (count - 1)) / 2;
}

function assertLabels(labels: ArrayLike<number>, label: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (!Number.isInteger(labels[i]))
      throw new Error(`${label}[${i}] = ${labels[i]} is not an integer label`);
  }
}

/**
 * Adjusted Rand index (Hubert and Arabie 1985) of two labelings of the same points: 1 for identical partitions
 * up to renaming, about 0 for independent ones (it can go negative). Labels are arbitrary integers.
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`labelings differ in length: ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new Error('cannot compare empty labelings');
  assertLabels(a, 'a');
  assertLabels(b, 'b');
  if (a.length === 1) return 1; // one point: one partition
  const joint = new Map<string, number>();
  const rowsA = new Map<number, number>();
  const rowsB = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    const key = `${a[i]},${b[i]}`;
    joint.set(key, (joint.get(key) ?? 0) + 1);
    rowsA.set(a[i]!, (rowsA.get(a[i]!) ?? 0) + 1);
    rowsB.set(b[i]!, (rowsB.get(b[i]!) ?? 0) + 1);
  }
  let index = 0;
  for (const count of joint.values()) index += pairs(count);
  let sumA = 0;
  for (const count of rowsA.values()) sumA += pairs(count);
  let sumB = 0;
  for (const count of rowsB.values()) sumB += pairs(count);
  const expected = (sumA * sumB) / pairs(a.length);
  const maximum = (sumA + sumB) / 2;
  // A zero denominator means both are one cluster or both all singletons: the same partition.
  if (maximum === expected) return 1;
  return (index - expected) / (maximum - expected);
}
