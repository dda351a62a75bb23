import type { HeadParams } from '../update';
import type { ByteReader, ByteWriter } from './bytes';
import { CodecError } from './errors';
import { checkDim } from './fields';
import type { ResolvedLimits } from './limits';
import { readTensor, writeTensor } from './tensor';
import type { Precision } from './tensor';

/**
 * Head on the wire: u32 embeddingSize, u32 numClasses, kernel class-major [numClasses, embeddingSize], bias
 * [1, numClasses]. Class-major makes int8 scales per class (2 scales for a binary head instead of one per
 * embedding dim, which would cost more than the values).
 */

const U32_MAX = 0xffffffff;
/** Error indices count in the wire's class-major order, so the label says so. */
const KERNEL_LABEL = 'head kernel (class-major)';

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

export function writeHead(writer: ByteWriter, head: HeadParams, precision: Precision): void {
  const embedding = checkDim(head.embeddingSize, U32_MAX, 'head embeddingSize');
  const classes = checkDim(head.numClasses, U32_MAX, 'head numClasses');
  if (head.kernel.length !== embedding * classes) {
    throw new CodecError(
      'shape',
      `head kernel has ${head.kernel.length} values, expected ${embedding * classes}`,
    );
  }
  writer.u32(embedding);
  writer.u32(classes);
  writeTensor(
    writer,
    transpose(head.kernel, embedding, classes),
    classes,
    embedding,
    precision,
    KERNEL_LABEL,
  );
  writeTensor(writer, head.bias, 1, classes, precision, 'head bias');
}

export function readHead(reader: ByteReader, limits: ResolvedLimits): HeadParams {
  const embeddingSize = checkDim(reader.u32('head embeddingSize'), limits.maxEmbedding, 'head embeddingSize');
  const numClasses = checkDim(reader.u32('head numClasses'), limits.maxClasses, 'head numClasses');
  const expected = limits.expectedHead;
  if (expected && (expected.embeddingSize !== embeddingSize || expected.numClasses !== numClasses)) {
    throw new CodecError(
      'shape',
      `head is [${embeddingSize}, ${numClasses}], expected [${expected.embeddingSize}, ${expected.numClasses}]`,
    );
  }
  const kernel = transpose(
    readTensor(reader, numClasses, embeddingSize, KERNEL_LABEL),
    numClasses,
    embeddingSize,
  );
  const bias = readTensor(reader, 1, numClasses, 'head bias');
  return { embeddingSize, numClasses, kernel, bias };
}
