/**
 * `meshcp cert issue NAME --ca CA.crt --ca-key CA.key`: a leaf certificate for demos and tests
 * (SPEC §3), as `step certificate create` in the Kalix docs. `cert check` is added to the same
 * `cert` command elsewhere: see {@link certCommand}.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import type { Command } from 'commander';
import { certificateInfo, describeCertificate, isoSeconds, issueCertificate, parseCertificates, parsePrivateKey, type CertificateUsage, type KeyAlgorithm } from '../ca/pki.js';
import { fileFlagError } from './flag-errors.js';
import { addStepCompatibility, credentialFiles, isDisplayName, parseValidFor, stepFiles, writeCredentialFiles, type CredentialFiles } from './ca.js';

export interface IssueCertificateFilesOptions {
  readonly name: string;
  readonly caCertFile: string;
  readonly caKeyFile: string;
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly emails?: readonly string[];
  /** Default: NAME when it is a display name ("My Client"), else the first DNS name, else NAME. */
  readonly commonName?: string;
  readonly usage: Exclude<CertificateUsage, 'workload'>;
  readonly validForSeconds: number;
  readonly out: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly force?: boolean;
  readonly now?: Date;
  /** `step`-style CRT_FILE KEY_FILE arguments: these paths instead of NAME.crt / NAME.key in --out. */
  readonly files?: CredentialFiles;
}

// RFC 1123 labels; a leading `*.` wildcard label is allowed, as in server certificates.
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

// An addr-spec with a host-name domain: what cert-manager's emailAddresses and browsers take.
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkSans(dnsNames: readonly string[], uris: readonly string[], ipAddresses: readonly string[], emails: readonly string[]): void {
  for (const email of emails) {
    if (email.length > 254 || !EMAIL.test(email)) throw new Error(`invalid --email ${JSON.stringify(email)}: expected an address such as alice@acme.org`);
  }
  for (const ip of ipAddresses) {
    if (net.isIP(ip) === 0) throw new Error(`invalid --ip ${JSON.stringify(ip)}: expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1`);
  }
  for (const dns of dnsNames) {
    if (dns.length > 253 || !DNS_NAME.test(dns)) throw new Error(`invalid --dns ${JSON.stringify(dns)}: expected a host name such as client.acme.org`);
  }
  for (const uri of uris) {
    if (!URL.canParse(uri) || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) throw new Error(`invalid --uri ${JSON.stringify(uri)}: expected an absolute URI such as spiffe://default/web`);
  }
}

/**
 * With no SAN flag, the subject name becomes the SAN when it reads as one, as `step certificate
 * create` does: `ecommerce.acme.org` a DNS name (clients match host names against SANs only, RFC
 * 6125), `10.0.0.5` an IP address, `alice@acme.org` an email. A plain word or a display name
 * ("My Client") stays a CN only.
 */
function sansFromName(name: string): { dnsNames: string[]; ipAddresses: string[]; emails: string[] } {
  const none = { dnsNames: [], ipAddresses: [], emails: [] };
  if (net.isIP(name) !== 0) return { ...none, ipAddresses: [name] };
  if (EMAIL.test(name)) return { ...none, emails: [name] };
  const hostLike = name === 'localhost' || (name.includes('.') && !name.startsWith('*.') && !name.endsWith('.'));
  if (hostLike && name.length <= 253 && DNS_NAME.test(name) && !/^[0-9.]+$/.test(name)) return { ...none, dnsNames: [name] };
  return none;
}

async function readFileFor(flag: string, file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw fileFlagError(flag, file, err);
  }
}

