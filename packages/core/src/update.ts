/**
 * What clients and the server exchange, transport-free. Shapes follow FedHFT's convention: an adapted weight's
 * update is dW = scale * B_full A in R^{dOut x dIn}, where B_full holds B's rows at `rows` and zeros elsewhere.
 */

/** Wire/protocol version of updates and offers; a decoder refuses any other. */
export const PROTOCOL_VERSION = 1;

/** LoRA factors of one adapted weight, with only the kept output rows of B. */
export interface MaskedFactors {
  readonly dOut: number;
  readonly dIn: number;
  readonly rank: number;
  /** Kept output rows, strictly ascending, in [0, dOut). */
  readonly rows: Int32Array;
  /** Row-major [rank, dIn]. */
  readonly A: Float32Array;
  /** Row-major [rows.length, rank]: row i is output row rows[i]. */
  readonly B: Float32Array;
  /** alpha / rank. */
  readonly scale: number;
}

/** A dense tensor (full fine-tuning uploads every encoder weight this way). */
export interface DenseTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Classification head: logits = x kernel + bias. */
export interface HeadParams {
  readonly embeddingSize: number;
  readonly numClasses: number;
  /** Row-major [embeddingSize, numClasses]. */
  readonly kernel: Float32Array;
  /** [numClasses]. */
  readonly bias: Float32Array;
}

/** One client's result for one round. */
export interface ClientUpdate {
  readonly protocolVersion: number;
  readonly clientId: string;
  readonly round: number;
  /** N_k: training examples behind this update (for sample-weighted aggregation). */
  readonly exampleCount: number;
  /** LoRA strategies: weight name -> masked factors. */
  readonly adapters: ReadonlyMap<string, MaskedFactors>;
  /** Full fine-tuning: weight name -> trained minus starting value. Empty for LoRA strategies. */
  readonly dense: ReadonlyMap<string, DenseTensor>;
  readonly head: HeadParams;
}
