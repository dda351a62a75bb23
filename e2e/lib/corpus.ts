import { seededRandom } from '@fedhft/core';

/**
 * The e2e federations' demo corpus: short product and film reviews, negative or positive, made from templates
 * so that every run has the same data offline. Easy for a person, not for USE Lite with a fresh head and a few
 * LoRA steps: with the e2e settings (learning rate 0.002, a handful of steps per round) personalized accuracy
 * starts around 0.7-0.8 and climbs over the rounds instead of saturating at once, which is what the check
 * "accuracy after the last round beats round 0" needs (measured in Node with the same client runtime).
 */

const SUBJECTS = [
  'the film',
  'the hotel',
  'the phone',
  'the pasta',
  'the concert',
  'the book',
  'the laptop',
  'the service',
  'the sequel',
  'the camera',
  'the museum',
  'the game',
];
const GOOD = [
  'was wonderful',
  'felt delightful',
  'was excellent',
  'looked gorgeous',
  'worked perfectly',
  'was a real joy',
  'exceeded every hope',
  'was brilliant',
];
const BAD = [
  'was awful',
  'felt dreadful',
  'was terrible',
  'looked shabby',
  'broke at once',
  'was a total waste',
  'let everyone down',
  'was boring',
];

export const LABEL_NAMES = ['negative', 'positive'];

export interface Corpus {
  name: string;
  labelNames: string[];
  texts: string[];
  labels: number[];
}

/** `size` reviews, labels alternating. */
export function reviewCorpus(size: number, seed: string): Corpus {
  const random = seededRandom(`e2e-corpus:${seed}`);
  const pick = (items: readonly string[]) => items[Math.floor(random() * items.length)]!;
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < size; i++) {
    const label = i % 2;
    texts.push(`${pick(SUBJECTS)} ${pick(label === 1 ? GOOD : BAD)}`);
    labels.push(label);
  }
  return { name: `reviews-${seed}`, labelNames: [...LABEL_NAMES], texts, labels };
}

/** A CSV file of reviews (a header and quoted texts), as a person would pick it. */
export function reviewsCsv(corpus: Corpus, extra: readonly [string, number][] = []): string {
  const rows = ['text,label'];
  const all: [string, number][] = [...corpus.texts.map((t, i) => [t, corpus.labels[i]!] as [string, number])];
  all.push(...extra);
  for (const [text, label] of all) rows.push(`"${text.replace(/"/g, '""')}",${LABEL_NAMES[label]}`);
  return `${rows.join('\n')}\n`;
}
