import type { ModelFiles } from './model-files';
import { readJsonFile } from './model-files';

/** One named array from a tfjs weights manifest. */
export interface NamedArray {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseSpec(raw: unknown, where: string): WeightSpec {
  if (!isRecord(raw)) throw new Error(`${where}: weight spec is not an object`);
  const { name, shape, dtype } = raw;
  if (typeof name !== 'string' || name.length === 0) throw new Error(`${where}: weight without a name`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new Error(`${where}: weight ${name} has an invalid shape`);
  }
  if (typeof dtype !== 'string') throw new Error(`${where}: weight ${name} has no dtype`);
  return { name, shape: shape as number[], dtype, quantization: raw.quantization };
}

/**
 * Reads every weight of a tfjs model.json (graph or layers model) from its shards. Validates the manifest,
 * dtypes and byte counts, and names the offending weight or file when something is wrong.
 */
export async function readTfjsWeights(
  files: ModelFiles,
  modelJsonPath = 'model.json',
): Promise<{ topology: unknown; weights: Map<string, NamedArray> }> {
  const model = await readJsonFile(files, modelJsonPath);
  if (!isRecord(model) || !Array.isArray(model.weightsManifest)) {
    throw new Error(`${modelJsonPath} from ${files.origin} has no weightsManifest`);
  }
  const weights = new Map<string, NamedArray>();
  for (const [groupIndex, group] of model.weightsManifest.entries()) {
    const where = `${modelJsonPath} weightsManifest[${groupIndex}]`;
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new Error(`${where}: expected {paths, weights}`);
    }
    const shards = await Promise.all(
      group.paths.map((p) => {
        if (typeof p !== 'string') throw new Error(`${where}: shard path is not a string`);
        return files.read(p);
      }),
    );
    const total = shards.reduce((n, s) => n + s.byteLength, 0);
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const shard of shards) {
      bytes.set(new Uint8Array(shard), offset);
      offset += shard.byteLength;
    }
    offset = 0;
    for (const rawSpec of group.weights) {
      const spec = parseSpec(rawSpec, where);
      if (spec.quantization !== undefined) throw new Error(`weight ${spec.name} is quantized; not supported`);
      if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
        throw new Error(`weight ${spec.name} has unsupported dtype ${spec.dtype}`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const byteLength = count * 4;
      if (offset + byteLength > total) {
        throw new Error(
          `weight ${spec.name} needs bytes up to ${offset + byteLength} but the shards hold ${total}`,
        );
      }
      // Copy so each array owns aligned memory independent of the shard buffer.
      const slice = bytes.slice(offset, offset + byteLength).buffer;
      const data = spec.dtype === 'float32' ? new Float32Array(slice) : new Int32Array(slice);
      weights.set(spec.name, { shape: spec.shape, data });
      offset += byteLength;
    }
    if (offset !== total)
      throw new Error(`${where}: shards hold ${total} bytes but the manifest uses ${offset}`);
  }
  return { topology: model.modelTopology, weights };
}
