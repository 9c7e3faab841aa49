/** Quoting user values in errors: short, one line, never key material. */

/** A PEM block, or a long base64 blob (an inline CA key is base64 PEM). */
export function mayBeKeyMaterial(s: string): boolean {
  return s.includes('-----BEGIN') || /^[A-Za-z0-9+/=\s]{64,}$/.test(s);
}

/**
 * A user's value quoted in an error. Errors and logs never quote what may be key material (a
 * key pasted into the wrong field would otherwise be echoed, and for config files, logged), and
 * quote at most `max` characters so that one error stays one short line.
 */
export function quoteValue(s: string, max = 80): string {
  if (mayBeKeyMaterial(s)) return `(a value of ${s.length} characters, not shown)`;
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

/** A part of a resource label (`Kind/name`): as it is when short, printable and not key material; quoted otherwise. */
export function labelPart(s: string, max: number): string {
  if (s.length <= max && !mayBeKeyMaterial(s) && !/[\u0000-\u001f\u007f\u2028\u2029]/.test(s)) return s;
  return quoteValue(s, 40);
}
