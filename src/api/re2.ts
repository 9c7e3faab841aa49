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
  if (!('error' in compiled)) return undefined;
  if (compiled.error.includes('invalid perl operator: (?=') || compiled.error.includes('invalid perl operator: (?!') || compiled.error.includes('invalid perl operator: (?<')) {
    return `${compiled.error} (RE2 has no lookaround)`;
  }
  if (/invalid escape sequence: \\[1-9]/.test(compiled.error)) return `${compiled.error} (RE2 has no backreferences)`;
  return compiled.error;
}

const fullMatchers = new Map<string, RE2 | undefined>();

/** Whether `value` matches `pattern` as a whole, as Envoy's `safe_regex` does; false for an invalid pattern. */
export function re2FullMatch(pattern: string, value: string): boolean {
  let re = fullMatchers.get(pattern);
  if (!fullMatchers.has(pattern)) {
    const compiled = checkRe2(pattern) === undefined ? compile(`^(?:${pattern})$`) : undefined;
    re = compiled && 're' in compiled ? compiled.re : undefined;
    if (fullMatchers.size > 1000) fullMatchers.clear();
    fullMatchers.set(pattern, re);
  }
  return re !== undefined && re.test(value);
}
