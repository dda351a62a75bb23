import seedrandom from 'seedrandom';

/** A named, labelled text-classification set; `labels[i]` is an index into `labelNames`. */
export interface LabelledDataset {
  name: string;
  labelNames: string[];
  texts: string[];
  labels: number[];
}

/** Throws with the dataset's name and the first problem found; returns the dataset for chaining. */
export function validateDataset(dataset: LabelledDataset): LabelledDataset {
  if (typeof dataset !== 'object' || dataset === null) throw new Error('dataset must be an object');
  const where = `dataset '${String(dataset.name)}'`;
  const { labelNames, texts, labels } = dataset;
  if (!Array.isArray(labelNames) || !Array.isArray(texts) || !Array.isArray(labels)) {
    throw new Error(`${where}: labelNames, texts and labels must be arrays`);
  }
  if (labelNames.length === 0) throw new Error(`${where}: labelNames is empty`);
  const seen = new Set<string>();
  labelNames.forEach((name, i) => {
    if (typeof name !== 'string' || name === '') throw new Error(`${where}: labelNames[${i}] is not a name`);
    if (seen.has(name)) throw new Error(`${where}: label name '${name}' appears twice`);
    seen.add(name);
  });
  if (texts.length !== labels.length) {
    throw new Error(`${where}: ${texts.length} texts but ${labels.length} labels`);
  }
  texts.forEach((text, i) => {
    if (typeof text !== 'string' || text.trim() === '') throw new Error(`${where}: texts[${i}] is empty`);
  });
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= labelNames.length) {
      throw new Error(`${where}: labels[${i}] = ${String(label)} is not in [0, ${labelNames.length})`);
    }
  });
  return dataset;
}

/** Examples per class, indexed like labelNames. */
export function labelCounts(dataset: LabelledDataset): number[] {
  const counts = new Array<number>(dataset.labelNames.length).fill(0);
  for (const label of dataset.labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

/**
 * `n` examples (all of them when n >= size), stratified: every prefix of the seeded order below keeps each
 * class's share to within one example, so small subsamples of skewed sets still contain the rare classes.
 * The same (dataset, n, seed) always gives the same rows in the same (shuffled) order.
 */
export function subsample(dataset: LabelledDataset, n: number, seed: number | string): LabelledDataset {
  if (!Number.isInteger(n) || n < 0) throw new Error(`subsample: n must be a non-negative integer, got ${n}`);
  const random = seedrandom(`subsample:${seed}`);
  const picked = stratifiedOrder(dataset.labels, random).slice(0, n);
  return pick(dataset, shuffle(picked, random), `${dataset.name}[subsample ${picked.length}]`);
}

/**
 * Disjoint parts with sizes round(cumulative fraction * size) apart, each stratified like `subsample` and
 * shuffled. Fractions must be positive and sum to at most 1; what a sum below 1 leaves over is dropped.
 */
export function splitDataset(
  dataset: LabelledDataset,
  fractions: readonly number[],
  seed: number | string,
): LabelledDataset[] {
  if (fractions.length === 0) throw new Error('splitDataset: no fractions given');
  if (fractions.some((f) => !(f > 0 && f <= 1))) {
    throw new Error(`splitDataset: fractions must be in (0, 1], got [${fractions.join(', ')}]`);
  }
  const total = fractions.reduce((sum, f) => sum + f, 0);
  // A little slack so that e.g. [0.7, 0.2, 0.1] (0.9999999999999999 or 1.0000000000000002) is accepted.
  if (total > 1 + 1e-9) throw new Error(`splitDataset: fractions sum to ${total}, more than 1`);
  const random = seedrandom(`split:${seed}`);
  const order = stratifiedOrder(dataset.labels, random);
  const size = dataset.labels.length;
  let cumulative = 0;
  let start = 0;
  return fractions.map((fraction, part) => {
    cumulative += fraction;
    const end = Math.min(size, Math.round(Math.min(cumulative, 1) * size));
    const rows = shuffle(order.slice(start, end), random);
    start = end;
    return pick(dataset, rows, `${dataset.name}[part ${part + 1}/${fractions.length}]`);
  });
}

/**
 * All row indices, ordered so that any prefix is stratified: each class's rows are shuffled, the k-th of a
 * class of size c gets the key (k + u) / c with u uniform in [0, 1), and rows are sorted by key.
 */
function stratifiedOrder(labels: readonly number[], random: () => number): number[] {
  const byClass = new Map<number, number[]>();
  labels.forEach((label, row) => {
    const rows = byClass.get(label);
    if (rows) rows.push(row);
    else byClass.set(label, [row]);
  });
  const keyed: { row: number; key: number }[] = [];
  // Map iteration follows first appearance, which is itself deterministic for a given dataset.
  for (const rows of byClass.values()) {
    shuffle(rows, random).forEach((row, k) => keyed.push({ row, key: (k + random()) / rows.length }));
  }
  keyed.sort((a, b) => a.key - b.key || a.row - b.row);
  return keyed.map((entry) => entry.row);
}

/** Fisher-Yates in place; returns the same array. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function pick(dataset: LabelledDataset, rows: readonly number[], name: string): LabelledDataset {
  return {
    name,
    labelNames: [...dataset.labelNames],
    texts: rows.map((row) => dataset.texts[row] as string),
    labels: rows.map((row) => dataset.labels[row] as number),
  };
}
