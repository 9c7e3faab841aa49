import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadOrCreateSigningKey } from '../../src/auth/token.js';
import { verifyToken } from '../helpers/verify-token.js';
import { createRootCa, certificateInfo, keyMatchesCertificate, parseCertificates } from '../../src/ca/pki.js';
import { createIntermediateCa } from '../helpers/intermediate-ca.js';
import { registerCa } from '../../src/cli/ca.js';
import { certCommand, registerCert } from '../../src/cli/cert.js';
import { registerToken } from '../../src/cli/token.js';
import { extensionValue, openssl, removeTempDirs, tempDir, verify, x509Text } from '../ca/openssl.js';

interface Run {
  readonly stdout: string;
  readonly help: string;
}

function program(): { program: Command; help: () => string } {
  let help = '';
  const root = new Command('meshcp').exitOverride().configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
  registerCa(root);
  registerCert(root);
  registerToken(root);
  return { program: root, help: () => help };
}

/** Runs `meshcp ARGS` through the registered commands, capturing what the command prints. */
async function run(args: string[]): Promise<Run> {
  const { program: root, help } = program();
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    await root.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return { stdout, help: help() };
}

/** The message of the error `meshcp ARGS` fails with, as main's wrapper would print it. */
async function failure(args: string[]): Promise<string> {
  try {
    await run(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`meshcp ${args.join(' ')} did not fail`);
}

afterAll(removeTempDirs);

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('meshcp ca create / cert issue', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('creates a root CA: NAME.crt and NAME.key (0600), prints paths and fingerprint but never the key', async () => {
    // given
    const dir = tempDir('cli-ca');
    // when
    const { stdout } = await run(['ca', 'create', 'acme-root', '--out', dir]);
    // then
    const crt = path.join(dir, 'acme-root.crt');
    const key = path.join(dir, 'acme-root.key');
    expect(mode(key)).toBe(0o600);
    const certPem = fs.readFileSync(crt, 'utf8');
    const keyPem = fs.readFileSync(key, 'utf8');
    expect(keyMatchesCertificate(keyPem, certPem)).toBe(true);
    expect(extensionValue(x509Text(certPem), 'X509v3 Basic Constraints: critical')).toBe('CA:TRUE');
    expect(stdout).toContain(crt);
    expect(stdout).toContain(key);
    expect(stdout).toContain(certificateInfo(certPem).fingerprintSha256);
    expect(stdout).not.toContain('PRIVATE KEY');
    expect(stdout).not.toContain(keyPem.split('\n')[1]);
  });

  it('issues a client certificate that openssl verifies against the CA', async () => {
    // given
    const dir = tempDir('cli-client');
    await run(['ca', 'create', 'ca', '--out', dir, '--valid-for', '1y']);
    // when
    const { stdout } = await run(['cert', 'issue', 'client', '--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--client', '--dns', 'client.acme.org', '--out', dir]);
    // then
    const crt = path.join(dir, 'client.crt');
    const key = path.join(dir, 'client.key');
    const result = verify(crt, { caFile: path.join(dir, 'ca.crt'), purpose: 'sslclient' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`${crt}: OK`);
    const text = x509Text(fs.readFileSync(crt, 'utf8'));
    expect(text).toContain('Subject: CN = client.acme.org');
    expect(extensionValue(text, 'X509v3 Subject Alternative Name')).toBe('DNS:client.acme.org');
    expect(extensionValue(text, 'X509v3 Extended Key Usage')).toBe('TLS Web Client Authentication');
    expect(extensionValue(text, 'X509v3 Basic Constraints: critical')).toBe('CA:FALSE');
    expect(mode(key)).toBe(0o600);
    const pubFromKey = openssl(['pkey', '-in', key, '-pubout']).stdout;
    const pubFromCert = openssl(['x509', '-in', crt, '-noout', '-pubkey']).stdout;
    expect(pubFromKey).toBe(pubFromCert);
    expect(stdout).toContain('Issued client certificate CN=client.acme.org');
    expect(stdout).not.toContain('PRIVATE KEY');
  });

  it('issues a server certificate with URI SANs, and the CN defaults to NAME without --dns', async () => {
    // given
    const dir = tempDir('cli-server');
    await run(['ca', 'create', 'ca', '--out', dir]);
    // when
    await run(['cert', 'issue', 'svc', '--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--server', '--uri', 'spiffe://default/svc', '--valid-for', '1d', '--out', dir]);
    // then
    const info = certificateInfo(fs.readFileSync(path.join(dir, 'svc.crt'), 'utf8'));
    expect(info).toMatchObject({ commonName: 'svc', uris: ['spiffe://default/svc'], extendedKeyUsages: ['serverAuth'] });
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(86_400_000 + 60_000);
    expect(verify(path.join(dir, 'svc.crt'), { caFile: path.join(dir, 'ca.crt'), purpose: 'sslserver' }).status).toBe(0);
  });

  it('writes the leaf followed by the intermediate when the CA file is a chain', async () => {
    // given an intermediate CA file holding the intermediate and the root
    const dir = tempDir('cli-chain');
    const root = await createRootCa({ commonName: 'Root', validitySeconds: 365 * 86_400 });
    const inter = await createIntermediateCa({ issuer: root, commonName: 'Inter', validitySeconds: 100 * 86_400, keyAlgorithm: 'ecdsa-p256' });
    fs.writeFileSync(path.join(dir, 'root.crt'), root.certPem);
    fs.writeFileSync(path.join(dir, 'inter.crt'), inter.chainPem);
    fs.writeFileSync(path.join(dir, 'inter.key'), inter.keyPem, { mode: 0o600 });
    // when
    const { stdout } = await run(['cert', 'issue', 'gw', '--ca', path.join(dir, 'inter.crt'), '--ca-key', path.join(dir, 'inter.key'), '--dns', 'gw.acme.org', '--out', dir]);
    // then
    const crt = path.join(dir, 'gw.crt');
    const chain = parseCertificates(fs.readFileSync(crt, 'utf8'));
    expect(chain.map((c) => certificateInfo(c).commonName)).toEqual(['gw.acme.org', 'Inter']);
    expect(verify(crt, { caFile: path.join(dir, 'root.crt'), untrusted: crt, purpose: 'sslserver' }).stdout).toContain('OK');
    expect(stdout).toContain('(leaf + 1 intermediate)');
  });

  it('fails with a one-line message when the CA file is missing', async () => {
    // given
    const dir = tempDir('cli-missing');
    // when
    const message = await failure(['cert', 'issue', 'x', '--ca', path.join(dir, 'nope.crt'), '--ca-key', path.join(dir, 'nope.key'), '--out', dir]);
    // then
    expect(message).toBe(`--ca ${path.join(dir, 'nope.crt')}: no such file`);
    expect(fs.existsSync(path.join(dir, 'x.key'))).toBe(false);
  });

  it('fails with one-line messages on bad input', async () => {
    // given
    const dir = tempDir('cli-bad');
    await run(['ca', 'create', 'ca', '--out', dir]);
    const ca = ['--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--out', dir];
    fs.writeFileSync(path.join(dir, 'garbage.pem'), 'garbage');
    // when
    const messages = [
      await failure(['cert', 'issue', 'x', ...ca, '--client', '--server']),
      await failure(['cert', 'issue', 'x', ...ca, '--dns', 'not a host']),
      await failure(['cert', 'issue', 'x', ...ca, '--valid-for', 'soon']),
      await failure(['cert', 'issue', 'x', '--ca', path.join(dir, 'garbage.pem'), '--ca-key', path.join(dir, 'ca.key'), '--out', dir]),
      await failure(['cert', 'issue', 'x', '--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.crt'), '--out', dir]),
      await failure(['cert', 'issue', '../x', ...ca]),
      await failure(['ca', 'create', 'ca', '--out', dir]),
      await failure(['ca', 'create', 'other', '--out', dir, '--rsa-bits', '1024']),
    ];
    // then
    expect(messages).toEqual([
      'use either --client or --server, not both (without either, the certificate is for both)',
      'invalid --dns "not a host": expected a host name such as client.acme.org',
      'invalid --valid-for "soon": expected a positive duration such as 90d, 24h or 10y',
      `--ca ${path.join(dir, 'garbage.pem')}: certificate: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)`,
      `--ca-key ${path.join(dir, 'ca.crt')}: private key: no PEM private key found; found CERTIFICATE`,
      'invalid name "../x": it names the files NAME.crt and NAME.key, so no \'/\', \'\\\' or leading \'.\' (use --out DIR for the directory)',
      `${path.join(dir, 'ca.crt')} already exists (use --force to replace it)`,
      'invalid --rsa-bits "1024": expected 2048, 3072 or 4096',
    ]);
    for (const m of messages) expect(m).not.toContain('\n');
  });

  it('refuses to issue from a certificate that is not a CA', async () => {
    // given
    const dir = tempDir('cli-notca');
    await run(['ca', 'create', 'ca', '--out', dir]);
    await run(['cert', 'issue', 'leaf', '--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--out', dir]);
    // when
    const message = await failure(['cert', 'issue', 'x', '--ca', path.join(dir, 'leaf.crt'), '--ca-key', path.join(dir, 'leaf.key'), '--out', dir]);
    // then
    expect(message).toBe('issuer certificate CN=leaf is not a CA (basicConstraints CA:TRUE is missing)');
  });

  it('replaces existing files with --force', async () => {
    // given
    const dir = tempDir('cli-force');
    await run(['ca', 'create', 'ca', '--out', dir]);
    const before = fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8');
    // when
    await run(['ca', 'create', 'ca', '--out', dir, '--force']);
    // then
    expect(fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8')).not.toBe(before);
    expect(mode(path.join(dir, 'ca.key'))).toBe(0o600);
  });

  it.each([
    [['ca', 'create', '--help'], ['--out <dir>', '--rsa-bits <bits>', '--valid-for <duration>']],
    [['cert', 'issue', '--help'], ['--ca <file>', '--ca-key <file>', '--dns <name>', '--uri <uri>', '--client', '--server', '--valid-for <duration>']],
    [['token', 'generate', '--help'], ['--name <name>', '--mesh <mesh>', '--valid-for <duration>', '--data-dir <dir>']],
  ])('prints help for %j', async (args, options) => {
    // given
    const { program: root, help } = program();
    // when
    const error = await root.parseAsync(args, { from: 'user' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    // then
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).code).toBe('commander.helpDisplayed');
    for (const option of options) expect(help()).toContain(option);
  });

  it('keeps one `cert` command for subcommands added later', () => {
    // given
    const { program: root } = program();
    // when
    certCommand(root).command('check');
    // then
    expect(root.commands.filter((c) => c.name() === 'cert')).toHaveLength(1);
    expect(certCommand(root).commands.map((c) => c.name())).toEqual(['issue', 'check']);
  });
});

describe('meshcp token generate', () => {
  it('prints a token that verifies with the data directory key', async () => {
    // given
    const dataDir = path.join(tempDir('cli-token'), 'data');
    const key = await loadOrCreateSigningKey(dataDir); // as `meshcp serve` leaves it (--data-dir never creates a key)
    // when
    const { stdout } = await run(['token', 'generate', '--name', 'web-01', '--mesh', 'm1', '--valid-for', '1h', '--data-dir', dataDir]);
    // then
    const result = verifyToken(stdout.trim(), key);
    expect(result).toMatchObject({ ok: true, claims: { name: 'web-01', mesh: 'm1' } });
    if (result.ok) expect(result.claims.exp - result.claims.iat).toBe(3600);
    expect(mode(path.join(dataDir, 'token-signing.key'))).toBe(0o600);
  });

  it('requires --name', async () => {
    // given / when
    const error = await run(['token', 'generate']).then(
      () => undefined,
      (err: unknown) => err,
    );
    // then
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).exitCode).not.toBe(0);
  });
});
