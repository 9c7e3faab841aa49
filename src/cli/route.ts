/**
 * `meshcp route create|update|get|export|list|edit|delete` (alias `routes`): the Kalix / Akka
 * route commands (SPEC §3). They edit the route descriptor (SPEC §1 Route) and apply it. The akka
 * CLI's spellings work too: `--hostname`, `--path /p=service`, `-f descriptor.yaml`.
 */
import { Option, type Command } from 'commander';
import YAML from 'yaml';
import { AdminApiError, AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { CliError, parseOutputFormat, resourceTable, formatDocuments, type CliIo } from './output.js';
import { printApplied, printWarnings } from './resources.js';
import { buildRouteDescriptor, exportDescriptor, parseDescriptor, readDescriptorText, type Doc, type RouteFlags } from './route-descriptor.js';
import { editRoute } from './route-edit.js';
import { CONFLICT_ATTEMPTS, conflictBackoffMs, sleep } from '../store/retry.js';

export { buildRouteDescriptor, parsePathPrefix, subjectToMatcher, type MatcherDoc, type RouteFlags } from './route-descriptor.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface RouteOptions extends ServerOptions {
  mesh: string;
  host?: string;
  hostname?: string;
  gateway?: string;
  clientCaSecret?: string;
  serverCertificateSecret?: string;
  clientCertificateSubject?: string[];
  removeClientCertificateSubject?: string[];
  pathPrefix?: string[];
  path?: string[];
  removePathPrefix?: string[];
  corsOrigin?: string[];
  corsMethod?: string[];
  filename?: string;
}

interface RouteGetOptions extends ServerOptions {
  mesh: string;
  output: string;
}

function flagsOf(options: RouteOptions): RouteFlags {
  if (options.host !== undefined && options.hostname !== undefined && options.host !== options.hostname) {
    throw new CliError([`--host ${options.host} and --hostname ${options.hostname} disagree: they are the same flag, give one`]);
  }
  const host = options.host ?? options.hostname;
  return {
    ...(host !== undefined ? { host } : {}),
    ...(options.gateway !== undefined ? { gateway: options.gateway } : {}),
    ...(options.clientCaSecret !== undefined ? { clientCaSecret: options.clientCaSecret } : {}),
    ...(options.serverCertificateSecret !== undefined ? { serverCertificateSecret: options.serverCertificateSecret } : {}),
    clientCertificateSubject: options.clientCertificateSubject ?? [],
    removeClientCertificateSubject: options.removeClientCertificateSubject ?? [],
    pathPrefix: [...(options.pathPrefix ?? []), ...(options.path ?? [])],
    removePathPrefix: options.removePathPrefix ?? [],
    corsOrigin: options.corsOrigin ?? [],
    corsMethod: options.corsMethod ?? [],
  };
}

function routeOptions(command: Command, update: boolean): Command {
  command
    .argument('<name>', 'route name')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .option('-f, --filename <file>', 'route descriptor YAML (as the Akka docs print it, or `route export` writes it), or - for stdin; flags given too are merged into it')
    .option('--host <host>', 'hostname the route serves (SNI), e.g. ecommerce.acme.org')
    .option('--hostname <host>', 'same as --host (the akka CLI spelling)')
    .option('--gateway <gateway>', 'Gateway serving the route (optional when the mesh has exactly one)')
    .option('--client-ca-secret <secret>', 'tls-ca secret: clients must present a certificate chaining to it')
    .option('--client-certificate-subject <subject>', 'admit clients whose certificate CN or DNS SAN matches; * is a wildcard, e.g. *.acme.org (repeatable)', collect, [])
    .option('--server-certificate-secret <secret>', 'tls secret presented to clients (default: issued by the mesh CA, not publicly trusted)')
    .option('--path-prefix <prefix=service>', 'send requests under PREFIX to SERVICE, e.g. /=shopping-cart (repeatable)', collect, [])
    .option('--path <prefix=service>', 'same as --path-prefix (the akka CLI spelling; repeatable)', collect, [])
    .option('--cors-origin <origin>', 'let browsers on this origin call the route (CORS), e.g. https://app.acme.org, https://*.acme.org or * (repeatable)', collect, [])
    .option('--cors-method <method>', 'an HTTP method CORS callers may use, e.g. PUT (repeatable; GET, HEAD and POST need none)', collect, []);
  if (update) {
    command
      .option('--remove-client-certificate-subject <subject>', 'remove a subject matcher (repeatable)', collect, [])
      .option('--remove-path-prefix <prefix>', 'remove the rule for PREFIX (repeatable)', collect, []);
  }
  return addServerOptions(command);
}

