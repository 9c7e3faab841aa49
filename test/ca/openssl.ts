/** Runs the `openssl` CLI against PEM files, as an independent judge of what src/ca produces. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface OpensslResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function openssl(args: readonly string[], input?: string): OpensslResult {
  const result = spawnSync('openssl', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const created: string[] = [];

/** A fresh temporary directory, removed by {@link removeTempDirs}. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meshcp-${prefix}-`));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes PEM files into `dir` and returns their paths. */
export function writePems<K extends string>(dir: string, files: Record<K, string>): Record<K, string> {
  const paths = {} as Record<K, string>;
  for (const [name, pem] of Object.entries(files) as [K, string][]) {
    const file = path.join(dir, `${name}.pem`);
    fs.writeFileSync(file, pem);
    paths[name] = file;
  }
  return paths;
}

/** `openssl x509 -text -noout` of the first certificate in the PEM. */
export function x509Text(pem: string): string {
  const result = openssl(['x509', '-text', '-noout'], pem);
  if (result.status !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

export interface VerifyOptions {
  readonly caFile: string;
  readonly untrusted?: string;
  readonly purpose?: 'sslserver' | 'sslclient';
  /** Verification time (`-attime`), for certificates made with an injected clock. */
  readonly at?: Date;
}

export function verify(certFile: string, options: VerifyOptions): OpensslResult {
  const args = ['verify', '-CAfile', options.caFile];
  if (options.untrusted !== undefined) args.push('-untrusted', options.untrusted);
  if (options.purpose !== undefined) args.push('-purpose', options.purpose);
  if (options.at !== undefined) args.push('-attime', String(Math.floor(options.at.getTime() / 1000)));
  args.push(certFile);
  return openssl(args);
}

/** The text after `label` in `openssl x509 -text` output, e.g. the line following `X509v3 Key Usage: critical`. */
export function extensionValue(text: string, label: string): string | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim().startsWith(label));
  return at < 0 ? undefined : lines[at + 1]?.trim();
}
