/** Classification quality of predicted class ids against true labels. */
export interface ClassificationMetrics {
  /** Fraction of examples whose prediction equals the label. */
  readonly accuracy: number;
  /**
   * Mean F1 over the classes that occur in the labels or in the predictions. A class that occurs in neither has
   * F1 = 0/0; counting it as 0 would punish a client whose local split lacks classes (label skew is the normal
   * case in FedHFT's non-IID setting), counting it as 1 would reward it, so such classes are left out.
   */
  readonly macroF1: number;
  /** confusion[label][prediction] = number of examples. */
  readonly confusion: number[][];
}

function assertClassIds(values: ArrayLike<number>, numClasses: number, label: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new Error(`${label}[${i}] = ${v} is not a class id in [0, ${numClasses})`);
    }
  }
}

export function classificationMetrics(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): ClassificationMetrics {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  }
  if (predictions.length !== labels.length) {
    throw new Error(`got ${predictions.length} predictions for ${labels.length} labels`);
  }
  if (labels.length === 0) throw new Error('cannot compute metrics of an empty set');
  assertClassIds(predictions, numClasses, 'predictions');
  assertClassIds(labels, numClasses, 'labels');

  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    const prediction = predictions[i]!;
    confusion[label]![prediction]! += 1;
    if (label === prediction) correct++;
  }

  let f1Sum = 0;
  let present = 0;
  for (let c = 0; c < numClasses; c++) {
    const tp = confusion[c]![c]!;
    let actual = 0; // tp + fn
    let predicted = 0; // tp + fp
    for (let k = 0; k < numClasses; k++) {
      actual += confusion[c]![k]!;
      predicted += confusion[k]![c]!;
    }
    if (actual + predicted === 0) continue;
    f1Sum += (2 * tp) / (actual + predicted);
    present++;
  }
  return { accuracy: correct / labels.length, macroF1: f1Sum / present, confusion };
}