/** The `name:` of a one-document descriptor, if it has one (parseDescriptor reports everything else). */
function nameInDescriptor(text: string): string | undefined {
  try {
    const value: unknown = YAML.parse(text);
    return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)['name'] === 'string' ? String((value as Record<string, unknown>)['name']) : undefined;
  } catch {
    return undefined;
  }
}

/** The descriptor from `-f`, with `type`, `name` and `mesh` filled in from the command line. */
async function descriptorFromFile(io: CliIo, command: Command, name: string, options: RouteOptions): Promise<{ doc: Doc; mesh: string; label: string } | undefined> {
  if (options.filename === undefined) return undefined;
  const { label, text } = await readDescriptorText(options.filename, io);
  const parsed = parseDescriptor(text, label, name, { value: options.mesh, explicit: command.getOptionValueSource('mesh') === 'cli' });
  return { ...parsed, label };
}

const CREATE_EXAMPLES = `
Examples:
  # the Akka docs' commands
  meshcp route create my-route --hostname ecommerce.acme.org --path /=shopping-cart --client-ca-secret my-root-ca
  meshcp route update my-route --client-certificate-subject '*.acme.org'
  # a route descriptor file, exactly as the Akka docs print it (no type, no name)
  meshcp route create my-route -f route.yaml
  meshcp route export my-route > route.yaml && meshcp route update my-route -f route.yaml
`;

/** Lost compare-and-swap races a `route update` retries before giving up. */

