/**
 * SPEC §1 Route: a subject matcher is tested against the certificate Subject CN and against
 * each DNS SAN. Envoy offers neither value alone as a matching input
 * (envoy.extensions.matching.common_inputs.ssl.v3):
 * - `envoy.matching.inputs.subject` is the whole Subject, printed by BoringSSL's
 *   `X509_NAME_print_ex(…, XN_FLAG_RFC2253)`: RDNs last-first, `,` between RDNs, `+` inside a
 *   multi-valued RDN, and in values `\` before `\ " , + < > ;`, before a leading `#` or space
 *   and a trailing space, and `\XX` (uppercase hex) for control bytes and for every byte of a
 *   non-ASCII character's UTF-8 encoding;
 * - `envoy.matching.inputs.dns_san` is every DNS SAN joined with `,`.
 * This module rewrites a matcher into one RE2 full-match pattern per input that holds exactly
 * when the CN (resp. one DNS SAN) satisfies the matcher: the pattern anchors on a separator,
 * and every character of the matcher is re-expressed over the input's own alphabet so that it
 * can neither cross into another attribute or SAN nor misread an escape.
 *
 * Envoy compiles `safe_regex` patterns with RE2 in Latin-1 mode (Envoy 1.40, observed: `.`
 * matches one byte of a UTF-8 header value, and `\x{100}` is refused as an invalid escape, so a
 * listener carrying it is NACKed). The patterns are therefore written over bytes: pure ASCII,
 * a non-ASCII character as its UTF-8 byte sequence, no class negated (a negated class would also
 * match the bytes of non-ASCII characters).
 */
import { CodePointSet } from './code-point-set.js';
import { parseRe2, type Re2Node } from './re2-syntax.js';
import { utf8Sequences, type ByteRange } from './utf8-ranges.js';

export type SubjectMatchKind = 'exact' | 'hasPrefix' | 'hasSuffix' | 'regex';

export interface SubjectMatch {
  readonly kind: SubjectMatchKind;
  readonly value: string;
}

export type SubjectPatterns =
  | { readonly ok: true; readonly subject: string; readonly dnsSan: string }
  | { readonly ok: false; readonly reason: string };

/** Keeps a pathological matcher (`\p{L}{500}`) from becoming a megabyte of regex. */
const MAX_PATTERN_LENGTH = 16_384;

const ANY_CHARACTER: Re2Node = { kind: 'chars', set: CodePointSet.ALL };
const ANY_STRING: Re2Node = { kind: 'repeat', item: ANY_CHARACTER, min: 0, max: undefined };

function literal(text: string): Re2Node {
  return { kind: 'concat', items: [...text].map((c) => ({ kind: 'chars', set: CodePointSet.chars(c) })) };
}

function matcherTree(m: SubjectMatch): { ok: true; node: Re2Node } | { ok: false; reason: string } {
  switch (m.kind) {
    case 'exact':
      return { ok: true, node: literal(m.value) };
    case 'hasPrefix':
      return { ok: true, node: { kind: 'concat', items: [literal(m.value), ANY_STRING] } };
    case 'hasSuffix':
      return { ok: true, node: { kind: 'concat', items: [ANY_STRING, literal(m.value)] } };
    case 'regex':
      return parseRe2(m.value);
  }
}

/**
 * The rewrites already made, by matcher: one per process, on purpose, like the RE2 engine
 * (regex/re2.ts). The rewrite is a pure function of the matcher's kind and text, so what is kept
 * here changes no result, only how fast it comes; it matters because validation asks again for
 * every matcher of a Route at every check (an update adding the 100th subject rewrites 100
 * matchers per check: without this, 100 concurrent route updates took 57 s instead of 7,
 * test/security/store-contention.test.ts). Bounded: past the bound the least recently used goes.
 */
class SubjectRewrites {
  private readonly kept = new Map<string, SubjectPatterns>();
  constructor(private readonly max: number) {}

  get(m: SubjectMatch): SubjectPatterns {
    const key = `${m.kind}\u0000${m.value}`;
    let found = this.kept.get(key);
    if (found) {
      this.kept.delete(key);
    } else {
      found = rewrite(m);
      if (this.kept.size >= this.max) this.kept.delete(this.kept.keys().next().value as string);
    }
    this.kept.set(key, found);
    return found;
  }
}

const REWRITES = new SubjectRewrites(2_000);

/**
 * The patterns for `m`: the one rewrite of a subject matcher, for the RBAC filter a gateway gets
 * (envoy/subject-rbac.ts, whose result generation keeps per matcher list in its cache) and for
 * validation, which refuses a regex that cannot be carried.
 */
export function subjectPatterns(m: SubjectMatch): SubjectPatterns {
  return REWRITES.get(m);
}

