/** "Did you mean …?" for unknown fields and types: the nearest known name by edit distance. */
import { quoteValue } from './quote.js';

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest candidate, compared case-insensitively, or undefined when nothing is close enough
 * to be a plausible typo (at most a third of the word, and at least 2 edits allowed) and no
 * candidate contains the word (`prefix` → `hasPrefix`).
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(lower, candidate.toLowerCase());
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (best && best.distance <= Math.max(2, Math.floor(word.length / 3))) return best.candidate;
  if (lower.length >= 3) return candidates.find((c) => c.toLowerCase().includes(lower));
  return undefined;
}

export function unknownFieldMessage(field: string, known: readonly string[]): string {
  const suggestion = nearest(field, known);
  if (suggestion !== undefined) return `unknown field ${quoteValue(field)}, did you mean "${suggestion}"?`;
  return `unknown field ${quoteValue(field)}; known fields: ${known.join(', ')}`;
}
