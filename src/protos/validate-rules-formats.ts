/**
 * String formats of protoc-gen-validate: RE2 patterns (Envoy's patterns are RE2, not ECMAScript),
 * the well-known header regexes, and the email / hostname / ip / uri / uuid checks.
 */
import net from 'node:net';
import { RE2 } from 're2-wasm';

const compiled = new Map<string, RE2 | Error>();

/** Compile (once) an RE2 pattern; an Error when RE2 rejects it. */
export function re2(pattern: string): RE2 | Error {
  let entry = compiled.get(pattern);
  if (entry === undefined) {
    try {
      entry = new RE2(pattern, 'u');
    } catch (error) {
      entry = error instanceof Error ? error : new Error(String(error));
    }
    compiled.set(pattern, entry);
  }
  return entry;
}

/** PGV's well_known_regex patterns (module/checker.go). `strict: false` uses HEADER_STRING. */
const HTTP_HEADER_NAME = "^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$";
const HTTP_HEADER_VALUE = '^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$';
const HEADER_STRING = '^[^\\x00\\x0A\\x0D]*$';

const KNOWN_REGEX_BY_NUMBER: Readonly<Record<number, string>> = { 0: 'UNKNOWN', 1: 'HTTP_HEADER_NAME', 2: 'HTTP_HEADER_VALUE' };

/** The pattern for a `well_known_regex` value (enum name or number); undefined for UNKNOWN/unrecognised. */
export function wellKnownPattern(value: unknown, strict: boolean): { name: string; pattern: string } | undefined {
  const name = typeof value === 'number' ? KNOWN_REGEX_BY_NUMBER[value] : value;
  if (name === 'HTTP_HEADER_NAME') return { name, pattern: strict ? HTTP_HEADER_NAME : HEADER_STRING };
  if (name === 'HTTP_HEADER_VALUE') return { name, pattern: strict ? HTTP_HEADER_VALUE : HEADER_STRING };
  return undefined;
}

export function isHostname(host: string): boolean {
  if (host.length > 253) return false;
  const lower = host.toLowerCase().replace(/\.$/, '');
  return lower.split('.').every(
    (part) => part.length > 0 && part.length <= 63 && !part.startsWith('-') && !part.endsWith('-') && /^[a-z0-9-]+$/.test(part),
  );
}

/** Roughly Go's net/mail.ParseAddress: optional display name with `<addr>`, then PGV's limits. */
export function isEmail(value: string): boolean {
  const angle = /<([^<>]*)>\s*$/.exec(value);
  const addr = angle ? angle[1] : value.trim();
  if (addr.length > 254) return false;
  const at = addr.lastIndexOf('@');
  if (at <= 0) return false;
  const local = addr.slice(0, at);
  return local.length <= 64 && !/[\s<>()[\]\\,;:@"]/.test(local) && isHostname(addr.slice(at + 1));
}

export const isIp = (value: string): boolean => net.isIP(value) !== 0;
export const isIpv4 = (value: string): boolean => net.isIPv4(value);
export const isIpv6 = (value: string): boolean => net.isIPv6(value);

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/** A URI reference (relative allowed): only URI characters and well-formed percent escapes. */
export function isUriRef(value: string): boolean {
  return URI_CHARS.test(value) && !BAD_PERCENT.test(value);
}

/** An absolute URI: a URI reference with a scheme. */
export function isUri(value: string): boolean {
  return SCHEME.test(value) && isUriRef(value);
}

export function isUuid(value: string): boolean {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value);
}
