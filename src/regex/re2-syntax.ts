/**
 * Parses RE2 syntax (https://github.com/google/re2/wiki/Syntax) into a small tree whose
 * leaves are sets of code points. subject-regex.ts re-emits the tree over the alphabet of an
 * Envoy matching input (an escaped RFC 2253 subject, a comma-joined SAN list), so a user's
 * regex keeps its meaning: it is matched against one value, never across separators.
 *
 * The pattern was already accepted by src/api/re2.ts. Constructs whose meaning cannot be
 * carried over are reported as unsupported, and the caller fails closed: `\b`, `\B`, `\C`,
 * and `^`/`$`/`\A`/`\z` anywhere but at the very start or end of the pattern.
 */
import { CodePointSet, PERL_CLASSES, POSIX_CLASSES, unicodeClass } from './code-point-set.js';

export type Re2Node =
  | { readonly kind: 'chars'; readonly set: CodePointSet }
  | { readonly kind: 'concat'; readonly items: readonly Re2Node[] }
  | { readonly kind: 'alt'; readonly items: readonly Re2Node[] }
  | { readonly kind: 'repeat'; readonly item: Re2Node; readonly min: number; readonly max: number | undefined }
  | { readonly kind: 'anchor'; readonly at: 'start' | 'end' };

export type ParseResult = { readonly ok: true; readonly node: Re2Node } | { readonly ok: false; readonly reason: string };

interface Flags {
  readonly foldCase: boolean;
  readonly dotNewline: boolean;
}

class Unsupported extends Error {}

const EMPTY: Re2Node = { kind: 'concat', items: [] };
const NEWLINE = CodePointSet.char(0x0a);

class Parser {
  private pos = 0;
  constructor(private readonly chars: readonly string[]) {}

  parse(): Re2Node {
    const node = this.alternation({ foldCase: false, dotNewline: false });
    if (this.pos < this.chars.length) throw new Unsupported(`unexpected "${this.chars[this.pos]}"`);
    return node;
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  private next(): string {
    const c = this.chars[this.pos++];
    if (c === undefined) throw new Unsupported('unexpected end of pattern');
    return c;
  }

  private lookingAt(text: string): boolean {
    return [...text].every((c, i) => this.peek(i) === c);
  }

  /** `(?flags)` changes the flags for the rest of the enclosing group, so they are threaded through. */
  private alternation(flags: Flags): Re2Node {
    const branches: Re2Node[] = [];
    let current = flags;
    for (;;) {
      const { node, flags: after } = this.concatenation(current);
      branches.push(node);
      current = after;
      if (this.peek() !== '|') break;
      this.pos++;
    }
    return branches.length === 1 ? (branches[0] ?? EMPTY) : { kind: 'alt', items: branches };
  }

  private concatenation(initial: Flags): { node: Re2Node; flags: Flags } {
    const items: Re2Node[] = [];
    let flags = initial;
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      if (this.lookingAt('(?') && !this.lookingAt('(?P<') && !this.lookingAt('(?<') && this.flagGroupIsBare()) {
        flags = this.flagGroup(flags);
        continue;
      }
      const atom = this.atom(flags);
      if (atom === undefined) continue;
      items.push(this.repetitions(atom));
    }
    return { node: items.length === 1 ? (items[0] ?? EMPTY) : { kind: 'concat', items }, flags };
  }

  /** `(?i)` (bare) as opposed to `(?i:…)`. */
  private flagGroupIsBare(): boolean {
    for (let i = 2; ; i++) {
      const c = this.peek(i);
      if (c === ')') return true;
      if (c === undefined || !'imsU-'.includes(c)) return false;
    }
  }

  private flagGroup(flags: Flags): Flags {
    this.pos += 2;
    let result = flags;
    let value = true;
    for (let c = this.next(); c !== ')' && c !== ':'; c = this.next()) result = this.applyFlag(result, c, value, () => (value = false));
    return result;
  }

  private applyFlag(flags: Flags, c: string, value: boolean, negate: () => void): Flags {
    if (c === '-') negate();
    else if (c === 'i') return { ...flags, foldCase: value };
    else if (c === 's') return { ...flags, dotNewline: value };
    // m only moves ^/$ to line boundaries, which edge anchors never see; U only changes which
    // match is reported, never whether one exists.
    else if (c !== 'm' && c !== 'U') throw new Unsupported(`unknown flag ${c}`);
    return flags;
  }

