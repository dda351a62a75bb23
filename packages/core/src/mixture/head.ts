import { validateHead, validateMemberships } from '../aggregation/validate';
import type { HeadParams } from '../update';

/** The personalized starting head sum_j pi_j H_j (a linear mixture, so the server sends it exactly). */
export function mixtureHead(heads: readonly HeadParams[], memberships: ArrayLike<number>): HeadParams {
  if (!Array.isArray(heads) || heads.length === 0)
    throw new Error('heads must be a non-empty array (one per cluster)');
  validateMemberships(memberships, heads.length);
  const first = heads[0]!;
  heads.forEach((head, j) => validateHead(head, `heads[${j}]`, first));
  const kernel = new Float64Array(first.kernel.length);
  const bias = new Float64Array(first.bias.length);
  heads.forEach((head, j) => {
    const pi = memberships[j]!;
    for (let i = 0; i < kernel.length; i++) kernel[i]! += pi * head.kernel[i]!;
    for (let i = 0; i < bias.length; i++) bias[i]! += pi * head.bias[i]!;
  });
  return {
    embeddingSize: first.embeddingSize,
    numClasses: first.numClasses,
    kernel: Float32Array.from(kernel),
    bias: Float32Array.from(bias),
  };
}
