export function positiveInt(value: number, label: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${label} must be a positive integer, got ${value}`);
  return value;
}

export function nonNegativeInt(value: number, label: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${label} must be a non-negative integer, got ${value}`);
  return value;
}

export function checkSeed(seed: unknown): asserts seed is number | string {
  if (typeof seed === 'number' ? !Number.isFinite(seed) : typeof seed !== 'string') {
    throw new Error(`seed must be a finite number or a string, got ${String(seed)}`);
  }
}

/** Each client's indices, ascending, as Int32Arrays. */
export function sortedClients(clients: readonly number[][]): Int32Array[] {
  return clients.map((indices) => Int32Array.from(indices).sort());
}
