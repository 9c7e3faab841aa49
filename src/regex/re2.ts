/**
 * RE2 syntax checks and full-match semantics. Envoy compiles regexes with RE2 and NACKs a
 * config it cannot compile, so JavaScript-only syntax must be caught when a resource is applied
 * (DESIGN.md "Regexes are RE2 and full-match").
 *
 * Hostile patterns. re2-wasm runs RE2 in a WebAssembly heap fixed at
 * 16 MiB. A pattern like `\p{L}{100}` exhausts it: Emscripten aborts, prints a multi-line stack,
 * and the module is dead from then on (its ABORT flag stays set, its heap stays full), so every
 * later regex — valid or not — was refused until a restart. Compiling `\p{L}{50}` also costs
 * about two seconds of CPU on the event loop. So a pattern is bounded *before* it is compiled
 * (length, repetition counts, and its expanded size, where a Unicode class weighs much more than
 * a plain character), and if the engine still aborts it is re-instantiated from a fresh module.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RE2 as Re2Instance } from 're2-wasm';

type Re2Class = typeof Re2Instance;

/** Limits on a regex (README "Security model"). RE2's own repetition limit is 1000. */
export const RE2_LIMITS = {
  /** Characters (code points) of a pattern. */
  maxLength: 1024,
  /** The largest count in a `{n}`, `{n,}` or `{n,m}` repetition. */
  maxRepeat: 100,
  /** The expanded size: each atom's weight times the counts of the repetitions around it, summed. */
  maxCost: 1000,
  /** The weight of a Unicode class (`\p{L}`, `\pN`, `[\p{Greek}…]`): it compiles to hundreds of UTF-8 ranges. */
  unicodeClassCost: 100,
} as const;

const requireCjs = createRequire(import.meta.url);

/**
 * A fresh re2-wasm module. Emscripten binds its error printer to `console.warn` when the module
 * loads; it only ever prints the multi-line abort text we replace with a one-line error, so the
 * module gets a printer that drops it (it would otherwise go to stderr, bypassing the JSON log).
 */
function loadEngine(): Re2Class {
  const marker = `${path.sep}re2-wasm${path.sep}`;
  for (const key of Object.keys(requireCjs.cache)) if (key.includes(marker)) delete requireCjs.cache[key];
  const original = console.warn;
  console.warn = (): void => undefined;
  try {
    return (requireCjs('re2-wasm') as { RE2: Re2Class }).RE2;
  } finally {
    console.warn = original;
  }
}

/** Compiled full-match patterns kept at most (each holds a few KiB of the fixed 16 MiB heap). */
const FULL_MATCHER_CACHE = 500;

/**
 * The RE2 engine of the process: the re2-wasm module, the full-match patterns compiled in its
 * heap, and how many times it was restarted.
 *
 * One per process, on purpose: re2-wasm is one WebAssembly instance per process (Node's module
 * cache holds it) with one fixed 16 MiB heap, so what is compiled in that heap belongs to the
 * engine, not to a caller; the bound on kept patterns is what keeps the heap from filling, and a
 * restart drops them with the module they lived in. A kept pattern changes no result, only how
 * fast a match is (`re2FullMatch` is a pure function of the pattern and the value).
 */
class Re2Engine {
  private loaded = loadEngine();
  private restartCount = 0;
  /** Compiled full-match patterns, least recently used first; evicted ones are freed. */
  private readonly fullMatchers = new Map<string, Re2Instance | undefined>();

