import * as tf from '@tensorflow/tfjs';
import { classificationMetrics } from '@fedhft/core';
import type { Encoder } from '../encoders/encoder';
import type { LoraAdapters } from '../lora/lora';
import { validateLabelledTexts, type LabelledTexts } from './data';
import type { ClassificationHead } from './head';
import { crossEntropy } from './loss';

export interface EvaluateOptions {
  readonly batchSize?: number;
  readonly maxSeqLen?: number;
  /** Adapters applied on top of the encoder (not merged); omit for merged or unadapted weights. */
  readonly lora?: LoraAdapters;
}

export interface EvaluationResult {
  readonly accuracy: number;
  /** Macro-F1 over the classes present in labels or predictions (see core's classificationMetrics). */
  readonly macroF1: number;
  /** Mean cross-entropy per example. */
  readonly loss: number;
  /** Number of examples, to weight per-client results by split size. */
  readonly exampleCount: number;
}

/** Inference-mode (no dropout) accuracy, macro-F1 and loss of encoder + head (+ LoRA) on labelled texts. */
export async function evaluate(
  encoder: Encoder,
  head: ClassificationHead,
  data: LabelledTexts,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  validateLabelledTexts(data, head.numClasses);
  const batchSize = options.batchSize ?? 64;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const maxSeqLen = options.maxSeqLen ?? 128;
  if (!Number.isSafeInteger(maxSeqLen) || maxSeqLen < 1) {
    throw new Error(`maxSeqLen must be a positive integer, got ${maxSeqLen}`);
  }
  const n = data.texts.length;
  const predictions = new Int32Array(n);
  let lossSum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const texts = data.texts.slice(start, start + batchSize);
    const labels = data.labels.slice(start, start + batchSize);
    const [lossTensor, argmax] = tf.tidy(() => {
      const batch = encoder.tokenize(texts, Math.min(maxSeqLen, encoder.maxSeqLen));
      const logits = head.apply(encoder.embed(batch, { adapter: options.lora?.adapter, training: false }));
      return [crossEntropy(logits, tf.tensor1d(labels as number[], 'int32')), tf.argMax(logits, 1)];
    });
    const [loss, predicted] = await Promise.all([lossTensor.data(), argmax.data()]);
    lossTensor.dispose();
    argmax.dispose();
    lossSum += loss[0]! * texts.length;
    predictions.set(predicted, start);
  }
  const { accuracy, macroF1 } = classificationMetrics(predictions, data.labels, head.numClasses);
  return { accuracy, macroF1, loss: lossSum / n, exampleCount: n };
}
