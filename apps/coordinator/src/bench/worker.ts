/**
 * A benchmark worker process: loads the encoder once, then runs the cells its parent sends (over the IPC channel
 * of child_process.fork) one at a time. tfjs' wasm backend is single-threaded in Node, so one worker per core
 * multiplies throughput without changing any figure a run measures.
 */
import { activateBackend, installMemoryMeter } from '@fedhft/adapters';
import type { SourceData } from '../simulate/data';
import { loadEncoder } from '../simulate/encoders';
import type { ParentMessage, WorkerMessage } from './pool';
import { runCell } from './run-cell';

const send = (message: WorkerMessage) => process.send?.(message);

await activateBackend(['wasm']);
// Before the encoder loads, so client peaks include its weights.
installMemoryMeter();
const encoder = await loadEncoder(process.env.FEDHFT_BENCH_ENCODER ?? 'use-lite');
const sources = new Map<string, SourceData>();
let queue = Promise.resolve();

process.on('message', (message: ParentMessage) => {
  if (message.type === 'exit') {
    void queue.then(() => {
      encoder.dispose();
      process.disconnect();
    });
    return;
  }
  queue = queue.then(async () => {
    const outcome = await runCell(message.config, message.name, encoder, sources);
    send({ type: 'done', index: message.index, outcome });
  });
});
send({ type: 'ready' });