  get engine(): Re2Class {
    return this.loaded;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** After an abort every object of the old module is unusable: drop them all (never call into it again). */
  restart(): void {
    this.fullMatchers.clear();
    this.loaded = loadEngine();
    this.restartCount++;
  }

  /** The compiled full matcher kept for `key`, or `compile`'s, kept (the least recently used one freed past the bound). */
  fullMatcher(key: string, compile: () => Re2Instance | undefined): Re2Instance | undefined {
    let re: Re2Instance | undefined;
    if (this.fullMatchers.has(key)) {
      re = this.fullMatchers.get(key);
      this.fullMatchers.delete(key);
    } else {
      re = compile();
      if (this.fullMatchers.size >= FULL_MATCHER_CACHE) {
        const [oldest, evicted] = this.fullMatchers.entries().next().value as [string, Re2Instance | undefined];
        this.fullMatchers.delete(oldest);
        if (evicted) dispose(evicted);
      }
    }
    this.fullMatchers.set(key, re);
    return re;
  }
}

const RE2 = new Re2Engine();

/** How many times the engine was re-instantiated after an abort (`meshcp_regex_engine_restarts_total` on /metrics). */
export function re2EngineRestarts(): number {
  return RE2.restarts;
}

/** A cheap scan of the pattern: undefined when it is within RE2_LIMITS, else why not (one line). */
export function checkRe2Complexity(pattern: string): string | undefined {
  const chars = Array.from(pattern);
  if (chars.length > RE2_LIMITS.maxLength) return `pattern is ${chars.length} characters long; at most ${RE2_LIMITS.maxLength} are allowed`;
  const cap = (n: number): number => Math.min(n, Number.MAX_SAFE_INTEGER);
  // One frame per open group: the summed cost of its content, and the cost of its last atom (what a quantifier repeats).
  const stack: { sum: number; last: number }[] = [{ sum: 0, last: 0 }];
  const top = (): { sum: number; last: number } => stack[stack.length - 1] ?? { sum: 0, last: 0 };
  const atom = (cost: number): void => {
    const frame = top();
    frame.sum = cap(frame.sum + cost);
    frame.last = cost;
  };
  let i = 0;
  while (i < chars.length) {
    const c = chars[i] ?? '';
    if (c === '\\') {
      const next = chars[i + 1];
      if (next === 'p' || next === 'P') {
        i += 2;
        if (chars[i] === '{') while (i < chars.length && chars[i] !== '}') i++;
        i++;
        atom(RE2_LIMITS.unicodeClassCost);
        continue;
      }
      if (next === 'Q') {
        i += 2;
        while (i < chars.length && !(chars[i] === '\\' && chars[i + 1] === 'E')) {
          atom(1);
          i++;
        }
        i += 2;
        continue;
      }
      if (next === 'x' && chars[i + 2] === '{') {
        i += 3;
        while (i < chars.length && chars[i] !== '}') i++;
        i++;
        atom(1);
        continue;
      }
      i += 2;
      atom(1);
      continue;
    }
    if (c === '[') {
      // A class: up to its closing `]` (a `]` right after `[` or `[^` is a literal; `[:alpha:]` nests).
      let j = i + 1;
      if (chars[j] === '^') j++;
      if (chars[j] === ']') j++;
      let unicode = false;
      while (j < chars.length && chars[j] !== ']') {
        if (chars[j] === '\\') {
          if (chars[j + 1] === 'p' || chars[j + 1] === 'P') unicode = true;
          j += 2;
          continue;
        }
        if (chars[j] === '[' && chars[j + 1] === ':') {
          const end = chars.indexOf(']', j + 2);
          j = end === -1 ? chars.length : end + 1;
          continue;
        }
        j++;
      }
      i = j + 1;
      atom(unicode ? RE2_LIMITS.unicodeClassCost : 1);
      continue;
    }
    if (c === '(') {
      i++;
      if (chars[i] === '?') {
        // `(?i)` sets flags (no group); `(?i:…)`, `(?:…)`, `(?P<name>…)` open one.
        let j = i + 1;
        while (j < chars.length && chars[j] !== ':' && chars[j] !== ')' && chars[j] !== '>') j++;
        if (chars[j] === ')') {
          i = j + 1;
          top().last = 0;
          continue;
        }
        i = j + 1;
      }
      stack.push({ sum: 0, last: 0 });
      continue;
    }
    if (c === ')') {
      i++;
      if (stack.length === 1) continue; // unbalanced: RE2 reports it
      const group = stack.pop() ?? { sum: 0, last: 0 };
      atom(group.sum);
      continue;
    }
    if (c === '|') {
      i++;
      top().last = 0;
      continue;
    }
    if (c === '{') {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(chars.slice(i, i + 48).join(''));
      if (m) {
        const min = Number(m[1]);
        const max = m[3] !== undefined && m[3] !== '' ? Number(m[3]) : undefined;
        const largest = Math.max(min, max ?? 0);
        if (largest > RE2_LIMITS.maxRepeat) return `repetition ${m[0]} exceeds ${RE2_LIMITS.maxRepeat}; use a smaller count or * / +`;
        const frame = top();
        const factor = Math.max(largest, 1);
        frame.sum = cap(frame.sum + frame.last * (factor - 1));
        frame.last = cap(frame.last * factor);
        i += m[0].length;
        continue;
      }
    }
    // `*`, `+` and `?` loop over the program they repeat: they add no size.
    if (c === '*' || c === '+' || c === '?') {
      i++;
      continue;
    }
    i++;
    atom(1);
  }
  let total = 0;
  for (const frame of stack) total = cap(total + frame.sum);
  if (total > RE2_LIMITS.maxCost) {
    return `pattern too complex: it expands to about ${total} units, at most ${RE2_LIMITS.maxCost} (a Unicode class such as \\p{L} counts ${RE2_LIMITS.unicodeClassCost}); use fewer or smaller repetitions`;
  }
  return undefined;
}

/**
 * re2-wasm rewrites a few JavaScript escapes into RE2 ones before compiling (`\uXXXX` → `\x{XXXX}`,
 * `\cX` → `\xNN`). Envoy's RE2 gets the pattern verbatim and rejects them, so reject them here.
 */
function jsOnlyEscape(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length - 1; i++) {
    if (pattern[i] !== '\\') continue;
    const next = pattern[i + 1];
    if (next === 'u' || next === 'c') return `invalid escape sequence: \\${next} (JavaScript-only; use \\x{…})`;
    i++;
  }
  return undefined;
}

