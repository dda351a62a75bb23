/** A labelled text-classification set, as a client holds it. */
export interface LabelledTexts {
  readonly texts: readonly string[];
  /** Class ids in [0, numClasses), one per text. */
  readonly labels: readonly number[];
}

/** Throws with the first problem found: shape mismatch, empty set, non-string text or invalid label. */
export function validateLabelledTexts(data: LabelledTexts, numClasses: number): void {
  if (typeof data !== 'object' || data === null) throw new Error('data must be an object { texts, labels }');
  const { texts, labels } = data;
  if (!Array.isArray(texts) || !Array.isArray(labels))
    throw new Error('data.texts and data.labels must be arrays');
  if (texts.length !== labels.length)
    throw new Error(`data has ${texts.length} texts but ${labels.length} labels`);
  if (texts.length === 0) throw new Error('data is empty');
  texts.forEach((text, i) => {
    if (typeof text !== 'string') throw new Error(`data.texts[${i}] is not a string`);
  });
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(`data.labels[${i}] = ${String(label)} is not a class id in [0, ${numClasses})`);
    }
  });
}
