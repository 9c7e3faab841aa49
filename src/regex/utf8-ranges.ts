/**
 * A range of code points as alternatives of byte-range sequences, one per UTF-8 shape: what a
 * byte-level alphabet (the hex escapes of an RFC 2253 subject) needs to match one character.
 */
import type { CodePointRange } from './code-point-set.js';

export type ByteRange = readonly [number, number];

const LENGTH_LIMITS = [0x7f, 0x7ff, 0xffff] as const;

function encode(codePoint: number): number[] {
  return [...Buffer.from(String.fromCodePoint(codePoint), 'utf8')];
}

/** Splits until every range has one encoded length and differs only in a suffix of whole bytes. */
function split(lo: number, hi: number, out: ByteRange[][]): void {
  for (const limit of LENGTH_LIMITS) {
    if (lo <= limit && hi > limit) {
      split(lo, limit, out);
      split(limit + 1, hi, out);
      return;
    }
  }
  const length = encode(lo).length;
  for (let i = 1; i < length; i++) {
    const low = (1 << (6 * i)) - 1;
    if ((lo & ~low) === (hi & ~low)) continue;
    if ((lo & low) !== 0) {
      split(lo, lo | low, out);
      split((lo | low) + 1, hi, out);
      return;
    }
    if ((hi & low) !== low) {
      split(lo, (hi & ~low) - 1, out);
      split(hi & ~low, hi, out);
      return;
    }
  }
  const a = encode(lo);
  const b = encode(hi);
  out.push(a.map((byte, i) => [byte, b[i] ?? byte] as const));
}

export function utf8Sequences(range: CodePointRange): ByteRange[][] {
  const out: ByteRange[][] = [];
  split(range[0], range[1], out);
  return out;
}