  private atom(flags: Flags): Re2Node | undefined {
    const c = this.next();
    switch (c) {
      case '(':
        return this.group(flags);
      case '[':
        return { kind: 'chars', set: this.charClass(flags) };
      case '.':
        return { kind: 'chars', set: flags.dotNewline ? CodePointSet.ALL : CodePointSet.ALL.minus(NEWLINE) };
      case '^':
        return { kind: 'anchor', at: 'start' };
      case '$':
        return { kind: 'anchor', at: 'end' };
      case '\\':
        return this.escape(flags);
      default:
        return this.charsNode(CodePointSet.chars(c), flags);
    }
  }

  private charsNode(set: CodePointSet, flags: Flags): Re2Node {
    return { kind: 'chars', set: flags.foldCase ? set.caseFolded() : set };
  }

  private group(flags: Flags): Re2Node {
    let inner = flags;
    if (this.peek() === '?') {
      this.pos++;
      if (this.peek() === 'P' || this.peek() === '<') {
        while (this.next() !== '>');
      } else {
        let value = true;
        for (let c = this.next(); c !== ':'; c = this.next()) inner = this.applyFlag(inner, c, value, () => (value = false));
      }
    }
    const node = this.alternation(inner);
    if (this.next() !== ')') throw new Unsupported('missing )');
    return node;
  }

  private repetitions(atom: Re2Node): Re2Node {
    let node = atom;
    for (;;) {
      const c = this.peek();
      let bounds: { min: number; max: number | undefined } | undefined;
      if (c === '*') bounds = { min: 0, max: undefined };
      else if (c === '+') bounds = { min: 1, max: undefined };
      else if (c === '?') bounds = { min: 0, max: 1 };
      else if (c === '{') bounds = this.counted();
      if (bounds === undefined) return node;
      if (c !== '{') this.pos++;
      if (this.peek() === '?') this.pos++; // lazy: same language
      node = { kind: 'repeat', item: node, ...bounds };
    }
  }

  /** `{n}`, `{n,}`, `{n,m}`; anything else leaves `{` a literal. */
  private counted(): { min: number; max: number | undefined } | undefined {
    const rest = this.chars.slice(this.pos).join('');
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (!m) return undefined;
    this.pos += [...m[0]].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
    return { min, max };
  }

  private escape(flags: Flags): Re2Node | undefined {
    const c = this.peek();
    if (c === 'A' || c === 'z') {
      this.pos++;
      return { kind: 'anchor', at: c === 'A' ? 'start' : 'end' };
    }
    if (c === 'b' || c === 'B' || c === 'C') throw new Unsupported(`\\${c} has no equivalent on a single certificate name`);
    if (c === 'Q') {
      this.pos++;
      const items: Re2Node[] = [];
      while (this.pos < this.chars.length && !this.lookingAt('\\E')) items.push(this.charsNode(CodePointSet.chars(this.next()), flags));
      if (this.lookingAt('\\E')) this.pos += 2;
      return { kind: 'concat', items };
    }
    if (c === 'E') {
      this.pos++;
      return undefined;
    }
    return this.charsNode(this.escapeSet(), flags);
  }

  /** An escape that stands for a set of characters: inside or outside a class. */
  private escapeSet(): CodePointSet {
    const c = this.next();
    const perl = PERL_CLASSES[c.toLowerCase()];
    if (perl && 'dswDSW'.includes(c)) return c === c.toLowerCase() ? perl : perl.complement();
    if (c === 'p' || c === 'P') return this.unicodeEscape(c === 'P');
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (simple[c] !== undefined) return CodePointSet.char(simple[c]);
    if (c === 'x') {
      if (this.peek() === '{') {
        const close = this.chars.indexOf('}', this.pos);
        const hex = this.chars.slice(this.pos + 1, close).join('');
        this.pos = close + 1;
        return CodePointSet.char(parseInt(hex, 16));
      }
      const hex = this.next() + this.next();
      return CodePointSet.char(parseInt(hex, 16));
    }
    if (/[0-7]/.test(c)) {
      let digits = c;
      while (digits.length < 3 && /[0-7]/.test(this.peek() ?? '')) digits += this.next();
      return CodePointSet.char(parseInt(digits, 8));
    }
    if (/[A-Za-z0-9]/.test(c)) throw new Unsupported(`unknown escape \\${c}`);
    return CodePointSet.chars(c);
  }

