/**
 * `meshcp cert check --cert client.pem [--route NAME] [-m MESH]` (SPEC §3): asks the server
 * whether each Route (or the named one) would admit this client certificate, and why
 * (`POST /api/cert-check`, admin/cert-check.ts). The server decides with the routes and client CA
 * Secrets it is serving, so the answer matches what the gateways enforce.
 *
 * With `--route`, a refusal also exits non-zero (after printing the verdict), so scripts can
 * use it as a test; without it, the command reports and succeeds.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { AdminClient, addServerOptions, type ServerOptions } from './admin-client.js';
import { certCommand } from './cert.js';
import { fileFlagError } from './flag-errors.js';
import { CliError, parseOutputFormat, renderTable, type CliIo } from './output.js';

interface CertCheckOptions extends ServerOptions {
  cert: string;
  route?: string;
  mesh?: string;
  output: string;
}

interface Verdict {
  readonly mesh: string;
  readonly route: string;
  readonly host: string;
  readonly admitted: boolean;
  readonly reason: string;
}

function verdicts(v: unknown): Verdict[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((item: unknown): Verdict[] => {
    if (typeof item !== 'object' || item === null) return [];
    const r = item as Record<string, unknown>;
    const s = (key: string): string => (typeof r[key] === 'string' ? r[key] : '');
    return [{ mesh: s('mesh'), route: s('route'), host: s('host'), admitted: r['admitted'] === true, reason: s('reason') }];
  });
}

export function registerCertCheck(program: Command, io: CliIo): void {
  addServerOptions(
    certCommand(program)
      .command('check')
      .description('Say, for each Route, whether this client certificate would be admitted, and why (CA chain, subject matchers)')
      .requiredOption('--cert <file>', 'the client certificate (PEM; the leaf first, then any intermediates)')
      .option('--route <name>', 'check this route only; exits non-zero when it would refuse the certificate')
      .option('-m, --mesh <mesh>', 'only routes of this mesh (default: every mesh; with --route, "default")')
      .option('-o, --output <format>', 'table | json', 'table'),
  ).action(async (options: CertCheckOptions) => {
    const format = parseOutputFormat(options.output, ['table', 'json']);
    let cert: string;
    try {
      cert = fs.readFileSync(options.cert, 'utf8');
    } catch (err) {
      throw new CliError([fileFlagError('--cert', options.cert, err).message]);
    }
    // A combined cert+key file is common: only the certificates are sent, never the key.
    const certificates = cert.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (certificates.length === 0) throw new CliError([`--cert: "${options.cert}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
    const mesh = options.mesh ?? (options.route !== undefined ? 'default' : undefined);
    const body = await new AdminClient(options).postJson('/api/cert-check', {
      cert: `${certificates.join('\n')}\n`,
      ...(options.route !== undefined ? { route: options.route } : {}),
      ...(mesh !== undefined ? { mesh } : {}),
    });
    const items = verdicts(body['items']);
    if (format === 'json') io.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
    else if (items.length === 0) io.stdout.write('no routes\n');
    else io.stdout.write(renderTable(['ROUTE', 'HOST', 'ADMITTED', 'REASON'], items.map((v) => [v.route, v.host, v.admitted ? 'yes' : 'no', v.reason])));
    const refused = items.find((v) => !v.admitted);
    if (options.route !== undefined && refused) throw new CliError([`route "${refused.route}" would refuse this certificate: ${refused.reason}`]);
  });
}
