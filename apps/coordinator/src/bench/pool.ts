import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimulationConfig } from '../simulate/config';
import type { CellOutcome } from './run-cell';

/** Parent -> worker. */
export type ParentMessage =
  | { readonly type: 'run'; readonly index: number; readonly name: string; readonly config: SimulationConfig }
  | { readonly type: 'exit' };

/** Worker -> parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly index: number; readonly outcome: CellOutcome };

export interface PoolTask {
  readonly index: number;
  readonly name: string;
  readonly config: SimulationConfig;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/**
 * Runs tasks on `jobs` forked workers, handing the next task to whichever worker finishes first (cells differ
 * in cost several-fold, so a static split would leave a core idle). Tasks should be ordered most expensive
 * first. A worker that dies fails its task and is not replaced; the others drain the queue.
 */
export async function runOnWorkers(
  tasks: readonly PoolTask[],
  jobs: number,
  encoder: string,
  onDone: (task: PoolTask, outcome: CellOutcome) => void,
): Promise<void> {
  const pending = [...tasks];
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(jobs, tasks.length); w++) {
    workers.push(
      new Promise<void>((resolve) => {
        // tsx's loader runs the worker's TypeScript whatever started the parent (tsx, vitest).
        const child: ChildProcess = fork(WORKER, [], {
          execArgv: ['--import', 'tsx'],
          env: { ...process.env, FEDHFT_BENCH_ENCODER: encoder },
          serialization: 'advanced',
        });
        let current: PoolTask | undefined;
        const next = () => {
          current = pending.shift();
          child.send(
            current
              ? ({
                  type: 'run',
                  index: current.index,
                  name: current.name,
                  config: current.config,
                } as ParentMessage)
              : ({ type: 'exit' } as ParentMessage),
          );
        };
        child.on('message', (message: WorkerMessage) => {
          if (message.type === 'done' && current) onDone(current, message.outcome);
          next();
        });
        child.on('exit', (code, signal) => {
          if (current)
            onDone(current, { error: `worker exited (${signal ?? `code ${code}`}) during this run` });
          current = undefined;
          resolve();
        });
      }),
    );
  }
  await Promise.all(workers);
  // Only when every worker died early: the tasks nobody took fail rather than vanish from the report.
  for (const task of pending.splice(0)) onDone(task, { error: 'no worker left to run this task' });
}
