/**
 * `meshcp ca create` / `cert issue` as the Kalix docs use `step certificate create` (seeds 000,
 * 001): names with spaces, and IP SANs (issue #13). openssl is the judge of what was written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { extensionValue, removeTempDirs, tempDir, verify, x509Text } from '../ca/openssl.js';
import { runCli, type CliRun } from './harness.js';

afterAll(removeTempDirs);

/** `meshcp ARGS` in process; `ca` and `cert issue` print their report on process.stdout. */
async function meshcp(args: string[]): Promise<CliRun> {
  let printed = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += chunk.toString();
    return true;
  });
  try {
    const run = await runCli(args);
    return { ...run, stdout: run.stdout + printed };
  } finally {
    spy.mockRestore();
  }
}

describe('names with spaces and IP SANs', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('creates "My Root CA" and issues "My Client" as the Kalix docs do with step, with an IP SAN that openssl reads as one', async () => {
    // given
    const dir = tempDir('akka-certs');
    // when: step certificate create --profile root-ca "My Root CA" my-root-ca.crt my-root-ca.key
    const ca = await meshcp(['ca', 'create', 'My Root CA', '--out', dir]);
    // and: step certificate create "My Client" my-client.crt my-client.key --ca my-root-ca.crt --ca-key my-root-ca.key
    const client = await meshcp([
      'cert', 'issue', 'My Client', '--ca', path.join(dir, 'my-root-ca.crt'), '--ca-key', path.join(dir, 'my-root-ca.key'),
      '--client', '--dns', 'client.acme.org', '--ip', '127.0.0.1', '--ip', '::1', '--out', dir,
    ]);
    // then
    expect(ca).toMatchObject({ code: 0, stderr: '' });
    expect(client).toMatchObject({ code: 0, stderr: '' });
    expect(fs.readdirSync(dir).sort()).toEqual(['my-client.crt', 'my-client.key', 'my-root-ca.crt', 'my-root-ca.key']);
    expect(x509Text(fs.readFileSync(path.join(dir, 'my-root-ca.crt'), 'utf8'))).toContain('Subject: CN = My Root CA');
    const text = x509Text(fs.readFileSync(path.join(dir, 'my-client.crt'), 'utf8'));
    expect(text).toContain('Subject: CN = My Client');
    expect(text).toContain('Issuer: CN = My Root CA');
    expect(extensionValue(text, 'X509v3 Subject Alternative Name')).toBe('DNS:client.acme.org, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(verify(path.join(dir, 'my-client.crt'), { caFile: path.join(dir, 'my-root-ca.crt'), purpose: 'sslclient' }).status).toBe(0);
    expect(client.stdout).toContain('IP:127.0.0.1');
    expect(client.stdout).toContain(path.join(dir, 'my-client.crt'));
  });

  it('takes the Kalix docs\' step commands with meshcp in place of `step certificate create`', async () => {
    // given
    const dir = tempDir('akka-step');
    const file = (name: string): string => path.join(dir, name);
    // when: step certificate create --profile root-ca "My Root CA" my-root-ca.crt my-root-ca.key --insecure --no-password
    const ca = await meshcp(['ca', 'create', '--profile', 'root-ca', 'My Root CA', file('my-root-ca.crt'), file('my-root-ca.key'), '--insecure', '--no-password']);
    // and: step certificate create "My Client" my-client.crt my-client.key --ca my-root-ca.crt --ca-key my-root-ca.key --insecure --no-password
    const client = await meshcp([
      'cert', 'issue', 'My Client', file('my-client.crt'), file('my-client.key'), '--ca', file('my-root-ca.crt'), '--ca-key', file('my-root-ca.key'), '--insecure', '--no-password',
    ]);
    // then
    expect(ca).toMatchObject({ code: 0, stderr: '' });
    expect(client).toMatchObject({ code: 0, stderr: '' });
    expect(x509Text(fs.readFileSync(file('my-client.crt'), 'utf8'))).toContain('Subject: CN = My Client');
    expect(verify(file('my-client.crt'), { caFile: file('my-root-ca.crt'), purpose: 'sslclient' }).status).toBe(0);
  });

  it('wants both step file arguments, and not with --out', async () => {
    // given
    const dir = tempDir('akka-step-bad');
    // when
    const oneFile = await meshcp(['ca', 'create', 'My Root CA', path.join(dir, 'a.crt')]);
    const withOut = await meshcp(['ca', 'create', 'My Root CA', path.join(dir, 'a.crt'), path.join(dir, 'a.key'), '--out', dir]);
    // then
    expect(oneFile).toMatchObject({ code: 1, stderr: `Error: give the key file after ${path.join(dir, 'a.crt')} (NAME CRT_FILE KEY_FILE, as step takes them), or neither to write NAME.crt / NAME.key in --out\n` });
    expect(withOut).toMatchObject({ code: 1, stderr: 'Error: give either --out DIR or the CRT_FILE KEY_FILE paths, not both\n' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('keeps a plain file name as is, with the first --dns as the CN', async () => {
    // given
    const dir = tempDir('akka-plain');
    await meshcp(['ca', 'create', 'ca', '--out', dir]);
    // when
    const run = await meshcp(['cert', 'issue', 'Gateway_1', '--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--server', '--dns', 'gw.acme.org', '--out', dir]);
    // then
    expect(run.code).toBe(0);
    expect(x509Text(fs.readFileSync(path.join(dir, 'Gateway_1.crt'), 'utf8'))).toContain('Subject: CN = gw.acme.org');
  });

  it('refuses an --ip that is not an address, and a name that leaves --out', async () => {
    // given
    const dir = tempDir('akka-bad');
    await meshcp(['ca', 'create', 'ca', '--out', dir]);
    const ca = ['--ca', path.join(dir, 'ca.crt'), '--ca-key', path.join(dir, 'ca.key'), '--out', dir];
    // when
    const badIp = await meshcp(['cert', 'issue', 'x', ...ca, '--ip', '127.0.0.300']);
    const escape = await meshcp(['cert', 'issue', '../My Client', ...ca]);
    // then
    expect(badIp).toMatchObject({ code: 1, stderr: 'Error: invalid --ip "127.0.0.300": expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1\n' });
    expect(escape).toMatchObject({ code: 1, stderr: `Error: invalid name "../My Client": it names the files NAME.crt and NAME.key, so no '/', '\\' or leading '.' (use --out DIR for the directory)\n` });
    expect(fs.readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key']);
  });
});