function rewrite(m: SubjectMatch): SubjectPatterns {
  const tree = matcherTree(m);
  if (!tree.ok) return { ok: false, reason: tree.reason };
  const cn = emit(tree.node, rfc2253Set);
  const san = emit(tree.node, dnsSanSet);
  // Attributes before the CN, each ending in an unescaped separator; then the CN; then the rest.
  const subject = `(?:(?:[^\\\\]|\\\\.)*[,+])?CN=${cn}(?:[,+].*)?`;
  const dnsSan = `(?:[^,]*,)*${san}(?:,[^,]*)*`;
  if (subject.length > MAX_PATTERN_LENGTH || dnsSan.length > MAX_PATTERN_LENGTH) return { ok: false, reason: 'the pattern grows too large once rewritten' };
  return { ok: true, subject, dnsSan };
}

/**
 * `run` is true under `*` or `+`: the set is repeated without bound, so when it holds every
 * non-ASCII character the emitter may match their encodings byte by byte (a run of whole
 * characters is a run of bytes, and the next piece never starts with a continuation byte).
 */
type SetEmitter = (set: CodePointSet, run: boolean) => string;

function emit(node: Re2Node, emitSet: SetEmitter): string {
  switch (node.kind) {
    case 'chars':
      return emitSet(node.set, false);
    case 'concat':
      return node.items.map((n) => emit(n, emitSet)).join('');
    case 'alt':
      return `(?:${node.items.map((n) => emit(n, emitSet)).join('|')})`;
    case 'repeat': {
      const run = node.item.kind === 'chars' && node.max === undefined && node.min <= 1;
      const inner = run && node.item.kind === 'chars' ? emitSet(node.item.set, true) : emit(node.item, emitSet);
      return (isSingleAtom(inner) ? inner : `(?:${inner})`) + quantifier(node.min, node.max);
    }
    case 'anchor':
      throw new Error('unreachable: parseRe2 strips anchors');
  }
}

/** A class, one group, one escape or one character: a quantifier applies to all of it. */
function isSingleAtom(emitted: string): boolean {
  return /^(?:\[(?:[^\]\\]|\\.)*\]|\\x[0-9A-F]{2}|\\.|[^\\])$/.test(emitted) || isOneGroup(emitted);
}

/** `(?:…)` whose closing parenthesis is the last character (escapes and classes skipped). */
function isOneGroup(emitted: string): boolean {
  if (!emitted.startsWith('(?:')) return false;
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < emitted.length; i++) {
    const c = emitted[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i === emitted.length - 1;
  }
  return false;
}

function quantifier(min: number, max: number | undefined): string {
  if (min === 0 && max === undefined) return '*';
  if (min === 1 && max === undefined) return '+';
  if (min === 0 && max === 1) return '?';
  if (max === undefined) return `{${min},}`;
  return min === max ? `{${min}}` : `{${min},${max}}`;
}

/** Matches nothing: in Latin-1 mode every input character is a byte. */
const NEVER = '[^\\x00-\\xFF]';

function alternatives(parts: readonly string[]): string {
  if (parts.length === 0) return NEVER;
  return parts.length === 1 ? (parts[0] ?? NEVER) : `(?:${parts.join('|')})`;
}

const hexByte = (c: number): string => c.toString(16).toUpperCase().padStart(2, '0');

/** One ASCII character of a class body: printable as itself (escaped where the class needs it), else `\xHH`. */
function classChar(c: number): string {
  if (c >= 0x21 && c <= 0x7e) return /[\\\]\[^-]/.test(String.fromCharCode(c)) ? `\\${String.fromCharCode(c)}` : String.fromCharCode(c);
  return `\\x${hexByte(c)}`;
}

function classBody(set: CodePointSet): string {
  return set.ranges.map(([lo, hi]) => (lo === hi ? classChar(lo) : hi === lo + 1 ? classChar(lo) + classChar(hi) : `${classChar(lo)}-${classChar(hi)}`)).join('');
}

/** A class of ASCII characters (never negated: see the module comment). */
function asciiClass(set: CodePointSet): string {
  if (set.isEmpty()) return NEVER;
  const [only] = set.ranges;
  if (set.ranges.length === 1 && only && only[0] === only[1]) return escapeLiteral(only[0]);
  return `[${classBody(set)}]`;
}

/** One ASCII character outside a class. */
function escapeLiteral(c: number): string {
  if (c >= 0x21 && c <= 0x7e) {
    const s = String.fromCharCode(c);
    return /[\\^$.|?*+()[\]{}]/.test(s) ? `\\${s}` : s;
  }
  return c === 0x20 ? ' ' : `\\x${hexByte(c)}`;
}

const ASCII = CodePointSet.of([[0x00, 0x7f]]);
const NON_ASCII = CodePointSet.of([[0x80, 0x10ffff]]);