/** Reads and checks the CA, issues the certificate, writes the files; returns what to print. */
export async function issueCertificateFiles(options: IssueCertificateFilesOptions): Promise<string> {
  const now = options.now ?? new Date();
  const explicit = { dnsNames: [...options.dnsNames], ipAddresses: [...(options.ipAddresses ?? [])], emails: [...(options.emails ?? [])] };
  checkSans(explicit.dnsNames, options.uris, explicit.ipAddresses, explicit.emails);
  const noSans = explicit.dnsNames.length + explicit.ipAddresses.length + explicit.emails.length + options.uris.length === 0;
  const { dnsNames, ipAddresses, emails } = noSans ? sansFromName(options.commonName ?? options.name) : explicit;
  const files = await credentialFiles(options.out, options.name, options.force ?? false, options.files);
  const caCertPem = await readFileFor('--ca', options.caCertFile);
  const caKeyPem = await readFileFor('--ca-key', options.caKeyFile);
  try {
    parseCertificates(caCertPem);
  } catch (err) {
    throw new Error(`--ca ${options.caCertFile}: ${(err as Error).message}`);
  }
  try {
    parsePrivateKey(caKeyPem);
  } catch (err) {
    throw new Error(`--ca-key ${options.caKeyFile}: ${(err as Error).message}`);
  }
  const ca = certificateInfo(caCertPem);
  if (ca.notAfter.getTime() <= now.getTime()) throw new Error(`--ca ${options.caCertFile}: CA certificate ${describeCertificate(ca)} expired on ${isoSeconds(ca.notAfter)}`);
  const commonName = options.commonName ?? (isDisplayName(options.name) ? options.name : (options.dnsNames[0] ?? options.name));
  const issued = await issueCertificate({
    issuer: { certPem: caCertPem, keyPem: caKeyPem },
    commonName,
    dnsNames,
    uris: options.uris,
    ipAddresses,
    emails,
    usage: options.usage,
    validitySeconds: options.validForSeconds,
    now,
    keyAlgorithm: options.keyAlgorithm,
  });
  await writeCredentialFiles(files, issued.chainPem, issued.keyPem);
  const leaf = certificateInfo(issued.certPem);
  const intermediates = parseCertificates(issued.chainPem).length - 1;
  const clamped = issued.notAfter.getTime() < now.getTime() + options.validForSeconds * 1000 - 1000 ? ' (capped at the CA expiry)' : '';
  const sans = [...leaf.dnsNames.map((d) => `DNS:${d}`), ...ipAddresses.map((ip) => `IP:${ip}`), ...emails.map((e) => `email:${e}`), ...leaf.uris.map((u) => `URI:${u}`)];
  return [
    `Issued ${options.usage === 'both' ? 'server and client' : options.usage} certificate ${leaf.subject}, signed by ${ca.subject}, valid until ${isoSeconds(issued.notAfter)}${clamped}`,
    ...(sans.length > 0 ? [`  subject alt names:   ${sans.join(', ')}${noSans ? ' (from NAME, as step does; --dns, --ip or --email to choose)' : ''}`] : []),
    `  certificate:         ${files.certFile}${intermediates > 0 ? ` (leaf + ${intermediates} intermediate${intermediates === 1 ? '' : 's'})` : ''}`,
    `  private key:         ${files.keyFile} (mode 0600; keep it secret)`,
    `  serial:              ${issued.serialHex}`,
    `  SHA-256 fingerprint: ${leaf.fingerprintSha256}`,
    '',
  ].join('\n');
}

/** The `cert` command, created on first use, so `cert issue` and `cert check` can live in different files. */
export function certCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'cert');
  return existing ?? program.command('cert').description('Issue and check certificates');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface CertIssueFlags {
  ca: string;
  caKey: string;
  dns?: string[];
  uri?: string[];
  ip?: string[];
  email?: string[];
  cn?: string;
  client?: boolean;
  server?: boolean;
  validFor: string;
  out: string;
  keyType: string;
  force?: boolean;
}

function usageOf(flags: CertIssueFlags): IssueCertificateFilesOptions['usage'] {
  if (flags.client === true && flags.server === true) throw new Error('use either --client or --server, not both (without either, the certificate is for both)');
  if (flags.client === true) return 'client';
  if (flags.server === true) return 'server';
  return 'both';
}

