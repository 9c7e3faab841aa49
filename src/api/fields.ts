/**
 * Path-addressed readers for untyped YAML values (Kuma `validators.RootedAt().Field()`).
 * Each reader records errors on an `Issues` and returns undefined for a bad value, so one pass
 * collects every error of a document.
 */
import { isIP } from 'node:net';
import type { FieldError } from './errors.js';
import { mayBeKeyMaterial, quoteValue } from './quote.js';
import { unknownFieldMessage } from './suggest.js';

export { quoteValue } from './quote.js';

export interface DocumentContext {
  readonly file?: string;
  readonly document?: number;
  /** Directory that relative file references (`certFile`, `file:`) are resolved against; default cwd. */
  readonly baseDir?: string;
  /**
   * false for documents from the admin API: a `file:` / `certFile` / `keyFile` there would make the
   * server read its own files for a remote client. They are refused
   * with FILE_REFERENCE_REFUSED, without touching the path, so the answer is the same whether or
   * not it exists. `--config` files and `validate -f` may use them (relative to the YAML file).
   */
  readonly allowFiles?: boolean;
  /**
   * true when re-reading what the store kept (store/document.ts). Checks added after a resource
   * was accepted (e.g. a subject regex the gateway cannot carry) apply when resources
   * are applied, not to stored ones: a store written by an older meshcp still opens, and the
   * gateway keeps failing closed on such a matcher (and warns).
   */
  readonly stored?: boolean;
}

/** The one answer to a file reference sent through the admin API (never says whether the path exists). */
export const FILE_REFERENCE_REFUSED = 'file references are not accepted through the admin API (the server does not read its files for API clients): inline the PEM, or use a Secret; only --config files may name files';

export type YamlObject = Readonly<Record<string, unknown>>;

/** Joins a parent path and a child: `a` + `b` → `a.b`, `a` + `[0]` → `a[0]`. */
export function joinPath(parent: string, child: string): string {
  if (parent === '') return child;
  if (child === '') return parent;
  return child.startsWith('[') ? `${parent}${child}` : `${parent}.${child}`;
}

/** The path of a field; keys that are not identifiers are quoted: `tags["kuma.io/service"]`. */
export function field(path: string, key: string): string {
  return joinPath(path, /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : `[${quoteValue(key)}]`);
}

export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

export class Issues {
  resource?: string;

  constructor(
    private readonly origin: { readonly file?: string; readonly document?: number },
    private readonly prefix = '',
    readonly errors: FieldError[] = [],
    readonly warnings: FieldError[] = [],
  ) {}

  /** Issues for an element of a list document (a JSON array of resources), sharing the same lists. */
  child(prefix: string): Issues {
    return new Issues(this.origin, joinPath(this.prefix, prefix), this.errors, this.warnings);
  }

  error(path: string, message: string): void {
    this.errors.push(this.at(path, message));
  }

  warn(path: string, message: string): void {
    this.warnings.push(this.at(path, message));
  }

  private at(path: string, message: string): FieldError {
    return {
      ...(this.origin.file !== undefined ? { file: this.origin.file } : {}),
      ...(this.origin.document !== undefined ? { document: this.origin.document } : {}),
      ...(this.resource !== undefined ? { resource: this.resource } : {}),
      path: joinPath(this.prefix, path),
      message,
    };
  }
}

export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return mayBeKeyMaterial(v) ? `a string of ${v.length} characters (not shown)` : `string ${quoteValue(v, 40)}`;
  return `${typeof v} ${String(v)}`;
}

export function isPlainObject(v: unknown): v is YamlObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** YAML `key:` with no value is null; both null and absence mean "not set". */
export function isAbsent(v: unknown): v is null | undefined {
  return v === undefined || v === null;
}

export function missing(issues: Issues, path: string): undefined {
  issues.error(path, 'required field is missing');
  return undefined;
}

/** A mapping whose keys are all in `known`; unknown keys are errors with a suggestion. */
export function readObject(v: unknown, path: string, issues: Issues, known: readonly string[], required = false): YamlObject | undefined {
  if (isAbsent(v)) return required ? missing(issues, path) : undefined;
  if (!isPlainObject(v)) {
    issues.error(path, `expected a mapping, got ${describeType(v)}`);
    return undefined;
  }
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) issues.error(field(path, key), unknownFieldMessage(key, known));
  }
  return v;
}

export interface ListOptions {
  readonly required?: boolean;
  readonly nonEmpty?: boolean;
}

export function readList(v: unknown, path: string, issues: Issues, options: ListOptions = {}): readonly unknown[] | undefined {
  if (isAbsent(v)) {
    if (options.required) return missing(issues, path);
    return undefined;
  }
  if (!Array.isArray(v)) {
    issues.error(path, `expected a list, got ${describeType(v)}`);
    return undefined;
  }
  if (options.nonEmpty && v.length === 0) issues.error(path, 'must have at least one entry');
  return v;
}

