/**
 * Sets of Unicode code points as sorted, disjoint, inclusive ranges: what one position of an
 * RE2 pattern can match (a literal, `.`, a character class), so that subject-regex.ts can
 * re-express it over another alphabet. Surrogates are never members: RE2 matches UTF-8 text,
 * where they cannot occur.
 */

export type CodePointRange = readonly [number, number];

export const MAX_CODE_POINT = 0x10ffff;
const SURROGATES: CodePointRange = [0xd800, 0xdfff];

export class CodePointSet {
  private constructor(readonly ranges: readonly CodePointRange[]) {}

  static of(ranges: Iterable<CodePointRange>): CodePointSet {
    const sorted = [...ranges].filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const [lo, hi] of sorted) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    return new CodePointSet(withoutSurrogates(merged));
  }

  static char(codePoint: number): CodePointSet {
    return CodePointSet.of([[codePoint, codePoint]]);
  }

  static chars(text: string): CodePointSet {
    return CodePointSet.of([...text].map((c) => [c.codePointAt(0) ?? 0, c.codePointAt(0) ?? 0] as const));
  }

  static readonly EMPTY = new CodePointSet([]);
  static readonly ALL = CodePointSet.of([[0, MAX_CODE_POINT]]);

  union(other: CodePointSet): CodePointSet {
    return CodePointSet.of([...this.ranges, ...other.ranges]);
  }

  complement(): CodePointSet {
    const out: Array<[number, number]> = [];
    let next = 0;
    for (const [lo, hi] of this.ranges) {
      if (lo > next) out.push([next, lo - 1]);
      next = hi + 1;
    }
    if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
    return CodePointSet.of(out);
  }

  minus(other: CodePointSet): CodePointSet {
    return CodePointSet.of([...this.complement().ranges, ...other.ranges]).complement();
  }

  intersect(other: CodePointSet): CodePointSet {
    return this.minus(other.complement());
  }

  has(codePoint: number): boolean {
    return this.ranges.some(([lo, hi]) => codePoint >= lo && codePoint <= hi);
  }

  isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** Adds every code point that RE2's `(?i)` considers equal to a member (Unicode simple case folding). */
  caseFolded(): CodePointSet {
    const extra: CodePointRange[] = [];
    for (const orbit of UNICODE.caseOrbits()) {
      if (orbit.some((c) => this.has(c))) for (const c of orbit) extra.push([c, c]);
    }
    return extra.length === 0 ? this : CodePointSet.of([...this.ranges, ...extra]);
  }
}

function withoutSurrogates(ranges: Array<[number, number]>): CodePointRange[] {
  const out: CodePointRange[] = [];
  for (const [lo, hi] of ranges) {
    if (hi < SURROGATES[0] || lo > SURROGATES[1]) out.push([lo, hi]);
    else {
      if (lo < SURROGATES[0]) out.push([lo, SURROGATES[0] - 1]);
      if (hi > SURROGATES[1]) out.push([SURROGATES[1] + 1, hi]);
    }
  }
  return out;
}

/**
 * What the JavaScript engine's Unicode data says (case-folding orbits, `\p{…}` property sets),
 * computed on first use by scanning every code point (tens of milliseconds per property) and kept
 * for the life of the process.
 *
 * One table per process, on purpose: these are constants of the runtime, the same for every
 * control plane and never changed, so sharing them shares nothing that could differ. It is
 * bounded by what the engine knows: one orbit list, and one set per property name the engine
 * accepts (general categories, scripts and binary properties, with their aliases, a few hundred
 * at most); a name it does not know is not kept.
 */
class UnicodeTables {
  private orbits: number[][] | undefined;
  private readonly properties = new Map<string, CodePointSet>();

  /**
   * Case-folding orbits ({k, K, U+212A KELVIN SIGN}, …). JavaScript's `iu` regex flags compare by
   * Unicode simple case folding, as RE2 does; toLowerCase/toUpperCase only propose candidates.
   * Case mappings exist below U+1F000 only.
   */
  caseOrbits(): number[][] {
    this.orbits ??= computeCaseOrbits();
    return this.orbits;
  }

