/**
 * The route descriptor on the command line: flags merged into it, and the descriptor file of
 * `route create|update NAME -f FILE`, which may be exactly what the Akka docs print (no `type`,
 * no `name`: SPEC §1 Route, seeds 002).
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { canonicalJson } from '../store/document.js';
import { CliError, type CliIo } from './output.js';

export type MatcherDoc = { exact: string } | { hasPrefix: string } | { hasSuffix: string } | { regex: string };

const RE2_SPECIAL = /[\\.+*?()|[\]{}^$]/g;

/** `*.acme.org` → hasSuffix `.acme.org`, `client-*` → hasPrefix `client-`, no `*` → exact; any other use of `*` → an RE2 regex. */
export function subjectToMatcher(subject: string): MatcherDoc {
  if (subject === '') throw new CliError(['--client-certificate-subject: must not be empty']);
  const stars = subject.split('*').length - 1;
  if (stars === 0) return { exact: subject };
  if (stars === 1 && subject.startsWith('*') && subject.length > 1) return { hasSuffix: subject.slice(1) };
  if (stars === 1 && subject.endsWith('*') && subject.length > 1) return { hasPrefix: subject.slice(0, -1) };
  return { regex: subject.split('*').map((part) => part.replace(RE2_SPECIAL, '\\$&')).join('.*') };
}

export function parsePathPrefix(value: string, flag = '--path-prefix'): { prefix: string; service: string } {
  const at = value.lastIndexOf('=');
  const prefix = at >= 0 ? value.slice(0, at) : '';
  const service = at >= 0 ? value.slice(at + 1) : '';
  if (!prefix.startsWith('/') || service === '') throw new CliError([`${flag} expects /PREFIX=SERVICE (e.g. /=shopping-cart), got "${value}"`]);
  return { prefix, service };
}

export interface RouteFlags {
  readonly host?: string;
  readonly gateway?: string;
  readonly clientCaSecret?: string;
  readonly serverCertificateSecret?: string;
  readonly clientCertificateSubject: readonly string[];
  readonly removeClientCertificateSubject: readonly string[];
  readonly pathPrefix: readonly string[];
  readonly removePathPrefix: readonly string[];
  /** akka's --cors-origin / --cors-method: added to corsPolicy. */
  readonly corsOrigin?: readonly string[];
  readonly corsMethod?: readonly string[];
}

export type Doc = Record<string, unknown>;

export function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function docList(v: unknown): Doc[] {
  return Array.isArray(v) ? v.filter(isDoc) : [];
}

const DESCRIPTOR_FIELDS = new Set(['type', 'name', 'mesh', 'gateway', 'host', 'tls', 'validation', 'corsPolicy', 'routes']);

/**
 * The route descriptor with `flags` merged into `existing` (a fresh one when undefined). Fields
 * this command has no flag for are kept as they are, so the server still validates them (and
 * names a misspelt one).
 */