export function readString(v: unknown, path: string, issues: Issues, required = false): string | undefined {
  if (isAbsent(v)) return required ? missing(issues, path) : undefined;
  if (typeof v !== 'string') {
    issues.error(path, `expected a string, got ${describeType(v)}`);
    return undefined;
  }
  if (v === '') {
    issues.error(path, 'must not be empty');
    return undefined;
  }
  return v;
}

export function readEnum<T extends string>(v: unknown, path: string, issues: Issues, allowed: readonly T[], required = false): T | undefined {
  if (isAbsent(v)) return required ? missing(issues, path) : undefined;
  const found = allowed.find((a) => a === v);
  if (found === undefined) issues.error(path, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describeType(v)}`);
  return found;
}

export function readPort(v: unknown, path: string, issues: Issues, required = false): number | undefined {
  if (isAbsent(v)) return required ? missing(issues, path) : undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    issues.error(path, `expected integer port 1-65535, got ${describeType(v)}`);
    return undefined;
  }
  return v;
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_1123_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/** The longest resource or mesh name (a DNS-1123 subdomain, as Kubernetes). */
export const MAX_NAME_LENGTH = 253;

/** A resource name: a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters). */
export function readName(v: unknown, path: string, issues: Issues, required = true): string | undefined {
  const s = readString(v, path, issues, required);
  if (s === undefined) return undefined;
  if (s.length > MAX_NAME_LENGTH) {
    issues.error(path, `name is ${s.length} characters long; at most ${MAX_NAME_LENGTH} are allowed (as for Kubernetes names)`);
    return undefined;
  }
  if (!DNS_1123_SUBDOMAIN.test(s)) {
    issues.error(path, `invalid name ${quoteValue(s)}: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)`);
    return undefined;
  }
  return s;
}

const HOST_LABEL = '[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^${HOST_LABEL}(\\.${HOST_LABEL})*$`);

function isHostname(s: string): boolean {
  return s.length <= 253 && HOSTNAME.test(s) && s.split('.').every((label) => label.length <= 63);
}

/** A hostname, or with `wildcard` a `*.example.org` wildcard as Envoy's server_names and domains take it. */
export function readHostname(v: unknown, path: string, issues: Issues, options: { required?: boolean; wildcard?: boolean } = {}): string | undefined {
  const s = readString(v, path, issues, options.required ?? false);
  if (s === undefined) return undefined;
  const bare = options.wildcard && s.startsWith('*.') ? s.slice(2) : s;
  if (!isHostname(bare)) {
    issues.error(path, `invalid hostname ${quoteValue(s)}${options.wildcard ? ' (a wildcard must be a leading "*.", e.g. "*.acme.org")' : ''}`);
    return undefined;
  }
  return s;
}

/** An IPv4 / IPv6 address or a hostname. */
export function readAddress(v: unknown, path: string, issues: Issues, required = false): string | undefined {
  const s = readString(v, path, issues, required);
  if (s === undefined) return undefined;
  if (isIP(s) === 0 && !isHostname(s)) {
    issues.error(path, `invalid address ${quoteValue(s)}: expected an IP address or a hostname`);
    return undefined;
  }
  return s;
}

/**
 * An IP address: where Envoy listens, and what EDS carries (Envoy refuses a hostname there as a
 * "malformed IP address" and NACKs the whole response).
 */
export function readIpAddress(v: unknown, path: string, issues: Issues, required = false, hint = ''): string | undefined {
  const s = readString(v, path, issues, required);
  if (s === undefined) return undefined;
  if (isIP(s) === 0) {
    issues.error(path, `invalid address ${quoteValue(s)}: expected an IP address${isHostname(s) ? `, not a hostname${hint}` : ''}`);
    return undefined;
  }
  return s;
}

/** A `{ key: value }` mapping of strings, e.g. tags or a TrafficPermission match. */
export function readStringMap(v: unknown, path: string, issues: Issues, options: { required?: boolean; nonEmpty?: boolean } = {}): Record<string, string> | undefined {
  if (isAbsent(v)) return options.required ? missing(issues, path) : undefined;
  if (!isPlainObject(v)) {
    issues.error(path, `expected a mapping of strings, got ${describeType(v)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let valid = true;
  for (const [key, value] of Object.entries(v)) {
    if (typeof value !== 'string' || value === '') {
      issues.error(field(path, key), `expected a non-empty string, got ${describeType(value)}${typeof value === 'number' || typeof value === 'boolean' ? ' (quote it)' : ''}`);
      valid = false;
    } else {
      out[key] = value;
    }
  }
  if (options.nonEmpty && Object.keys(v).length === 0) {
    issues.error(path, 'must have at least one entry');
    valid = false;
  }
  return valid ? out : undefined;
}
