/**
 * Checks for strategy options objects. Options come from configs and CLIs, so each check names the option and
 * what it got; unknown keys are refused because a misspelt option would otherwise silently keep its default.
 */

export type Seed = number | string;

export function checkOptionsObject(options: unknown, allowed: readonly string[], strategy: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${strategy} options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new Error(`${strategy}: unknown option "${key}" (known: ${allowed.join(', ')})`);
    }
  }
}

export function positiveIntOption(value: unknown, fallback: number, label: string): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < 1) {
    throw new Error(`${label} must be a positive integer, got ${String(resolved)}`);
  }
  return resolved;
}

export function nonNegativeIntOption(value: unknown, fallback: number, label: string): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < 0) {
    throw new Error(`${label} must be a non-negative integer, got ${String(resolved)}`);
  }
  return resolved;
}

export function positiveNumberOption(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${label} must be a finite positive number, got ${String(value)}`);
  }
  return value;
}

export function booleanOption(value: unknown, fallback: boolean, label: string): boolean {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'boolean') throw new Error(`${label} must be a boolean, got ${String(resolved)}`);
  return resolved;
}

export function choiceOption<T extends string>(
  value: unknown,
  choices: readonly T[],
  fallback: T,
  label: string,
): T {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'string' || !(choices as readonly string[]).includes(resolved)) {
    throw new Error(
      `${label} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${String(resolved)}`,
    );
  }
  return resolved as T;
}

export function seedOption(value: unknown, label = 'seed'): Seed {
  const resolved = value ?? 0;
  if (typeof resolved === 'number' ? !Number.isFinite(resolved) : typeof resolved !== 'string') {
    throw new Error(`${label} must be a finite number or a string, got ${String(resolved)}`);
  }
  return resolved as Seed;
}
