/**
 * RE2 syntax checks and full-match semantics. Envoy compiles regexes with RE2 and NACKs a
 * config it cannot compile, so JavaScript-only syntax must be caught when a resource is applied
 * (DESIGN.md "Regexes are RE2 and full-match").
 */
import { RE2 } from 're2-wasm';

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
function dispose(re: RE2): void {
  const wrapper = (re as unknown as { wrapper?: { delete?: () => void } }).wrapper;
  if (typeof wrapper?.delete === 'function') wrapper.delete();
}

function compile(pattern: string): { re: RE2 } | { error: string } {
  try {
    return { re: new RE2(pattern, 'u') };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const prefix = `Invalid regular expression: /${pattern}/u: `;
    return { error: message.startsWith(prefix) ? message.slice(prefix.length) : message };
  }
}

/** undefined when `pattern` is valid RE2; otherwise a short reason. */
export function checkRe2(pattern: string): string | undefined {
  const escape = jsOnlyEscape(pattern);
  if (escape !== undefined) return escape;
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

/** Compiled full-match patterns, least recently used first; evicted ones are freed. */
const fullMatchers = new Map<string, RE2 | undefined>();
const FULL_MATCHER_CACHE = 500;

/** Whether `value` matches `pattern` as a whole, as Envoy's `safe_regex` does; false for an invalid pattern. */
export function re2FullMatch(pattern: string, value: string): boolean {
  let re: RE2 | undefined;
  if (fullMatchers.has(pattern)) {
    re = fullMatchers.get(pattern);
    fullMatchers.delete(pattern);
  } else {
    const compiled = checkRe2(pattern) === undefined ? compile(`^(?:${pattern})$`) : undefined;
    re = compiled && 're' in compiled ? compiled.re : undefined;
    if (fullMatchers.size >= FULL_MATCHER_CACHE) {
      const [oldest, evicted] = fullMatchers.entries().next().value as [string, RE2 | undefined];
      fullMatchers.delete(oldest);
      if (evicted) dispose(evicted);
    }
  }
  fullMatchers.set(pattern, re);
  return re !== undefined && re.test(value);
}