/**
 * The non-ASCII characters of `set` as UTF-8 byte sequences, each byte range written by `byte`.
 * Under `*`/`+` (`run`) a set holding every non-ASCII character may match their bytes one by
 * one: a run of whole characters is a run of bytes, and the next piece never starts with a
 * continuation byte.
 */
function nonAsciiParts(set: CodePointSet, run: boolean, byte: (range: ByteRange) => string): string[] {
  const nonAscii = set.intersect(NON_ASCII);
  if (nonAscii.isEmpty()) return [];
  if (run && NON_ASCII.minus(nonAscii).isEmpty()) return [byte([0x80, 0xff])];
  return nonAscii.ranges.flatMap((range) => utf8Sequences(range).map((sequence) => sequence.map(byte).join('')));
}

/** A raw byte range, for an input that carries the bytes themselves (DNS SANs). */
function rawByteRange([lo, hi]: ByteRange): string {
  return lo === hi ? `\\x${hexByte(lo)}` : `[\\x${hexByte(lo)}-\\x${hexByte(hi)}]`;
}

const COMMA = CodePointSet.char(0x2c);

/** A DNS SAN is one element of a comma-joined list: a character of it is never a comma. */
function dnsSanSet(set: CodePointSet, run: boolean): string {
  const own = set.minus(COMMA);
  const ascii = own.intersect(ASCII);
  return alternatives([...(ascii.isEmpty() ? [] : [asciiClass(ascii)]), ...nonAsciiParts(own, run, rawByteRange)]);
}

const HEX = '0123456789ABCDEF';

/** Hex digits lo..hi as a class: `[0-9]`, `[8-9A-B]`, `[C-F]`. */
function nibbleClass(lo: number, hi: number): string {
  if (lo === hi) return HEX.charAt(lo);
  const span = (a: number, b: number): string => (a === b ? HEX.charAt(a) : `${HEX.charAt(a)}-${HEX.charAt(b)}`);
  const digits = lo <= 9 ? span(lo, Math.min(hi, 9)) : '';
  const letters = hi >= 10 ? span(Math.max(lo, 10), hi) : '';
  return `[${digits}${letters}]`;
}

/** `\XX` for every byte value in [lo, hi], as RFC 2253 hex escapes (uppercase, as BoringSSL prints them). */
function hexEscapeRange([lo, hi]: ByteRange): string {
  const parts: string[] = [];
  const [h1, l1, h2, l2] = [lo >> 4, lo & 15, hi >> 4, hi & 15];
  if (h1 === h2) parts.push(HEX.charAt(h1) + nibbleClass(l1, l2));
  else {
    const firstFull = l1 === 0 ? h1 : h1 + 1;
    const lastFull = l2 === 15 ? h2 : h2 - 1;
    if (l1 !== 0) parts.push(HEX.charAt(h1) + nibbleClass(l1, 15));
    if (firstFull <= lastFull) parts.push(nibbleClass(firstFull, lastFull) + '[0-9A-F]');
    if (l2 !== 15) parts.push(HEX.charAt(h2) + nibbleClass(0, l2));
  }
  const body = parts.length === 1 ? (parts[0] ?? '') : `(?:${parts.join('|')})`;
  return `\\\\${body}`;
}

const ALWAYS_ESCAPED = CodePointSet.chars('\\",+<>;');
const ESCAPED_AT_EDGES = CodePointSet.chars('# ');
const CONTROL = CodePointSet.of([
  [0x00, 0x1f],
  [0x7f, 0x7f],
]);
const PLAIN = CodePointSet.of([[0x20, 0x7e]]).minus(ALWAYS_ESCAPED).minus(ESCAPED_AT_EDGES);

/**
 * One character of a CN value as it appears in the RFC 2253 subject: one escape token or one
 * plain character. `#` and space are escaped at the edges of a value only; both forms are
 * accepted anywhere, since each decodes to the same character.
 */
function rfc2253Set(set: CodePointSet, run: boolean): string {
  const parts: string[] = [];
  const plain = set.intersect(PLAIN);
  if (!plain.isEmpty()) parts.push(asciiClass(plain));
  const edges = set.intersect(ESCAPED_AT_EDGES);
  if (!edges.isEmpty()) parts.push(`\\\\?${edges.ranges.length === 2 ? '[ #]' : escapeLiteral(edges.ranges[0]?.[0] ?? 0x20)}`);
  const escaped = set.intersect(ALWAYS_ESCAPED);
  if (!escaped.isEmpty()) parts.push(`\\\\${asciiClass(escaped)}`);
  for (const [lo, hi] of set.intersect(CONTROL).ranges) parts.push(hexEscapeRange([lo, hi]));
  parts.push(...nonAsciiParts(set, run, hexEscapeRange));
  return alternatives(parts);
}