function keyAlgorithmOf(value: string): KeyAlgorithm {
  if (value === 'ecdsa-p256' || value === 'rsa-2048') return value;
  throw new Error(`invalid --key-type ${JSON.stringify(value)}: expected ecdsa-p256 or rsa-2048`);
}

export function registerCert(program: Command): void {
  const issue = certCommand(program)
    .command('issue')
    .description('Issue a certificate signed by a CA: writes NAME.crt (leaf, then any intermediates from --ca) and NAME.key (mode 0600)')
    .argument('<name>', 'file name stem, and the common name when neither --cn nor --dns is given; a name with spaces ("My Client", as step takes it) is the common name and writes my-client.crt / my-client.key');
  addStepCompatibility(issue, 'leaf')
    .requiredOption('--ca <file>', "the CA certificate (PEM; may be a chain: the signing CA first)")
    .requiredOption('--ca-key <file>', "the CA's private key (PEM, unencrypted)")
    .option('--dns <name>', 'DNS subject alternative name (repeatable)', collect)
    .option('--uri <uri>', 'URI subject alternative name, e.g. spiffe://default/web (repeatable)', collect)
    .option('--ip <address>', 'IP address subject alternative name, e.g. 127.0.0.1 (repeatable)', collect)
    .option('--email <address>', 'email subject alternative name, e.g. alice@acme.org, as cert-manager\'s emailAddresses (repeatable)', collect)
    .option('--cn <name>', 'subject common name (default: the first --dns, else NAME); without --dns, --ip, --uri or --email, a NAME (or --cn) that reads as a host name, IP or email is also the SAN, as step does')
    .option('--client', 'client certificate only (extendedKeyUsage clientAuth)')
    .option('--server', 'server certificate only (extendedKeyUsage serverAuth); without --client or --server: both')
    .option('--valid-for <duration>', 'lifetime, e.g. 90d or 24h; capped at the CA expiry', '90d')
    .option('--key-type <type>', 'ecdsa-p256 or rsa-2048', 'ecdsa-p256')
    .option('--out <dir>', 'directory for NAME.crt and NAME.key', '.')
    .option('--force', 'replace existing files')
    .addHelpText(
      'after',
      `
Examples:
  # the Kalix docs' client certificate (step certificate create "My Client" my-client.crt my-client.key ...)
  meshcp cert issue "My Client" --ca my-root-ca.crt --ca-key my-root-ca.key --client
  # the same, typed as the Kalix docs type step (meshcp in place of \`step certificate create\`):
  meshcp cert issue "My Client" my-client.crt my-client.key --ca my-root-ca.crt --ca-key my-root-ca.key --insecure --no-password
  # a server certificate for a local gateway
  meshcp cert issue gateway --ca my-root-ca.crt --ca-key my-root-ca.key --server --dns ecommerce.acme.org --ip 127.0.0.1
  # a host name alone is its DNS SAN too, as with step
  meshcp cert issue ecommerce.acme.org --ca my-root-ca.crt --ca-key my-root-ca.key --server
  # a client certificate for a person, as cert-manager's emailAddresses
  meshcp cert issue alice --ca my-root-ca.crt --ca-key my-root-ca.key --client --email alice@acme.org
`,
    )
    .action(async (name: string, certFile: string | undefined, keyFile: string | undefined, flags: CertIssueFlags) => {
      const files = stepFiles(certFile, keyFile, issue);
      const report = await issueCertificateFiles({
        name,
        ...(files !== undefined ? { files } : {}),
        caCertFile: flags.ca,
        caKeyFile: flags.caKey,
        dnsNames: flags.dns ?? [],
        uris: flags.uri ?? [],
        ipAddresses: flags.ip ?? [],
        emails: flags.email ?? [],
        ...(flags.cn !== undefined ? { commonName: flags.cn } : {}),
        usage: usageOf(flags),
        validForSeconds: parseValidFor(flags.validFor),
        out: flags.out,
        keyAlgorithm: keyAlgorithmOf(flags.keyType),
        force: flags.force === true,
      });
      process.stdout.write(report);
    });
}
