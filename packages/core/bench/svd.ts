import {
  environment,
  markdownTable,
  writeBenchJson,
  writeBenchSection,
} from '../../adapters/bench/lib/report';
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
 * bench:svd — server-side cost of FedHFT's personalized download and aggregation: randomized versus exact
 * truncated SVD (rank 32) of LoRA-like deltas at USE Lite's shapes, and one streaming aggregation step.
 * Writes docs/bench/svd.json and its section of docs/BENCHMARKS.md.
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

const svdRows: { shape: string; method: string; ms: number; relativeError: number; vsOptimal: number }[] = [];
{
  {
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
      const shape = `${dOut}x${dIn}`;
      svdRows.push({
        shape,
        method: 'exact SVD',
        ms: exactMs,
        relativeError: exact.relativeError,
        vsOptimal: 1,
      });
      console.log(`${shape} exact SVD: ${exactMs.toFixed(0)} ms`);
      for (const powerIterations of [0, 1, 2]) {
        const svd = randomizedSvd(matrix, dOut, dIn, 32, { powerIterations });
        const ms = time(() => randomizedSvd(matrix, dOut, dIn, 32, { powerIterations }), 5);
        svdRows.push({
          shape,
          method: `randomized, ${powerIterations} power iterations`,
          ms,
          relativeError: svd.relativeError,
          vsOptimal: svd.relativeError / exact.relativeError,
        });
        console.log(`${shape} randomized q=${powerIterations}: ${ms.toFixed(0)} ms`);
      }
    }
  }
}

let aggregationMs = 0;
{
  {
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
    aggregationMs = ms;
    console.log(`ClusterAggregator.add 1536x512 r=32, 768 rows, K_c=4: ${ms.toFixed(1)} ms`);
  }
}

const env = environment('bench:svd', 'none (plain TypeScript)');
await writeBenchJson('svd', { environment: env, rank: 32, svd: svdRows, aggregationAddMs: aggregationMs });
await writeBenchSection(
  'svd',
  `### Server: re-factorisation and aggregation (\`${env.command}\`)\n\nRank-32 truncated SVD of a LoRA-like delta (four rank-32 updates plus noise), median of repeated runs, measured ${env.date.slice(0, 10)}; error relative to the optimal rank-32 truncation.\n\n${markdownTable(
    ['shape', 'method', 'ms', 'relative error', 'x optimal'],
    svdRows.map((r) => [
      r.shape,
      r.method,
      r.ms.toFixed(0),
      r.relativeError.toFixed(4),
      r.vsOptimal.toFixed(3),
    ]),
  )}\n\nOne streaming \`ClusterAggregator.add\` of a 1536x512 rank-32 update keeping 768 rows into 4 clusters: ${aggregationMs.toFixed(1)} ms.`,
);