/**
 * re2-wasm keeps each compiled pattern in WebAssembly memory (capped at 16 MiB) until its
 * embind wrapper is deleted; the RE2 class has no public way to do that, so a long-running
 * server that checks many distinct patterns would eventually crash. Free what we no longer use.
 */
function dispose(re: Re2Instance): void {
  const wrapper = (re as unknown as { wrapper?: { delete?: () => void } }).wrapper;
  if (typeof wrapper?.delete === 'function') wrapper.delete();
}

const TOO_BIG = 'pattern too complex for RE2 (it exhausts the regex engine memory); use fewer or smaller repetitions';

function oneLine(text: string): string {
  return (text.split('\n', 1)[0] ?? '').trim();
}

function compile(pattern: string, retry = true): { re: Re2Instance } | { error: string } {
  try {
    return { re: new RE2.engine(pattern, 'u') };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const prefix = `Invalid regular expression: /${pattern}/u: `;
    if (err instanceof SyntaxError && message.startsWith(prefix)) return { error: oneLine(message.slice(prefix.length)) };
    // Anything else is the engine failing (an Emscripten abort, a WebAssembly trap): it is dead,
    // maybe because of an earlier pattern. Retry once on a fresh engine before blaming this one.
    RE2.restart();
    return retry ? compile(pattern, false) : { error: TOO_BIG };
  }
}

/** undefined when `pattern` is valid RE2 within RE2_LIMITS; otherwise a short, one-line reason. */
export function checkRe2(pattern: string): string | undefined {
  const escape = jsOnlyEscape(pattern);
  if (escape !== undefined) return escape;
  const complexity = checkRe2Complexity(pattern);
  if (complexity !== undefined) return complexity;
  const compiled = compile(pattern);
  if (!('error' in compiled)) {
    dispose(compiled.re);
    return undefined;
  }
  if (compiled.error.includes('invalid perl operator: (?=') || compiled.error.includes('invalid perl operator: (?!') || compiled.error.includes('invalid perl operator: (?<')) {
    return `${compiled.error} (RE2 has no lookaround)`;
  }
  if (/invalid escape sequence: \\[1-9]/.test(compiled.error)) return `${compiled.error} (RE2 has no backreferences)`;
  return compiled.error;
}

/**
 * Whether `value` matches `pattern` as a whole, as Envoy's `safe_regex` does; false for an invalid
 * pattern. `source`: a `user` pattern must be within RE2_LIMITS (checkRe2); a `generated` one
 * (regex/subject-regex.ts rewrites a user's matcher, bounded at 16 KiB there) is what Envoy
 * receives, which has no such length limit, so an emulation of Envoy passes `generated`.
 */
export function re2FullMatch(pattern: string, value: string, source: 'user' | 'generated' = 'user'): boolean {
  const re = RE2.fullMatcher(`${source}\u0000${pattern}`, () => {
    const usable = source === 'generated' ? jsOnlyEscape(pattern) === undefined : checkRe2(pattern) === undefined;
    const compiled = usable ? compile(`^(?:${pattern})$`) : undefined;
    return compiled && 're' in compiled ? compiled.re : undefined;
  });
  try {
    return re !== undefined && re.test(value);
  } catch {
    // Matching can exhaust the engine too: restart it, and do not admit.
    RE2.restart();
    return false;
  }
}
