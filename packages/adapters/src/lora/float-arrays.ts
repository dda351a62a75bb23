/** Throws unless `values` is a Float32Array of `length` finite numbers (imports come from the network). */
export function assertFloatArray(
  values: unknown,
  length: number,
  label: string,
): asserts values is Float32Array {
  if (!(values instanceof Float32Array)) throw new Error(`${label} must be a Float32Array`);
  if (values.length !== length) throw new Error(`${label} has ${values.length} values, expected ${length}`);
  for (const v of values) if (!Number.isFinite(v)) throw new Error(`${label} holds a non-finite value`);
}