export function buildRouteDescriptor(name: string, mesh: string, existing: Doc | undefined, flags: RouteFlags): Doc {
  const base: Doc = existing ? (JSON.parse(JSON.stringify(existing)) as Doc) : {};
  const tls: Doc = isDoc(base['tls']) ? base['tls'] : {};
  if (flags.clientCaSecret !== undefined) tls['clientValidationCa'] = { name: flags.clientCaSecret };
  if (flags.serverCertificateSecret !== undefined) tls['serverCertificate'] = { name: flags.serverCertificateSecret };

  const validation: Doc = isDoc(base['validation']) ? base['validation'] : {};
  const clientCertificate: Doc = isDoc(validation['clientCertificate']) ? validation['clientCertificate'] : {};
  let matchers = docList(clientCertificate['subjectMatches']);
  const removed = new Set(flags.removeClientCertificateSubject.map((s) => canonicalJson(subjectToMatcher(s))));
  matchers = matchers.filter((m) => !removed.has(canonicalJson(m)));
  for (const subject of flags.clientCertificateSubject) {
    const matcher = subjectToMatcher(subject);
    if (!matchers.some((m) => canonicalJson(m) === canonicalJson(matcher))) matchers.push(matcher);
  }

  let rules = docList(base['routes']).filter((r) => !flags.removePathPrefix.includes(String(r['prefix'])));
  for (const value of flags.pathPrefix) {
    const { prefix, service } = parsePathPrefix(value);
    const rule = { prefix, route: { service } };
    const at = rules.findIndex((r) => r['prefix'] === prefix);
    if (at >= 0) rules[at] = rule;
    else rules = [...rules, rule];
  }

  const cors: Doc = isDoc(base['corsPolicy']) ? base['corsPolicy'] : {};
  const addTo = (key: string, values: readonly string[] | undefined): void => {
    if (!values || values.length === 0) return;
    const current = Array.isArray(cors[key]) ? (cors[key] as unknown[]) : [];
    cors[key] = [...current, ...values.filter((v) => !current.includes(v))];
  };
  addTo('allowedOrigins', flags.corsOrigin);
  addTo('allowedMethods', flags.corsMethod);

  const others = Object.fromEntries(Object.entries(base).filter(([k]) => !DESCRIPTOR_FIELDS.has(k)));
  const gateway = flags.gateway ?? base['gateway'];
  const host = flags.host ?? base['host'];
  return {
    type: 'Route',
    name,
    mesh,
    ...(gateway !== undefined ? { gateway } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(matchers.length > 0 ? { validation: { ...validation, clientCertificate: { ...clientCertificate, subjectMatches: matchers } } } : {}),
    ...(Object.keys(cors).length > 0 ? { corsPolicy: cors } : {}),
    routes: rules,
    ...others,
  };
}

/** What `route export` prints and `route update NAME -f` takes back: the Akka descriptor, without `type`, `name` and `mesh`. */
export function exportDescriptor(resource: Doc): Doc {
  return Object.fromEntries(Object.entries(resource).filter(([k]) => k !== 'type' && k !== 'name' && k !== 'mesh'));
}

async function readStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readDescriptorText(file: string, io: CliIo): Promise<{ label: string; text: string }> {
  if (file === '-') return { label: '<stdin>', text: await readStdin(io) };
  try {
    return { label: file, text: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError([`-f ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))} (give the route descriptor YAML, e.g. from \`meshcp route export NAME\`)`]);
  }
}

/**
 * One route descriptor: the Akka form (`host`, `tls`, `validation`, `routes`) or meshcp's own
 * (with `type: Route` and `name`, as `route get -o yaml` prints it). A `name` or `mesh` in the
 * file must agree with the command line, so a file is never applied to another route by mistake.
 */
export function parseDescriptor(text: string, label: string, name: string, mesh: { value: string; explicit: boolean }): { doc: Doc; mesh: string } {
  const all = YAML.parseAllDocuments(text);
  const syntax = all.flatMap((d) => d.errors)[0];
  if (syntax !== undefined) throw new CliError([`${label}: invalid YAML: ${syntax.message.split('\n', 1)[0] ?? ''}`]);
  const docs = all.filter((d) => d.contents !== null);
  const first = docs[0];
  if (first === undefined) throw new CliError([`${label}: no route descriptor in it (expected host, routes, and optionally tls and validation)`]);
  if (docs.length > 1) throw new CliError([`${label}: holds ${docs.length} YAML documents; a route descriptor is one (use \`meshcp apply -f\` for several resources)`]);
  const value: unknown = first.toJS({ maxAliasCount: 100 });
  if (!isDoc(value)) throw new CliError([`${label}: expected a route descriptor (a map with host and routes), got ${Array.isArray(value) ? 'a list' : typeof value}`]);
  if (value['type'] !== undefined && value['type'] !== 'Route') throw new CliError([`${label}: type: expected Route (or no type, as in the Akka route descriptor), got ${JSON.stringify(value['type'])}`]);
  if (value['name'] !== undefined && value['name'] !== name) {
    throw new CliError([`${label}: name: "${String(value['name'])}" does not match the route "${name}" on the command line (remove name from the file, or use that name)`]);
  }
  let effectiveMesh = mesh.value;
  if (value['mesh'] !== undefined) {
    if (mesh.explicit && value['mesh'] !== mesh.value) throw new CliError([`${label}: mesh: "${String(value['mesh'])}" does not match --mesh ${mesh.value} (remove mesh from the file, or drop --mesh)`]);
    effectiveMesh = String(value['mesh']);
  }
  return { doc: value, mesh: effectiveMesh };
}
