import cliProgress from 'cli-progress';

export interface StepProgress {
  update(done: number, loss?: number): void;
  stop(): void;
}

/**
 * Progress of a long loop for command-line tools: a live bar on a terminal; elsewhere (CI logs, files) a plain
 * line at most every `everyMs`, because a bar's redraws are invisible there and timers starve while tfjs
 * computes synchronously.
 */
export function stepProgress(label: string, total: number, everyMs = 10_000): StepProgress {
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | loss {loss} | {duration_formatted}`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-' });
    return {
      update: (done, loss) => bar.update(done, { loss: loss === undefined ? '-' : loss.toFixed(3) }),
      stop: () => bar.stop(),
    };
  }
  const started = Date.now();
  let lastPrint = 0;
  let last = 0;
  let lastLoss: number | undefined;
  const print = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const loss = lastLoss === undefined ? '' : ` loss ${lastLoss.toFixed(3)}`;
    console.log(`${label}: ${last}/${total}${loss} (${seconds} s)`);
    lastPrint = Date.now();
  };
  return {
    update: (done, loss) => {
      last = done;
      lastLoss = loss;
      if (Date.now() - lastPrint >= everyMs || done === total) print();
    },
    stop: () => {
      if (last < total) print();
    },
  };
}
