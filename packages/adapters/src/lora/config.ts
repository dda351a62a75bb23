import { validateBudget } from '@fedhft/core';
import type { AdaptableKind, AdaptableWeight } from '../encoders/encoder';

/**
 * When rows are masked: 'none' trains and sends every row; 'post' trains every row and sends the top rows of
 * the trained update; 'pre' chooses rows before training and trains only those (B holds only the kept rows).
 */
export type MaskMode = 'none' | 'pre' | 'post';

export interface LoraConfig {
  /** r: inner dimension of B [dOut, r] and A [r, dIn]. */
  readonly rank: number;
  /** The update is (alpha / rank) B A. */
  readonly alpha: number;
  /** Dropout on the adapter's input during training, in [0, 1). */
  readonly dropout: number;
  /** Adapted weights, chosen by kind (`query`, `value`, ...) or by exact weight name. */
  readonly targets: readonly (AdaptableKind | string)[];
  readonly maskMode: MaskMode;
  /** Fraction of output rows kept by a mask, in (0, 1]; unused when maskMode is 'none'. */
  readonly budget: number;
  /** Seeds A's initialisation, dropout and the first-round pre-mask. */
  readonly seed: number;
}

/** FedHFT's reference hyper-parameters. */
export const DEFAULT_LORA_CONFIG: LoraConfig = {
  rank: 32,
  alpha: 32,
  dropout: 0.1,
  targets: ['query', 'value'],
  maskMode: 'none',
  budget: 1,
  seed: 0,
};

const MASK_MODES: readonly MaskMode[] = ['none', 'pre', 'post'];

/** Fills defaults and validates; unknown keys are rejected so a misspelt option cannot be silently ignored. */
export function resolveLoraConfig(partial: Partial<LoraConfig> = {}): LoraConfig {
  if (typeof partial !== 'object' || partial === null) throw new Error('LoRA config must be an object');
  for (const key of Object.keys(partial)) {
    if (!(key in DEFAULT_LORA_CONFIG)) throw new Error(`unknown LoRA config option "${key}"`);
  }
  const config: LoraConfig = { ...DEFAULT_LORA_CONFIG, ...stripUndefined(partial) };
  if (!Number.isInteger(config.rank) || config.rank < 1) {
    throw new Error(`LoRA rank must be a positive integer, got ${config.rank}`);
  }
  if (typeof config.alpha !== 'number' || !Number.isFinite(config.alpha) || config.alpha <= 0) {
    throw new Error(`LoRA alpha must be a positive number, got ${config.alpha}`);
  }
  if (typeof config.dropout !== 'number' || !(config.dropout >= 0 && config.dropout < 1)) {
    throw new Error(`LoRA dropout must be in [0, 1), got ${config.dropout}`);
  }
  if (!Array.isArray(config.targets) || config.targets.length === 0) {
    throw new Error('LoRA targets must be a non-empty array of weight kinds or names');
  }
  for (const target of config.targets) {
    if (typeof target !== 'string' || target.length === 0) {
      throw new Error(`LoRA targets must be non-empty strings, got ${JSON.stringify(target)}`);
    }
  }
  if (!MASK_MODES.includes(config.maskMode)) {
    throw new Error(`LoRA maskMode must be one of ${MASK_MODES.join(', ')}, got ${String(config.maskMode)}`);
  }
  validateBudget(config.budget);
  if (!Number.isSafeInteger(config.seed)) throw new Error(`LoRA seed must be an integer, got ${config.seed}`);
  return { ...config, targets: [...config.targets] };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The encoder weights the config adapts, in the encoder's order. A target matches a weight's kind or its exact
 * name; a target matching nothing is an error (usually a typo or a different encoder).
 */
export function selectTargets(
  weights: readonly AdaptableWeight[],
  targets: readonly string[],
): AdaptableWeight[] {
  for (const target of targets) {
    if (!weights.some((w) => w.kind === target || w.name === target)) {
      throw new Error(
        `LoRA target "${target}" matches no adaptable weight (kinds: ${[...new Set(weights.map((w) => w.kind))].join(', ')})`,
      );
    }
  }
  return weights.filter((w) => targets.includes(w.kind) || targets.includes(w.name));
}