  private unicodeEscape(negated: boolean): CodePointSet {
    let name = this.next();
    if (name === '{') {
      name = '';
      for (let c = this.next(); c !== '}'; c = this.next()) name += c;
    }
    let negate = negated;
    if (name.startsWith('^')) {
      negate = !negate;
      name = name.slice(1);
    }
    const set = unicodeClass(name);
    if (!set) throw new Unsupported(`unknown Unicode class ${name}`);
    return negate ? set.complement() : set;
  }

  /** After `[`: the class as a set (case folding, then negation, as RE2 does). */
  private charClass(flags: Flags): CodePointSet {
    const negated = this.peek() === '^';
    if (negated) this.pos++;
    let set = CodePointSet.EMPTY;
    let first = true;
    while (this.peek() !== ']' || first) {
      first = false;
      if (this.lookingAt('[:')) {
        set = set.union(this.posixClass());
        continue;
      }
      const lo = this.classItem();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined && lo.single !== undefined) {
        this.pos++;
        const hi = this.classItem();
        if (hi.single === undefined) throw new Unsupported('bad character class range');
        set = set.union(CodePointSet.of([[lo.single, hi.single]]));
      } else set = set.union(lo.set);
    }
    this.pos++;
    if (flags.foldCase) set = set.caseFolded();
    return negated ? set.complement() : set;
  }

  /** `[:alpha:]` or `[:^alpha:]` inside a class. */
  private posixClass(): CodePointSet {
    let end = this.pos + 2;
    while (end < this.chars.length && !(this.chars[end] === ':' && this.chars[end + 1] === ']')) end++;
    const raw = this.chars.slice(this.pos + 2, end).join('');
    this.pos = end + 2;
    const posix = POSIX_CLASSES[raw.replace(/^\^/, '')];
    if (!posix) throw new Unsupported(`unknown POSIX class ${raw}`);
    return raw.startsWith('^') ? posix.complement() : posix;
  }

  private classItem(): { set: CodePointSet; single: number | undefined } {
    const c = this.next();
    const set = c === '\\' ? this.escapeSet() : CodePointSet.chars(c);
    const [range] = set.ranges;
    const single = set.ranges.length === 1 && range && range[0] === range[1] ? range[0] : undefined;
    return { set, single };
  }
}

export function parseRe2(pattern: string): ParseResult {
  try {
    return { ok: true, node: stripEdgeAnchors(new Parser([...pattern]).parse()) };
  } catch (error) {
    // The syntax was checked when the Route was applied; anything unexpected fails closed too.
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

const isAnchorOnly = (n: Re2Node): boolean =>
  n.kind === 'anchor' || ((n.kind === 'concat' || n.kind === 'alt') && n.items.length > 0 && n.items.every(isAnchorOnly)) || (n.kind === 'concat' && n.items.length === 0);

/**
 * The pattern is matched against a whole value, so an anchor at its start or end always holds
 * and is dropped. Anywhere else its meaning depends on where the value sits in the input, which
 * the rewritten pattern cannot know: unsupported.
 */
function stripEdgeAnchors(node: Re2Node, atStart = true, atEnd = true): Re2Node {
  switch (node.kind) {
    case 'anchor':
      if ((node.at === 'start' && atStart) || (node.at === 'end' && atEnd)) return EMPTY;
      throw new Unsupported(`${node.at === 'start' ? '^ or \\A' : '$ or \\z'} inside the pattern`);
    case 'alt':
      return { kind: 'alt', items: node.items.map((n) => stripEdgeAnchors(n, atStart, atEnd)) };
    case 'concat':
      return {
        kind: 'concat',
        items: node.items.map((n, i) =>
          stripEdgeAnchors(n, atStart && node.items.slice(0, i).every(isAnchorOnly), atEnd && node.items.slice(i + 1).every(isAnchorOnly)),
        ),
      };
    case 'repeat':
      return { ...node, item: stripEdgeAnchors(node.item, false, false) };
    case 'chars':
      return node;
  }
}