export function registerRoute(program: Command, io: CliIo): void {
  const route = program
    .command('route')
    .alias('routes')
    .description('Manage edge routes with client certificate validation (the route descriptor)')
    .addHelpText('after', CREATE_EXAMPLES);

  routeOptions(route.command('create').description('Create a route from flags (at least --host and --path-prefix) or from a descriptor file (-f)'), false)
    .addHelpText('after', CREATE_EXAMPLES)
    .action(async (name: string, options: RouteOptions, command: Command) => {
      const flags = flagsOf(options);
      const file = await descriptorFromFile(io, command, name, options);
      if (file === undefined) {
        if (flags.host === undefined) throw new CliError(['--host is required, e.g. --host ecommerce.acme.org (or give a route descriptor with -f FILE)']);
        if (flags.pathPrefix.length === 0) throw new CliError(['--path-prefix is required, e.g. --path-prefix /=shopping-cart (or give a route descriptor with -f FILE)']);
      }
      const doc = buildRouteDescriptor(name, file?.mesh ?? options.mesh, file?.doc, flags);
      const result = await new AdminClient(options).apply([{ ...(file ? { name: file.label } : {}), content: JSON.stringify(doc) }], { mode: 'create' });
      printWarnings(io, result.warnings);
      printApplied(io, result.applied);
    });

  routeOptions(route.command('update').description('Change a route: the flags given are merged into it; with -f, the descriptor file replaces it (flags are merged on top)'), true)
    .addHelpText('after', CREATE_EXAMPLES)
    .action(async (name: string, options: RouteOptions, command: Command) => {
      const client = new AdminClient(options);
      const file = await descriptorFromFile(io, command, name, options);
      const mesh = file?.mesh ?? options.mesh;
      // Read-modify-write: with a store that has revisions (etcd), the write applies only over the
      // version read, and a lost race is read again and retried after a short jittered pause
      // (store/retry.ts, kubectl's RetryOnConflict), so concurrent updates through several
      // replicas all land (SPEC §5). Without revisions it is one plain update.
      const started = Date.now();
      for (let attempt = 1; ; attempt++) {
        const existing = await client.get('Route', name, mesh);
        if (!existing) throw new CliError([`Route/${name} not found in mesh "${mesh}" (create it with \`meshcp route create\`)`]);
        const doc = buildRouteDescriptor(name, mesh, file?.doc ?? existing.resource, flagsOf(options));
        const ifRevision = existing.revision;
        let result: Awaited<ReturnType<AdminClient['apply']>>;
        try {
          result = await client.apply([{ ...(file ? { name: file.label } : {}), content: JSON.stringify(doc) }], { mode: 'update', ...(ifRevision !== undefined ? { ifRevision } : {}) });
        } catch (err) {
          if (!(err instanceof AdminApiError && err.status === 409 && ifRevision !== undefined)) throw err;
          if (attempt >= CONFLICT_ATTEMPTS) {
            throw new CliError([
              `Route/${name} in mesh "${mesh}" kept changing under this update: ${attempt} attempts over ${((Date.now() - started) / 1000).toFixed(1)} s each lost the race to another writer (last: ${err.message}); nothing was written by this command, run it again`,
            ]);
          }
          await sleep(conflictBackoffMs(attempt));
          continue;
        }
        printWarnings(io, result.warnings);
        printApplied(io, result.applied);
        return;
      }
    });

  addServerOptions(
    route
      .command('apply')
      .description('Create or update a route from a descriptor file (akka routes apply): NAME, or the name: in the file')
      .argument('[name]', 'route name (default: the name: field of the file)')
      .option('-f, --filename <file>', 'route descriptor YAML (as `route export` or `route get -o yaml` prints it), or - for stdin')
      // akka routes apply spells it --file.
      .addOption(new Option('--file <file>', 'same as -f').hideHelp())
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .addHelpText('after', '\nExample:\n  meshcp route export my-route > my-route.yaml && meshcp route apply my-route -f my-route.yaml\n'),
  ).action(async (nameArg: string | undefined, options: RouteOptions & { file?: string }, command: Command) => {
    const file = options.filename ?? options.file;
    if (file === undefined) throw new CliError(['-f FILE is required: the route descriptor (e.g. from `meshcp route export NAME`), or - for stdin']);
    const { label, text } = await readDescriptorText(file, io);
    const named = nameArg ?? nameInDescriptor(text);
    if (named === undefined) throw new CliError([`${label}: no route name: give it, \`meshcp route apply NAME -f ${file}\`, or put name: in the file`]);
    const parsed = parseDescriptor(text, label, named, { value: options.mesh, explicit: command.getOptionValueSource('mesh') === 'cli' });
    const doc = buildRouteDescriptor(named, parsed.mesh, parsed.doc, flagsOf({ ...options, filename: undefined }));
    const result = await new AdminClient(options).apply([{ name: label, content: JSON.stringify(doc) }]);
    printWarnings(io, result.warnings);
    printApplied(io, result.applied);
  });

  addServerOptions(
    route
      .command('get')
      .description('Print the route as a meshcp resource (re-appliable with `meshcp apply -f`)')
      .argument('<name>', 'route name')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('-o, --output <format>', 'yaml | json', 'yaml'),
  ).action(async (name: string, options: RouteGetOptions) => {
    const format = parseOutputFormat(options.output, ['yaml', 'json']);
    const view = await new AdminClient(options).get('Route', name, options.mesh);
    if (!view) throw new CliError([`Route/${name} not found in mesh "${options.mesh}"`]);
    io.stdout.write(format === 'json' ? `${JSON.stringify(view.resource, null, 2)}\n` : YAML.stringify(view.resource));
  });

  addServerOptions(
    route
      .command('export')
      .description('Print the route descriptor as the Akka docs write it (no type, name or mesh), for `route update NAME -f`')
      .argument('<name>', 'route name')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .option('-o, --output <format>', 'yaml | json', 'yaml')
      .addHelpText('after', '\nExample:\n  meshcp route export my-route > my-route.yaml\n  meshcp route update my-route -f my-route.yaml\n'),
  ).action(async (name: string, options: RouteGetOptions) => {
    const format = parseOutputFormat(options.output, ['yaml', 'json']);
    const view = await new AdminClient(options).get('Route', name, options.mesh);
    if (!view) throw new CliError([`Route/${name} not found in mesh "${options.mesh}"`]);
    const descriptor = exportDescriptor(view.resource);
    io.stdout.write(format === 'json' ? `${JSON.stringify(descriptor, null, 2)}\n` : YAML.stringify(descriptor));
  });

  addServerOptions(
    route
      .command('list')
      .alias('ls')
      .description('List routes (the same table as `meshcp get routes`)')
      .option('-m, --mesh <mesh>', 'only routes of this mesh (default: every mesh)')
      .addOption(new Option('-o, --output <format>', 'table (fits 120 columns) | wide | yaml | json').default('table')),
  ).action(async (options: ServerOptions & { mesh?: string; output: string }) => {
    const wide = options.output.toLowerCase() === 'wide';
    const format = wide ? 'table' : parseOutputFormat(options.output);
    const views = await new AdminClient(options).list('Route', options.mesh);
    if (format === 'table') io.stdout.write(resourceTable('Route', views, new Date(), { wide }));
    else io.stdout.write(formatDocuments(views, format, false));
  });

  addServerOptions(
    route
      .command('edit')
      .description('Open the route descriptor in $EDITOR (else $VISUAL, else vi) and apply the result')
      .argument('<name>', 'route name')
      .option('-m, --mesh <mesh>', 'mesh', 'default')
      .addHelpText('after', '\nExample:\n  EDITOR=nano meshcp route edit my-route\n'),
  ).action((name: string, options: ServerOptions & { mesh: string }) => editRoute(io, new AdminClient(options), name, options.mesh));

  addServerOptions(route.command('delete').description('Delete a route').argument('<name>', 'route name').option('-m, --mesh <mesh>', 'mesh', 'default')).action(
    async (name: string, options: { mesh: string } & ServerOptions) => {
      const result = await new AdminClient(options).delete('Route', name, options.mesh);
      printWarnings(io, result.warnings);
      io.stdout.write(`Route/${name} deleted\n`);
    },
  );
}