  /** The code points of the property `name` (see `unicodeClass`), or undefined if the engine does not know it. */
  property(name: string): CodePointSet | undefined {
    const known = this.properties.get(name);
    if (known) return known;
    const set = computeProperty(name);
    if (set) this.properties.set(name, set);
    return set;
  }
}

const UNICODE = new UnicodeTables();

function computeCaseOrbits(): number[][] {
  const parent = new Map<number, number>();
  const find = (c: number): number => {
    let root = c;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root) ?? root;
    parent.set(c, root);
    return root;
  };
  const sameFold = (a: number, b: number): boolean => new RegExp(`^\\u{${a.toString(16)}}$`, 'iu').test(String.fromCodePoint(b));
  for (let c = 0; c < 0x1f000; c++) {
    if (c >= SURROGATES[0] && c <= SURROGATES[1]) continue;
    const s = String.fromCodePoint(c);
    for (const mapped of [s.toLowerCase(), s.toUpperCase()]) {
      const m = mapped.codePointAt(0);
      if (m === undefined || m === c || [...mapped].length !== 1 || !sameFold(c, m)) continue;
      parent.set(find(c), find(m));
    }
  }
  const groups = new Map<number, number[]>();
  for (const c of parent.keys()) {
    const root = find(c);
    groups.set(root, [...(groups.get(root) ?? []), c]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/** `\p{Name}` as RE2 reads it: a general category (L, Lu, …), a script (Greek, …), or Any. */
export function unicodeClass(name: string): CodePointSet | undefined {
  return UNICODE.property(name);
}

function computeProperty(name: string): CodePointSet | undefined {
  let re: RegExp | undefined;
  for (const source of [`^\\p{${name}}$`, `^\\p{Script=${name}}$`]) {
    try {
      re = new RegExp(source, 'u');
      break;
    } catch {
      // not this kind of property
    }
  }
  if (!re) return undefined;
  const ranges: Array<[number, number]> = [];
  let start = -1;
  for (let c = 0; c <= MAX_CODE_POINT + 1; c++) {
    const member = c <= MAX_CODE_POINT && re.test(String.fromCodePoint(c));
    if (member && start < 0) start = c;
    if (!member && start >= 0) {
      ranges.push([start, c - 1]);
      start = -1;
    }
  }
  return CodePointSet.of(ranges);
}

/** `'0-9A-Z_'` → its code points: a character, or two joined by `-`. */
function ascii(ranges: string): CodePointSet {
  const out: CodePointRange[] = [];
  for (const r of ranges.match(/.-.|./gs) ?? []) out.push(r.length === 3 ? [r.charCodeAt(0), r.charCodeAt(2)] : [r.charCodeAt(0), r.charCodeAt(0)]);
  return CodePointSet.of(out);
}

/** RE2's Perl classes, ASCII-only (`\s` has no `\v`). */
export const PERL_CLASSES: Readonly<Record<string, CodePointSet>> = {
  d: ascii('0-9'),
  s: ascii('\t\n\f\r '),
  w: ascii('0-9A-Za-z_'),
};

/** RE2's `[[:name:]]` classes, ASCII-only. */
export const POSIX_CLASSES: Readonly<Record<string, CodePointSet>> = {
  alnum: ascii('0-9A-Za-z'),
  alpha: ascii('A-Za-z'),
  ascii: ascii('\x00-\x7f'),
  blank: ascii('\t '),
  cntrl: ascii('\x00-\x1f\x7f'),
  digit: ascii('0-9'),
  graph: ascii('!-~'),
  lower: ascii('a-z'),
  print: ascii(' -~'),
  punct: ascii('!-/:-@[-`{-~'),
  space: ascii('\t\n\v\f\r '),
  upper: ascii('A-Z'),
  word: ascii('0-9A-Za-z_'),
  xdigit: ascii('0-9A-Fa-f'),
};
