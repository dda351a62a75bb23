import { describe, expect, it } from 'vitest';
import {
  ClusterAggregator,
  exactTruncatedSvd,
  gaussianFrom,
  PROTOCOL_VERSION,
  randomizedSvd,
  seededRandom,
  seededRows,
} from '../src/index';

/*
 * Timings, not checks: run with `FEDHFT_BENCH=1 npx vitest run packages/core/test/linalg-bench.test.ts`.
 * Skipped otherwise so the unit suite stays fast and free of machine-dependent numbers.
 */

function gaussianArray(length: number, seed: string): Float32Array {
  const next = gaussianFrom(seededRandom(seed));
  return Float32Array.from({ length }, () => next());
}

function median(times: number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

function time(run: () => void, repeats: number): number {
  run(); // warm-up: let the JIT compile the kernels
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return median(times);
}

describe.skipIf(!process.env.FEDHFT_BENCH)('benchmarks', () => {
  it('randomized vs exact truncated SVD, rank 32', () => {
    const rows: string[] = [];
    for (const [dOut, dIn] of [
      [512, 512],
      [1536, 512],
    ] as const) {
      // A LoRA-like delta: a sum of rank-32 updates plus small noise, so the spectrum decays but is full rank.
      const matrix = gaussianArray(dOut * dIn, `noise${dOut}`).map((v) => 0.01 * v);
      for (let update = 0; update < 4; update++) {
        const B = gaussianArray(dOut * 32, `B${update}`);
        const A = gaussianArray(32 * dIn, `A${update}`);
        for (let i = 0; i < dOut; i++) {
          for (let p = 0; p < 32; p++) {
            const b = B[i * 32 + p]! / (update + 1);
            for (let j = 0; j < dIn; j++) matrix[i * dIn + j]! += b * A[p * dIn + j]!;
          }
        }
      }
      const exact = exactTruncatedSvd(matrix, dOut, dIn, 32);
      const exactMs = time(() => exactTruncatedSvd(matrix, dOut, dIn, 32), 2);
      rows.push(
        `${dOut}x${dIn} exact SVD: ${exactMs.toFixed(0)} ms, relative error ${exact.relativeError.toFixed(4)}`,
      );
      for (const powerIterations of [0, 1, 2]) {
        const svd = randomizedSvd(matrix, dOut, dIn, 32, { powerIterations });
        const ms = time(() => randomizedSvd(matrix, dOut, dIn, 32, { powerIterations }), 5);
        rows.push(
          `${dOut}x${dIn} randomized q=${powerIterations}: ${ms.toFixed(0)} ms, relative error ` +
            `${svd.relativeError.toFixed(4)} (x${(svd.relativeError / exact.relativeError).toFixed(4)} optimal)`,
        );
        expect(svd.relativeError).toBeGreaterThanOrEqual(exact.relativeError * (1 - 1e-6));
      }
    }
    console.log(rows.join('\n'));
  });

  it('ClusterAggregator.add: 1536x512 rank-32 update, half the rows, 4 clusters', () => {
    const [dOut, dIn, rank] = [1536, 512, 32];
    const rows = seededRows(dOut, dOut / 2, 'bench');
    const update = {
      protocolVersion: PROTOCOL_VERSION,
      clientId: '',
      round: 1,
      exampleCount: 100,
      adapters: new Map([
        [
          'qkv',
          {
            dOut,
            dIn,
            rank,
            rows,
            B: gaussianArray(rows.length * rank, 'B'),
            A: gaussianArray(rank * dIn, 'A'),
            scale: 1,
          },
        ],
      ]),
      dense: new Map(),
      head: { embeddingSize: 512, numClasses: 2, kernel: new Float32Array(1024), bias: new Float32Array(2) },
    };
    const aggregator = new ClusterAggregator({ clusters: 4 });
    let client = 0;
    const ms = time(
      () => aggregator.add({ ...update, clientId: `c${client++}` }, Float64Array.from([0.4, 0.3, 0.2, 0.1])),
      5,
    );
    console.log(
      `ClusterAggregator.add 1536x512 r=32, 768 rows, K_c=4: ${ms.toFixed(1)} ms; buffer ${aggregator.bufferFloats()} floats`,
    );
  });
});
