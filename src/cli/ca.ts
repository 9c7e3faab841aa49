/**
 * `meshcp ca create NAME`: a root CA for demos and tests (SPEC §3), as `step certificate create
 * --profile root-ca` does in the Kalix docs. Prints paths and the fingerprint, never the key.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { parseDuration } from '../api/duration.js';
import { writeFileAtomic } from '../store/atomic.js';
import { certificateInfo, createRootCa, isoSeconds } from '../ca/pki.js';

export interface CreateCaOptions {
  readonly name: string;
  readonly out: string;
  readonly rsaBits: number;
  readonly validForSeconds: number;
  readonly commonName?: string;
  readonly force?: boolean;
  readonly now?: Date;
  /** `step`-style CRT_FILE KEY_FILE arguments: these paths instead of NAME.crt / NAME.key in --out. */
  readonly files?: CredentialFiles;
}

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * NAME becomes `NAME.crt` and `NAME.key`. A plain file name is used as is; a name with spaces
 * ("My Root CA", the subject `step certificate create` takes in the Kalix docs) gets the slug
 * those docs give its files: `my-root-ca.crt`, `my-root-ca.key`. A name that would leave `--out`
 * (a path separator, a leading dot) is refused rather than rewritten.
 */
function credentialFileSlug(name: string): string {
  if (FILE_NAME.test(name)) return name;
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (/[/\\]/.test(name) || name.trimStart().startsWith('.') || !FILE_NAME.test(slug)) {
    throw new Error(`invalid name ${JSON.stringify(name)}: it names the files NAME.crt and NAME.key, so no '/', '\\' or leading '.' (use --out DIR for the directory)`);
  }
  return slug;
}

/** True when NAME is a display name ("My Client") rather than a file stem: it is then the subject CN, as in `step certificate create`. */
export function isDisplayName(name: string): boolean {
  return !FILE_NAME.test(name);
}

/** `--valid-for 10y` → seconds (Kuma durations: s, m, h, d, y). */
export function parseValidFor(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined || seconds < 1) throw new Error(`invalid --valid-for ${JSON.stringify(value)}: expected a positive duration such as 90d, 24h or 10y`);
  return seconds;
}

export function parseRsaBits(value: string): number {
  const bits = Number(value);
  if (![2048, 3072, 4096].includes(bits)) throw new Error(`invalid --rsa-bits ${JSON.stringify(value)}: expected 2048, 3072 or 4096`);
  return bits;
}

export interface CredentialFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Where `NAME.crt` and `NAME.key` go; fails before any work when they exist and `force` is off. */
export async function credentialFiles(out: string, name: string, force: boolean, given?: CredentialFiles): Promise<CredentialFiles> {
  const stem = given === undefined ? credentialFileSlug(name) : name;
  const files = given ?? { certFile: path.join(out, `${stem}.crt`), keyFile: path.join(out, `${stem}.key`) };
  if (!force) {
    for (const file of [files.certFile, files.keyFile]) {
      const exists = await fs.access(file).then(
        () => true,
        () => false,
      );
      if (exists) throw new Error(`${file} already exists (use --force to replace it)`);
    }
  }
  return files;
}

/** The key is created with mode 0600 from the start, and both files are written atomically. */
export async function writeCredentialFiles(files: CredentialFiles, certPem: string, keyPem: string): Promise<void> {
  await fs.mkdir(path.dirname(files.certFile), { recursive: true });
  await writeFileAtomic(files.keyFile, keyPem, { mode: 0o600 });
  await writeFileAtomic(files.certFile, certPem, { mode: 0o644 });
}

