import { gaussianFrom, seededRandom } from '../random';

function checkDims(inputDim: number, outputDim: number): void {
  for (const [value, label] of [
    [inputDim, 'inputDim'],
    [outputDim, 'outputDim'],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`${label} must be a positive integer, got ${value}`);
  }
}

/**
 * Dense Gaussian random projection R^D -> R^m with entries N(0, 1/m) (Johnson-Lindenstrauss): distances between
 * clients' features are kept within 1 +- eps with high probability for m ~ log(n) / eps^2. The matrix depends on
 * the seed and the dimensions only, so every client's features land in the same space.
 */
export class GaussianProjection {
  private readonly matrix: Float32Array; // row-major [outputDim, inputDim], already scaled by 1 / sqrt(m)

  constructor(
    readonly inputDim: number,
    readonly outputDim: number,
    seed: number | string,
  ) {
    checkDims(inputDim, outputDim);
    const normal = gaussianFrom(seededRandom(`projection:${seed}:${inputDim}:${outputDim}`));
    const scale = 1 / Math.sqrt(outputDim);
    this.matrix = Float32Array.from({ length: inputDim * outputDim }, () => normal() * scale);
  }

  apply(x: ArrayLike<number>): Float64Array {
    if (x.length !== this.inputDim)
      throw new Error(`input has ${x.length} values, expected ${this.inputDim}`);
    const out = new Float64Array(this.outputDim);
    for (let i = 0; i < this.outputDim; i++) {
      let sum = 0;
      for (let j = 0, offset = i * this.inputDim; j < this.inputDim; j++)
        sum += this.matrix[offset + j]! * x[j]!;
      out[i] = sum;
    }
    return out;
  }
}

/**
 * Random sketch of a dOut x dIn matrix X to m values, f_i = u_i^T X v_i / sqrt(m) with u_i, v_i standard
 * Gaussian vectors (a rank-one, tensor-structured JL projection). E[f_i^2] = ||X||_F^2 / m, so squared norms and
 * distances are preserved in expectation like a dense projection, but it needs m (dOut + dIn) random numbers
 * instead of m dOut dIn, and applies to LoRA factors without forming the delta: u^T (B A) v = (u^T B)(A v).
 */
export class RankOneSketch {
  private readonly u: Float32Array; // [outputDim, dOut]
  private readonly v: Float32Array; // [outputDim, dIn]

  constructor(
    readonly dOut: number,
    readonly dIn: number,
    readonly outputDim: number,
    seed: number | string,
  ) {
    checkDims(dOut * dIn, outputDim);
    const normal = gaussianFrom(seededRandom(`sketch:${seed}:${dOut}x${dIn}:${outputDim}`));
    this.u = Float32Array.from({ length: outputDim * dOut }, normal);
    this.v = Float32Array.from({ length: outputDim * dIn }, normal);
  }

  /**
   * Adds the sketch of scale * B_full A into `out`, where B holds only the output rows `rows` ([rows.length,
   * rank], row-major) and A is [rank, dIn].
   */
  addFactors(
    out: Float64Array,
    rows: Int32Array,
    B: Float32Array,
    A: Float32Array,
    rank: number,
    scale: number,
  ): void {
    const { dOut, dIn, outputDim } = this;
    if (out.length !== outputDim) throw new Error(`output has ${out.length} values, expected ${outputDim}`);
    const norm = scale / Math.sqrt(outputDim);
    const uB = new Float64Array(rank);
    for (let i = 0; i < outputDim; i++) {
      uB.fill(0);
      rows.forEach((row, k) => {
        const weight = this.u[i * dOut + row]!;
        for (let p = 0; p < rank; p++) uB[p]! += weight * B[k * rank + p]!;
      });
      let sum = 0;
      for (let p = 0; p < rank; p++) {
        let av = 0;
        for (let j = 0; j < dIn; j++) av += A[p * dIn + j]! * this.v[i * dIn + j]!;
        sum += uB[p]! * av;
      }
      out[i]! += norm * sum;
    }
  }
}
