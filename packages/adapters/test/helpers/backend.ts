import { activateBackend } from '../../src/backend';

/** Node tests run on wasm (fast) unless TFJS_BACKEND=cpu is set. */
export async function useTestBackend(): Promise<void> {
  const wanted = process.env.TFJS_BACKEND === 'cpu' ? 'cpu' : 'wasm';
  await activateBackend([wanted]);
}
