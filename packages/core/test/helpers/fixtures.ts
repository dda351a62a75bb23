import type { ClientProfile } from '../../src/strategies/strategy';
import type { HeadParams } from '../../src/update';

/** A head whose shape follows its arrays: embeddingSize = kernel.length / bias.length. */
export function head(kernel: ArrayLike<number>, bias: ArrayLike<number>): HeadParams {
  return {
    embeddingSize: kernel.length / bias.length,
    numClasses: bias.length,
    kernel: Float32Array.from(kernel),
    bias: Float32Array.from(bias),
  };
}

export function clientProfile(clientId: string, budget: number, exampleCount = 1): ClientProfile {
  return { clientId, budget, exampleCount };
}