/** Creates the CA files and returns what to print. */
export async function createCaFiles(options: CreateCaOptions): Promise<string> {
  const files = await credentialFiles(options.out, options.name, options.force ?? false, options.files);
  const ca = await createRootCa({
    commonName: options.commonName ?? options.name,
    rsaBits: options.rsaBits,
    validitySeconds: options.validForSeconds,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  await writeCredentialFiles(files, ca.certPem, ca.keyPem);
  const info = certificateInfo(ca.certPem);
  return [
    `Created root CA ${info.subject} (RSA ${options.rsaBits}), valid until ${isoSeconds(info.notAfter)}`,
    `  certificate:         ${files.certFile}`,
    `  private key:         ${files.keyFile} (mode 0600; keep it secret)`,
    `  SHA-256 fingerprint: ${info.fingerprintSha256}`,
    '',
  ].join('\n');
}

/**
 * `step certificate create SUBJECT CRT_FILE KEY_FILE [--profile P] --insecure --no-password`, as
 * the Kalix docs type it, works with `meshcp` in place of `step certificate create`: the two file
 * arguments, and the flags accepted and hidden (meshcp keys are always unencrypted PEM, mode 0600).
 */
export function stepFiles(certFile: string | undefined, keyFile: string | undefined, command: Command): CredentialFiles | undefined {
  if (certFile === undefined) return undefined;
  if (keyFile === undefined) throw new Error(`give the key file after ${certFile} (NAME CRT_FILE KEY_FILE, as step takes them), or neither to write NAME.crt / NAME.key in --out`);
  if (command.getOptionValueSource('out') === 'cli') throw new Error('give either --out DIR or the CRT_FILE KEY_FILE paths, not both');
  return { certFile, keyFile };
}

export function addStepCompatibility(command: Command, profile: string): Command {
  return command
    .argument('[crt-file]', 'certificate path, as `step certificate create` takes it (instead of --out)')
    .argument('[key-file]', 'key path, with crt-file')
    .addOption(new Option('--insecure', 'accepted for step compatibility').hideHelp())
    .addOption(new Option('--no-password', 'accepted for step compatibility: keys are always unencrypted').hideHelp())
    .addOption(new Option('--profile <profile>', 'accepted for step compatibility').choices([profile]).hideHelp());
}

interface CaCreateFlags {
  out: string;
  rsaBits: string;
  validFor: string;
  cn?: string;
  force?: boolean;
}

const CA_EXAMPLES = `
Examples:
  meshcp ca create "My Root CA" --out ./certs        # ./certs/my-root-ca.crt, ./certs/my-root-ca.key
  meshcp ca create acme-root --rsa-bits 4096 --valid-for 5y
  # the Kalix docs' step command, with meshcp in place of \`step certificate create\`:
  meshcp ca create --profile root-ca "My Root CA" my-root-ca.crt my-root-ca.key --insecure --no-password
`;

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('Certificate authorities for demos and tests');
  const create = ca
    .command('create')
    .description('Create a self-signed root CA: writes NAME.crt and NAME.key (mode 0600)')
    .argument('<name>', 'the CA common name unless --cn is given, and the file name stem; a name with spaces ("My Root CA") writes my-root-ca.crt / my-root-ca.key');
  addStepCompatibility(create, 'root-ca')
    .option('--out <dir>', 'directory for NAME.crt and NAME.key', '.')
    .option('--rsa-bits <bits>', 'RSA key size: 2048, 3072 or 4096', '2048')
    .option('--valid-for <duration>', 'lifetime, e.g. 10y or 365d', '10y')
    .option('--cn <name>', 'subject common name (default: NAME)')
    .option('--force', 'replace existing files')
    .addHelpText('after', CA_EXAMPLES)
    .action(async (name: string, certFile: string | undefined, keyFile: string | undefined, flags: CaCreateFlags) => {
      const files = stepFiles(certFile, keyFile, create);
      const report = await createCaFiles({
        name,
        ...(files !== undefined ? { files } : {}),
        out: flags.out,
        rsaBits: parseRsaBits(flags.rsaBits),
        validForSeconds: parseValidFor(flags.validFor),
        ...(flags.cn !== undefined ? { commonName: flags.cn } : {}),
        force: flags.force === true,
      });
      process.stdout.write(report);
    });
}
