/**
 * `meshcp route create|update|get|delete` (the Kalix / Akka route commands, SPEC §3). They edit
 * the route descriptor (SPEC §1 Route) and apply it; `route get -o yaml` prints the descriptor,
 * which `meshcp apply -f` takes back.
 */
import type { Command } from 'commander';
import YAML from 'yaml';
import { canonicalJson } from '../store/document.js';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, parseOutputFormat, type CliIo } from './output.js';
import { printApplied, printWarnings } from './resources.js';

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

export function parsePathPrefix(value: string): { prefix: string; service: string } {
  const at = value.lastIndexOf('=');
  const prefix = at >= 0 ? value.slice(0, at) : '';
  const service = at >= 0 ? value.slice(at + 1) : '';
  if (!prefix.startsWith('/') || service === '') throw new CliError([`--path-prefix expects /PREFIX=SERVICE (e.g. /=shopping-cart), got "${value}"`]);
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
}

type Doc = Record<string, unknown>;

function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function docList(v: unknown): Doc[] {
  return Array.isArray(v) ? v.filter(isDoc) : [];
}

/** The route descriptor with `flags` merged into `existing` (a fresh one when undefined). */
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
    routes: rules,
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface RouteOptions extends ServerOptions, Partial<RouteFlags> {
  mesh: string;
}

interface RouteGetOptions extends ServerOptions {
  mesh: string;
  output: string;
}

function flagsOf(options: RouteOptions): RouteFlags {
  return {
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.gateway !== undefined ? { gateway: options.gateway } : {}),
    ...(options.clientCaSecret !== undefined ? { clientCaSecret: options.clientCaSecret } : {}),
    ...(options.serverCertificateSecret !== undefined ? { serverCertificateSecret: options.serverCertificateSecret } : {}),
    clientCertificateSubject: options.clientCertificateSubject ?? [],
    removeClientCertificateSubject: options.removeClientCertificateSubject ?? [],
    pathPrefix: options.pathPrefix ?? [],
    removePathPrefix: options.removePathPrefix ?? [],
  };
}

function routeOptions(command: Command, update: boolean): Command {
  command
    .argument('<name>', 'route name')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('--host <host>', 'hostname the route serves (SNI), e.g. ecommerce.acme.org')
    .option('--gateway <gateway>', 'Gateway serving the route (optional when the mesh has exactly one)')
    .option('--client-ca-secret <secret>', 'tls-ca secret: clients must present a certificate chaining to it')
    .option('--client-certificate-subject <subject>', 'admit clients whose certificate CN or DNS SAN matches; * is a wildcard, e.g. *.acme.org (repeatable)', collect, [])
    .option('--server-certificate-secret <secret>', 'tls secret presented to clients (default: issued by the mesh CA, not publicly trusted)')
    .option('--path-prefix <prefix=service>', 'send requests under PREFIX to SERVICE, e.g. /=shopping-cart (repeatable)', collect, []);
  if (update) {
    command
      .option('--remove-client-certificate-subject <subject>', 'remove a subject matcher (repeatable)', collect, [])
      .option('--remove-path-prefix <prefix>', 'remove the rule for PREFIX (repeatable)', collect, []);
  }
  return addServerOptions(command);
}

export function registerRoute(program: Command, io: CliIo): void {
  const route = program.command('route').description('Manage edge routes with client certificate validation (the route descriptor)');

  routeOptions(route.command('create').description('Create a route'), false).action(async (name: string, options: RouteOptions) => {
    const flags = flagsOf(options);
    if (flags.host === undefined) throw new CliError(['--host is required, e.g. --host ecommerce.acme.org']);
    if (flags.pathPrefix.length === 0) throw new CliError(['--path-prefix is required, e.g. --path-prefix /=shopping-cart']);
    const doc = buildRouteDescriptor(name, options.mesh, undefined, flags);
    const result = await new AdminClient(options).apply([{ content: JSON.stringify(doc) }], { mode: 'create' });
    printWarnings(io, result.warnings);
    printApplied(io, result.applied);
  });

  routeOptions(route.command('update').description('Change a route: the options given are merged into it'), true).action(async (name: string, options: RouteOptions) => {
    const client = new AdminClient(options);
    const existing = await client.get('Route', name, options.mesh);
    if (!existing) throw new CliError([`Route/${name} not found in mesh "${options.mesh}" (create it with \`meshcp route create\`)`]);
    const doc = buildRouteDescriptor(name, options.mesh, existing.resource, flagsOf(options));
    const result = await client.apply([{ content: JSON.stringify(doc) }], { mode: 'update' });
    printWarnings(io, result.warnings);
    printApplied(io, result.applied);
  });

  addServerOptions(
    route
      .command('get')
      .description('Print the route descriptor (re-appliable with `meshcp apply -f`)')
      .argument('<name>', 'route name')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('-o, --output <format>', 'yaml | json', 'yaml'),
  ).action(async (name: string, options: RouteGetOptions) => {
    const format = parseOutputFormat(options.output, ['yaml', 'json']);
    const view = await new AdminClient(options).get('Route', name, options.mesh);
    if (!view) throw new CliError([`Route/${name} not found in mesh "${options.mesh}"`]);
    io.stdout.write(format === 'json' ? `${JSON.stringify(view.resource, null, 2)}\n` : YAML.stringify(view.resource));
  });

  addServerOptions(route.command('delete').description('Delete a route').argument('<name>', 'route name').option('-m, --mesh <mesh>', 'mesh', 'default')).action(
    async (name: string, options: { mesh: string } & ServerOptions) => {
      const result = await new AdminClient(options).delete('Route', name, options.mesh);
      printWarnings(io, result.warnings);
      io.stdout.write(`Route/${name} deleted\n`);
    },
  );
}
